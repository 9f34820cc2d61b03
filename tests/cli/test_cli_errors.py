"""Acceptance 3: bad input gives exit 2 and one line naming the place and the fix, no traceback."""

from __future__ import annotations

from tests.conftest import Workspace, run_rupu
from tests.servers.openai_chat import ChatCompletionsServer

ORACLE_AGENT = "---\nname: rev\nprovider: oracle\nmodel: m\n---\nReview.\n"


def assert_one_line_error(
    result_stderr: str, code: int, *fragments: str, expected_code: int = 2
) -> None:
    lines = [line for line in result_stderr.splitlines() if line.strip()]
    assert code == expected_code, result_stderr
    assert len(lines) == 1, result_stderr
    assert "Traceback" not in result_stderr
    assert lines[0].startswith("rupu: error: ")
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_misspelled_frontmatter_key(workspace: Workspace) -> None:
    path = workspace.write_agent("rev", "---\nname: rev\nprovider: mock\nmodle: echo\n---\nx\n")
    result = run_rupu("run", "--agent", "rev", "hi")
    assert_one_line_error(
        result.stderr, result.code, f"{path}:4", "unknown key 'modle'", "did you mean 'model'"
    )


def test_unknown_config_key(workspace: Workspace) -> None:
    path = workspace.write_config('default_provdier = "mock"\n')
    workspace.write_agent("rev", ORACLE_AGENT)
    result = run_rupu("run", "--agent", "rev", "hi")
    assert_one_line_error(
        result.stderr,
        result.code,
        f"{path}:1",
        "default_provdier",
        "did you mean 'default_provider'",
    )


def test_reserved_provider_name(workspace: Workspace) -> None:
    path = workspace.write_config(
        '[providers.openai]\nkind = "openai-compatible"\nbase_url = "http://x"\n'
    )
    workspace.write_agent("rev", ORACLE_AGENT)
    result = run_rupu("run", "--agent", "rev", "hi")
    assert_one_line_error(
        result.stderr, result.code, f"{path}:1", "built-in provider name", "rename the table"
    )


def test_missing_provider(workspace: Workspace) -> None:
    workspace.write_agent("rev", ORACLE_AGENT)
    result = run_rupu("run", "--agent", "rev", "hi")
    assert_one_line_error(
        result.stderr, result.code, "unknown provider 'oracle'", "[providers.oracle]"
    )


def test_missing_key_names_the_variable_and_sends_nothing(workspace: Workspace) -> None:
    with ChatCompletionsServer() as server:
        workspace.write_config(f'[providers.oracle]\nbase_url = "{server.base_url}"\n')
        workspace.write_agent("rev", ORACLE_AGENT)
        result = run_rupu("run", "--agent", "rev", "hi")
    assert_one_line_error(
        result.stderr,
        result.code,
        "oracle",
        "RUPU_ORACLE_API_KEY",
        "rupu auth login",
        expected_code=4,
    )
    assert server.requests == []


def test_unknown_agent_suggests(workspace: Workspace) -> None:
    workspace.write_agent("reviewer", "---\nname: reviewer\nprovider: mock\n---\nx\n")
    result = run_rupu("run", "--agent", "reviwer", "hi")
    assert_one_line_error(
        result.stderr, result.code, "no agent named 'reviwer'", "did you mean 'reviewer'"
    )


def test_debug_adds_the_traceback_and_keeps_the_line_and_the_exit_code(
    workspace: Workspace,
) -> None:
    from tests.servers.openai_chat import error_reply

    workspace.write_agent("rev", ORACLE_AGENT)
    workspace.write_agent("typo", "---\nname: typo\nprovider: mock\nmodle: x\n---\nx\n")
    with ChatCompletionsServer(api_key="k") as server:
        workspace.write_config(f'[providers.oracle]\nbase_url = "{server.base_url}"\n')
        server.script.append(error_reply(400, "model 'm' does not exist", "invalid_request_error"))
        cases = {
            2: ("run", "--agent", "typo", "hi"),
            3: ("run", "--agent", "rev", "hi"),
        }
        for code, args in cases.items():
            plain = run_rupu(*args, env={"RUPU_ORACLE_API_KEY": "k"})
            server.script.append(
                error_reply(400, "model 'm' does not exist", "invalid_request_error")
            )
            debug = run_rupu("--debug", *args, env={"RUPU_ORACLE_API_KEY": "k"})
            assert (plain.code, debug.code) == (code, code), debug.stderr
            assert "Traceback" not in plain.stderr and "Traceback" in debug.stderr
            last = plain.stderr.strip().splitlines()[-1]
            assert debug.stderr.strip().splitlines()[-1] == last
    missing_key = run_rupu("--debug", "run", "--agent", "rev", "hi")
    assert missing_key.code == 4, missing_key.stderr
    assert "Traceback" in missing_key.stderr
    assert (
        missing_key.stderr.strip().splitlines()[-1].startswith("rupu: error: oracle: no credential")
    )


def test_provider_error_exit_code_and_transcript(workspace: Workspace) -> None:
    from tests.servers.openai_chat import error_reply

    with ChatCompletionsServer(api_key="k") as server:
        workspace.write_config(f'[providers.oracle]\nbase_url = "{server.base_url}"\n')
        workspace.write_agent("rev", ORACLE_AGENT)
        server.script.append(error_reply(400, "model 'm' does not exist", "invalid_request_error"))
        result = run_rupu("run", "--agent", "rev", "hi", env={"RUPU_ORACLE_API_KEY": "k"})
    assert result.code == 3
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(
        "rupu: error: oracle (HTTP 400, invalid_request_error): model 'm' does not exist"
    )
    assert "req_err_1" in last
    assert "Traceback" not in result.stderr


def test_a_rupu_error_inside_a_task_group_is_reported_as_itself() -> None:
    from asyncio import CancelledError

    from rupu.cli.main import _expected_error
    from rupu.errors import ConfigError

    error = ConfigError("bad")
    wrapped = BaseExceptionGroup("task group", [CancelledError(), ExceptionGroup("inner", [error])])
    assert _expected_error(wrapped) is error
    assert _expected_error(ExceptionGroup("g", [error, ValueError("bug")])) is None
    assert _expected_error(ValueError("bug")) is None
