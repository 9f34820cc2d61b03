"""CliRunner: `rupu` in-process with its own RUPU_HOME, errors mapped to the exit codes and one-line
messages of a real process, and providers from `use_provider` serving the run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rupu.errors import ProviderError
from rupu.messages import ModelRequest
from rupu.testing import (
    CliRunner,
    FunctionProvider,
    ScriptedProvider,
    ToolCall,
    Turn,
    last_user_text,
    use_provider,
)
from tests.conftest import Workspace, run_rupu

AGENT = """---
name: reader
provider: fake
model: fake-1
tools: [read_file]
---
You read files.
"""


@pytest.fixture
def project(workspace: Workspace) -> Path:
    workspace.write_agent("reader", AGENT, project=True)
    (workspace.project / "notes.txt").write_text("the answer is 42\n")
    return workspace.project


def test_an_agent_runs_in_process_on_a_function_provider_with_a_real_tool(project: Path) -> None:
    def answer(request: ModelRequest) -> Turn | str:
        if len(request.messages) == 1:
            return Turn(tool_calls=[ToolCall("read_file", {"path": "notes.txt"})])
        return "notes: " + last_user_text(request).strip()

    fake = FunctionProvider(answer, name="fake")
    with CliRunner(cwd=project) as cli, use_provider(fake):
        result = cli.invoke(["run", "--agent", "reader", "what does it say?"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "notes: 1\tthe answer is 42"
    assert [t.name for t in fake.requests[0].tools] == ["read_file"]
    assert last_user_text(fake.requests[0]) == "what does it say?"


def test_the_home_is_private_and_removed_on_close(project: Path) -> None:
    before = os.environ["RUPU_HOME"]
    cli = CliRunner(cwd=project)
    with use_provider(ScriptedProvider(["hi"], name="fake")):
        assert cli.invoke(["run", "--agent", "reader", "hello"]).exit_code == 0
    transcripts = list((cli.home / "transcripts").glob("*.jsonl"))
    assert len(transcripts) == 1 and cli.home != Path(before)
    assert os.environ["RUPU_HOME"] == before
    cli.close()
    assert not cli.home.exists()


def test_a_given_home_is_kept_and_env_reaches_the_command(project: Path, tmp_path: Path) -> None:
    home = tmp_path / "my-home"
    home.mkdir()
    (home / "config.toml").write_text('default_provider = "fake"\n')
    with CliRunner(home=home, env={"RUPU_TRUST": "1"}, cwd=project) as cli:
        shown = cli.invoke(["agent", "list"])
    assert shown.exit_code == 0 and "reader" in shown.stdout
    assert (home / "config.toml").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["run", "--agent", "nobody", "hi"],
        ["no-such-command"],
        ["run", "--agent", "reader"],
        ["--version"],
    ],
)
def test_exit_codes_and_messages_match_a_real_process(
    project: Path, workspace: Workspace, args: list[str]
) -> None:
    real = run_rupu(*args, cwd=project)
    with CliRunner(home=workspace.home, cwd=project) as cli:
        in_process = cli.invoke(args)
    assert (in_process.exit_code, in_process.stdout, in_process.stderr) == (
        real.code,
        real.stdout,
        real.stderr,
    )


def test_a_provider_error_is_exit_3_with_one_line(project: Path) -> None:
    refused = ProviderError("fake", "over quota", status=429, error_type="insufficient_quota")
    with CliRunner(cwd=project) as cli, use_provider(ScriptedProvider([refused], name="fake")):
        result = cli.invoke(["run", "--agent", "reader", "hi"])
    assert result.exit_code == 3
    assert "rupu: error: fake (HTTP 429, insufficient_quota): over quota" in result.stderr
    assert "Traceback" not in result.stderr and result.exception is None


def test_an_unexpected_exception_is_kept_for_the_test(project: Path) -> None:
    def broken(request: ModelRequest) -> str:
        raise RuntimeError("bug in the test double")

    with CliRunner(cwd=project) as cli, use_provider(FunctionProvider(broken, name="fake")):
        result = cli.invoke(["run", "--agent", "reader", "hi"])
    assert result.exit_code == 1
    # The run's task group wraps it, exactly as a real process would show in its traceback.
    assert result.exception is not None and "bug in the test double" in repr(result.exception)


def test_env_adds_and_unsets_variables_for_one_invocation(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-the-test-process")
    with CliRunner(cwd=project, env={"OPENAI_API_KEY": None}) as cli:
        hidden = cli.invoke(["auth", "status"])
        seen = cli.invoke(["auth", "status"], env={"OPENAI_API_KEY": "sk-given"})
    assert "OPENAI_API_KEY" not in hidden.output
    assert "OPENAI_API_KEY" in seen.output
    assert os.environ["OPENAI_API_KEY"] == "sk-from-the-test-process"
