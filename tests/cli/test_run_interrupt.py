"""Ctrl-C during a run: exit 130, the transcript is closed as aborted, no traceback. SIGTERM: the
same, but exit 143 and the records say it was terminated."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import REPO_ROOT, Workspace


def start_slow_run(workspace: Workspace) -> tuple[subprocess.Popen[str], Path]:
    """`rupu run` on a mock turn that takes 20 s, returned once the turn has started."""
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
    while not any(b'"turn_start"' in p.read_bytes() for p in transcripts.glob("*.jsonl")):
        assert time.monotonic() < deadline, "the run never started its turn"
        time.sleep(0.05)
    time.sleep(0.3)  # let the turn reach the provider's stream
    return proc, transcripts


def test_sigint_exits_130_and_records_aborted(workspace: Workspace) -> None:
    proc, transcripts = start_slow_run(workspace)
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=10)
    assert time.monotonic() - started < 2
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    (path,) = transcripts.glob("*.jsonl")
    last = json.loads(path.read_text().splitlines()[-1])
    assert last["type"] == "run_complete" and last["data"]["status"] == "aborted"


def test_sigterm_exits_143_says_terminated_and_records_it(workspace: Workspace) -> None:
    proc, transcripts = start_slow_run(workspace)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=10)
    assert proc.returncode == 143, stderr
    assert "Traceback" not in stderr and "Ctrl-C" not in stderr
    assert stderr.strip().splitlines()[-1].startswith("rupu: terminated (SIGTERM); the transcript")
    (path,) = transcripts.glob("*.jsonl")
    records = [json.loads(line) for line in path.read_text().splitlines()]
    error = next(r for r in records if r["type"] == "error")
    assert error["data"]["kind"] == "Terminated"
    last = records[-1]
    assert last["type"] == "run_complete" and last["data"]["status"] == "aborted"
    assert last["data"]["error"].startswith("terminated (SIGTERM)")
