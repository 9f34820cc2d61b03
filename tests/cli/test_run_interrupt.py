"""Ctrl-C during a run: exit 130, the transcript is closed as aborted, no traceback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from tests.conftest import REPO_ROOT, Workspace


def test_sigint_exits_130_and_records_aborted(workspace: Workspace) -> None:
    script = workspace.project / "slow.yaml"
    script.write_text("- text: never\n  delay_ms: 20000\n")
    workspace.write_config(f'[providers.mock]\nscript = "{script}"\n')
    workspace.write_agent("slow", "---\nname: slow\nprovider: mock\n---\nx\n")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "rupu", "run", "--agent", "slow", "go"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    transcripts = workspace.home / "transcripts"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not list(transcripts.glob("*.jsonl")):
        time.sleep(0.05)
    time.sleep(0.3)
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=10)
    assert time.monotonic() - started < 2
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    (path,) = transcripts.glob("*.jsonl")
    last = json.loads(path.read_text().splitlines()[-1])
    assert last["type"] == "run_complete" and last["data"]["status"] == "aborted"
