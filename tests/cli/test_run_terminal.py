"""On a terminal, a status line with the elapsed time shows on stderr while the first token is awaited;
stdout carries only the answer."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import time

from tests.conftest import REPO_ROOT, Workspace


def test_waiting_status_line_goes_to_the_terminal_not_stdout(workspace: Workspace) -> None:
    script = workspace.project / "slow.yaml"
    script.write_text("- text: late answer\n  delay_ms: 600\n")
    workspace.write_config(f'[providers.mock]\nscript = "{script}"\n')
    workspace.write_agent("slow", "---\nname: slow\nprovider: mock\n---\nx\n")
    master, slave = pty.openpty()
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "rupu", "run", "--agent", "slow", "go"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=slave,
        env=env,
    )
    os.close(slave)
    stdout, _ = proc.communicate(timeout=30)
    terminal = b""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        terminal += data
    os.close(master)
    assert proc.returncode == 0
    assert stdout == b"late answer\n"
    text = terminal.decode()
    assert "waiting for mock · echo" in text
    assert "s\x1b[0m" in text  # the elapsed seconds, then the style reset
    assert "late answer" not in text
