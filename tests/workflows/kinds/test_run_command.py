"""A `run` step's command passes the bash tool's gate, stays in the workspace, gets a scrubbed
environment plus the step's `env`, and its output is redacted of known secrets."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from rupu.config import PermissionMode
from rupu.tools.setup import ToolSetup
from rupu.transcripts import TranscriptWriter, read_events
from rupu.workflows.kinds.run import CommandOutcome, CommandSpec, failure_of
from rupu.workflows.kinds.run_command import CommandRefused, execute
from tests.tools.helpers import ScriptedDecider, loaded

pytestmark = pytest.mark.anyio

SECRET = "sk-proj-" + "q7" * 16


def setup_for(
    root: Path,
    mode: PermissionMode = "bypass",
    *,
    config: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> ToolSetup:
    return ToolSetup(
        loaded=loaded(config),
        env=dict(env or {"PATH": "/usr/bin:/bin"}),
        workspace=root,
        mode=mode,
        decider=ScriptedDecider(interactive=False),
        log_dir=root.parent / "logs",
    )


async def test_stdout_stderr_and_exit_code_are_kept_apart(tmp_path: Path) -> None:
    spec = CommandSpec("echo out; echo err >&2; exit 3")
    outcome = await execute(spec, setup_for(tmp_path), label="step 'x'")
    assert (outcome.exit_code, outcome.stdout, outcome.stderr) == (3, "out\n", "err\n")
    assert failure_of(outcome, allow_failure=False) == "the command exited with code 3: err"
    assert failure_of(outcome, allow_failure=True) is None


async def test_readonly_refuses_and_ask_runs_only_allow_listed_commands(tmp_path: Path) -> None:
    with pytest.raises(CommandRefused, match=r"permission mode readonly \(from default\) denies"):
        await execute(CommandSpec("echo hi"), setup_for(tmp_path, "readonly"), label="s")
    with pytest.raises(CommandRefused, match=r"in permission mode ask .*--mode bypass"):
        await execute(CommandSpec("echo hi"), setup_for(tmp_path, "ask"), label="s")
    allowed = setup_for(tmp_path, "ask", config={"tools": {"bash": {"allow": ["echo"]}}})
    assert (await execute(CommandSpec("echo hi"), allowed, label="s")).stdout == "hi\n"
    with pytest.raises(CommandRefused, match="allow prefix"):  # chaining is never allow-listed
        await execute(CommandSpec("echo hi; rm -rf x"), allowed, label="s")


async def test_cwd_stays_inside_the_workspace(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    outcome = await execute(CommandSpec("pwd", cwd="sub"), setup_for(tmp_path), label="s")
    assert outcome.stdout.strip() == str((tmp_path / "sub").resolve())
    with pytest.raises(CommandRefused, match=r"cwd: .*(outside|leaves)"):
        await execute(CommandSpec("pwd", cwd="../"), setup_for(tmp_path), label="s")
    with pytest.raises(CommandRefused, match="not a directory"):
        await execute(CommandSpec("pwd", cwd="missing"), setup_for(tmp_path), label="s")


async def test_credentials_are_scrubbed_and_output_redacted(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "OPENAI_API_KEY": SECRET, "PLAIN": "visible"}
    spec = CommandSpec(
        'echo "key=${OPENAI_API_KEY:-unset} plain=$PLAIN extra=$EXTRA"; echo ' + SECRET,
        env={"EXTRA": "from-step"},
    )
    transcript = TranscriptWriter(tmp_path.parent / "t.jsonl")
    outcome = await execute(spec, setup_for(tmp_path, env=env), label="s", transcript=transcript)
    transcript.close()
    first, second = outcome.stdout.splitlines()
    assert first == "key=unset plain=visible extra=from-step"
    assert SECRET not in outcome.stdout and second != SECRET
    recorded = (tmp_path.parent / "t.jsonl").read_text()
    assert SECRET not in recorded
    events = [e for e in read_events(tmp_path.parent / "t.jsonl") if e["type"] == "command_run"]
    assert events[0]["data"]["exit_code"] == 0


async def test_shell_is_found_on_path(tmp_path: Path) -> None:
    outcome = await execute(CommandSpec("echo $0", shell="sh"), setup_for(tmp_path), label="s")
    assert outcome.stdout.strip().endswith("sh")
    with pytest.raises(CommandRefused, match="shell 'nosuchshell' was not found"):
        await execute(CommandSpec("true", shell="nosuchshell"), setup_for(tmp_path), label="s")


def test_a_killed_command_fails_even_when_failure_is_allowed() -> None:
    killed = CommandOutcome(exit_code=None, stdout="", stderr="", duration_ms=1, flooded=True)
    assert "kill_after_bytes" in (failure_of(killed, allow_failure=True) or "")
