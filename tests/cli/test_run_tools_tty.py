"""`ask` on a real terminal (a pty): the prompt appears on stderr before each write or command, and
the answers allow, deny, allow for the rest of the run, or stop the run."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time

from tests.cli.tools_fixtures import mock_script, of_type, rupu_env, transcript_events, write_agent
from tests.conftest import Workspace

PROMPT = b"allow? [y]es / [n]o / [a]lways for this run / [s]top the run: "


def run_on_terminal(
    workspace: Workspace, answers: list[bytes], timeout: float = 30
) -> tuple[int, bytes]:
    """Runs `rupu run` with stdin and stderr on a pty and types one answer per prompt."""
    master, slave = pty.openpty()
    with subprocess.Popen(
        [sys.executable, "-m", "rupu", "run", "--agent", "asker", "go"],
        stdin=slave,
        stderr=slave,
        stdout=subprocess.PIPE,
        env=rupu_env(),
        cwd=workspace.project,
    ) as process:
        os.close(slave)
        seen = b""
        pending = list(answers)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                ready, _, _ = select.select([master], [], [], 0.1)
                if ready:
                    try:
                        chunk = os.read(master, 4096)
                    except OSError:
                        break
                    seen += chunk
                    if pending and seen.count(PROMPT) > len(answers) - len(pending):
                        os.write(master, pending.pop(0) + b"\n")
                if process.poll() is not None and not ready:
                    break
            code = process.wait(timeout=5)
        finally:
            process.kill()
            os.close(master)
    return code, seen


def script_three_calls(workspace: Workspace) -> None:
    calls = [
        {"name": "bash", "arguments": {"command": "touch first"}},
        {"name": "write_file", "arguments": {"path": "second.txt", "content": "2"}},
        {"name": "bash", "arguments": {"command": "touch third"}},
        {"name": "write_file", "arguments": {"path": "fourth.txt", "content": "4"}},
    ]
    mock_script(workspace, [{"tool_calls": calls}, {"text": "done"}])
    write_agent(workspace, "asker", {"provider": "mock", "tools": ["bash", "write_file"]})


def test_answers_allow_deny_and_always(workspace: Workspace) -> None:
    script_three_calls(workspace)
    code, seen = run_on_terminal(workspace, [b"y", b"n", b"a"])
    assert code == 0, seen.decode(errors="replace")
    assert seen.count(PROMPT) == 3  # "always" covers the fourth call
    assert b"the agent wants to run: bash touch first" in seen
    assert b"the agent wants to use: write_file second.txt" in seen
    assert (workspace.project / "first").exists()
    assert not (workspace.project / "second.txt").exists()
    assert (workspace.project / "third").exists()
    assert (workspace.project / "fourth.txt").exists()
    asked = of_type(transcript_events(workspace), "permission")
    assert [(p["allowed"], p["asked"]) for p in asked] == [
        (True, True),
        (False, True),
        (True, True),
        (True, False),
    ]


def test_stop_ends_the_run(workspace: Workspace) -> None:
    script_three_calls(workspace)
    code, seen = run_on_terminal(workspace, [b"s"])
    assert code == 130, seen.decode(errors="replace")
    assert b"stopped at a permission prompt" in seen
    assert not (workspace.project / "first").exists()
    assert of_type(transcript_events(workspace), "run_complete")[0]["status"] == "aborted"
