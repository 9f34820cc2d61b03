"""Ctrl-C (and SIGTERM) while a sub-agent runs: the sub-run is cancelled with its caller, and both
transcripts are closed as aborted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.conftest import REPO_ROOT, Workspace
from tests.servers.base import RecordedRequest, Reply
from tests.servers.openai_chat import (
    ChatCompletionsServer,
    stream_reply,
    text_stream,
    tool_call_stream,
)

KEY = "sk-local-canary-stop"


def _reply(request: RecordedRequest) -> Reply:
    if request.body["messages"][0]["content"] == "You dispatch.":
        call = ("call_1", "dispatch_agent", {"agent": "slow", "prompt": "take your time"})
        return stream_reply(tool_call_stream([call]))
    return stream_reply(text_stream(["never"]), delay=20)


def _records(transcripts: Path) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for path in transcripts.glob("*.jsonl"):
        lines = [orjson.loads(line) for line in path.read_bytes().splitlines()]
        if not lines:  # just created
            continue
        found[lines[0]["data"]["agent"]] = lines
    return found


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_stopping_the_caller_cancels_its_sub_run(
    workspace: Workspace, sig: signal.Signals, code: int
) -> None:
    with ChatCompletionsServer(api_key=KEY) as server:
        server.default_reply = _reply
        workspace.write_config(f'[providers.local]\nbase_url = "{server.base_url}/v1"\n')
        head = "provider: local\nmodel: m1\ntools: []\n"
        workspace.write_agent(
            "boss", f"---\nname: boss\n{head}agents: [slow]\n---\nYou dispatch.\n"
        )
        workspace.write_agent("slow", f"---\nname: slow\n{head}---\nYou are slow.\n")
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "RUPU_LOCAL_API_KEY": KEY}
        proc = subprocess.Popen(
            [sys.executable, "-m", "rupu", "run", "--agent", "boss", "go"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
        )
        transcripts = workspace.home / "transcripts"
        deadline = time.monotonic() + 20
        while "slow" not in _records(transcripts) or b"turn_start" not in b"".join(
            p.read_bytes() for p in transcripts.glob("*.jsonl")
        ):
            assert time.monotonic() < deadline, "the sub-run never started"
            time.sleep(0.05)
        while len(server.requests) < 2:
            assert time.monotonic() < deadline, "the sub-run never called its provider"
            time.sleep(0.05)
        started = time.monotonic()
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=10)
    assert time.monotonic() - started < 3
    assert proc.returncode == code, stderr
    assert "Traceback" not in stderr
    records = _records(transcripts)
    for name in ("boss", "slow"):
        last = records[name][-1]
        assert last["type"] == "run_complete", name
        assert last["data"]["status"] == "aborted", name
    if sig == signal.SIGTERM:
        assert "terminated" in (records["slow"][-1]["data"]["error"] or "")
