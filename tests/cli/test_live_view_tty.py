"""The live view in a real pseudo-terminal, at a wide and a narrow width: tokens count up, the
fan-out shows an estimate of the time left, a failed unit's reason is inline on a wide terminal, a
narrow one keeps every line within its width, and NO_COLOR leaves no colour codes."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import sys
import termios
import time

import pytest

from tests.conftest import REPO_ROOT, Workspace
from tests.servers.base import RecordedRequest, Reply
from tests.servers.openai_chat import (
    ChatCompletionsServer,
    error_reply,
    stream_reply,
    text_stream,
    usage,
)

# A redraw moves the cursor up and erases lines: each move starts a new line of text here.
REDRAW = re.compile(r"\x1b\[\d*[AF]|\x1b\[2K")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")
COLOUR = re.compile(r"\x1b\[(?:[0-9;]*;)?(?:3[0-9]|4[0-9]|9[0-7])(?:;[0-9;]*)?m")
WORKFLOW = """
name: wide
steps:
  - id: fan
    agent: worker
    for_each: [1, 2, 3, 4, 5, 6]
    continue_on_error: true
    prompt: "item {{ item }}"
"""


def _reply(request: RecordedRequest) -> Reply:
    item = int(request.body["messages"][-1]["content"].split()[-1])
    if item == 6:
        return error_reply(400, "item six is not allowed here", "invalid_request_error")
    return stream_reply(
        text_stream(["done ", str(item)], with_usage=usage(100, 20)), delay=0.25 * item
    )


def _run_in_pty(columns: int, env: dict[str, str]) -> tuple[int, str]:
    pid, fd = pty.fork()
    if pid == 0:  # the child: its terminal is `columns` wide before rupu starts
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 30, columns, 0, 0))
        os.execve(
            sys.executable, [sys.executable, "-m", "rupu", "workflow", "run", "wide.yaml"], env
        )
    seen = b""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), seen.decode("utf-8", "replace")


@pytest.mark.parametrize("columns", [140, 60])
def test_live_view_in_a_terminal(workspace: Workspace, columns: int) -> None:
    with ChatCompletionsServer(api_key="sk-acme-canary") as server:
        server.default_reply = _reply
        workspace.write_config(
            f'[providers.acme]\nbase_url = "{server.base_url}/v1"\ndefault_model = "acme-1"\n\n'
            '[pricing.acme."acme-1"]\ninput = 2.0\noutput = 10.0\n'
        )
        workspace.write_agent("worker", "---\nname: worker\nprovider: acme\n---\nWork.\n")
        (workspace.project / "wide.yaml").write_text(WORKFLOW)
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO_ROOT),
            "RUPU_ACME_API_KEY": "sk-acme-canary",
            "NO_COLOR": "1",
            "TERM": "xterm-256color",
        }
        code, raw = _run_in_pty(columns, env)
        server.take_violations()
    assert code == 0, raw[-3000:]  # continue_on_error: the run ends partial, the command exit 0
    assert not COLOUR.search(raw), "NO_COLOR: no colour codes"
    text = ANSI.sub("", REDRAW.sub("\n", raw))
    lines = [line for line in text.split("\n") if line.strip()]
    headers = [line for line in lines if "STEP" in line and "STATE" in line]
    assert headers, text[-2000:]
    assert re.search(r"\d/6 ~\d+s left", text), "an estimate while the fan-out runs"
    assert "run partial" in text
    assert "$0.0" in text  # cost per step and in total
    if columns >= 80:
        assert "ELAPSED" in headers[-1] and "WHERE / DETAIL" in headers[-1]
        assert "item six is not allowed here" in text
        assert "acme · acme-1" in text
    else:
        assert "ELAPSED" not in headers[-1] and "WHERE" not in headers[-1]
        table = [line for line in lines if not line.startswith(("rupu", "──"))]
        assert all(len(line) <= columns for line in table), max(table, key=len)
