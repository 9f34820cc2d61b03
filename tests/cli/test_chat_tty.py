"""`rupu chat` driven on a pseudo-terminal that is its controlling terminal: typing a message streams
the answer; Ctrl-C (the byte the terminal turns into SIGINT) stops the turn in flight and the chat
goes on; `/model` switches or refuses, `/cost`, `/tools`; multi-line input; `/exit` ends with 0; the
line history is kept for the next chat."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import orjson

from tests.cli.tools_fixtures import mock_script, rupu_env, write_agent
from tests.conftest import Workspace
from tests.servers.openai_chat import ChatCompletionsServer, stream_reply, text_stream

# In its own session, the child makes the pty its controlling terminal, then becomes `rupu`.
TAKE_TERMINAL = (
    "import fcntl, os, sys, termios; fcntl.ioctl(0, termios.TIOCSCTTY, 0); "
    "os.execv(sys.executable, [sys.executable, '-m', 'rupu', *sys.argv[1:]])"
)


class Terminal:
    """`rupu ARGS` with a pty as stdin, stdout, stderr and controlling terminal."""

    def __init__(self, workspace: Workspace, *args: str, env: dict[str, str] | None = None) -> None:
        self.master, slave = pty.openpty()
        self.process = subprocess.Popen(
            [sys.executable, "-c", TAKE_TERMINAL, *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=rupu_env(env),
            cwd=workspace.project,
            start_new_session=True,
        )
        os.close(slave)
        self.seen = b""

    def expect(self, text: bytes, timeout: float = 20) -> None:
        """Reads until `text` has appeared after what the previous `expect` consumed."""
        deadline = time.monotonic() + timeout
        while text not in self.seen:
            assert time.monotonic() < deadline, (
                f"no {text!r} in {self.seen.decode(errors='replace')!r}"
            )
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if ready:
                try:
                    self.seen += os.read(self.master, 4096)
                except OSError:
                    break
        assert text in self.seen, self.seen.decode(errors="replace")
        self.seen = self.seen[self.seen.index(text) + len(text) :]

    def type(self, text: bytes) -> None:
        os.write(self.master, text)

    def close(self) -> int:
        try:
            return self.process.wait(timeout=20)
        finally:
            self.process.kill()
            os.close(self.master)


def test_chat_streams_stops_a_turn_on_ctrl_c_and_goes_on(workspace: Workspace) -> None:
    mock_script(
        workspace,
        [
            {"text": "first answer", "thinking": "hmm"},
            {"text": "never shown", "delay_ms": 30000},
            {"text": "third answer"},
            {"text": "fourth answer"},
        ],
    )
    write_agent(workspace, "pal", {"provider": "mock", "tools": ["read_file"]})
    term = Terminal(workspace, "chat", "--agent", "pal")
    term.expect(b"chat with pal on mock:echo")
    term.expect("› ".encode())
    term.type(b"hello there\r")
    term.expect(b"first answer")
    term.expect(b"session ses_")
    term.type(b"take your time\r")
    term.expect(b"waiting", timeout=20)  # the turn is in flight
    term.type(b"\x03")  # Ctrl-C, as the terminal sends it
    term.expect(b"(stopped: the answer so far is not kept; the chat goes on)")
    term.expect("› ".encode())
    term.type(b"/model other-model\r")
    term.expect(b"now on mock:other-model")
    term.type(b"/provider nowhere\r")
    term.expect(b"unknown provider 'nowhere'")
    term.expect(b"(still on the previous model)")
    term.type(b"/model\r")
    term.expect(b"now on mock:other-model")
    term.type(b"line one \\\rline two\r")
    term.expect(b"third answer")
    term.type(b"/cost\r")
    term.expect(b"turn(s) \xc2\xb7")
    term.type(b"/tools\r")
    term.expect(b"tools: read_file \xc2\xb7 mode ask")
    term.type(b"/exit\r")
    assert term.close() == 0, term.seen.decode(errors="replace")

    (record,) = [orjson.loads(p.read_bytes()) for p in (workspace.home / "sessions").glob("*.json")]
    assert len(record["runs"]) == 3
    transcripts = workspace.home / "transcripts"
    stopped, third = (
        [
            orjson.loads(line)
            for line in (transcripts / f"{run['run_id']}.jsonl").read_bytes().splitlines()
        ]
        for run in record["runs"][1:]
    )
    assert stopped[-1]["type"] == "run_complete" and stopped[-1]["data"]["status"] == "aborted"
    assert next(r["data"] for r in third if r["type"] == "run_start")["model"] == "other-model"
    sent = next(r["data"] for r in third if r["type"] == "message")
    assert sent == {"role": "user", "parts": [{"kind": "text", "text": "line one \nline two"}]}
    history = Path(workspace.home / "chat_history").read_text()
    assert (
        "hello there" in history
        and oct(Path(workspace.home / "chat_history").stat().st_mode)[-3:] == "600"
    )


def test_chat_continue_and_ctrl_d(workspace: Workspace) -> None:
    write_agent(workspace, "pal", {"provider": "mock", "tools": []})
    term = Terminal(workspace, "chat", "--agent", "pal")
    term.expect("› ".encode())
    term.type(b"remember me\r")
    term.expect(b"remember me")
    term.expect("› ".encode())
    term.type(b"\x04")  # Ctrl-D leaves
    assert term.close() == 0
    again = Terminal(workspace, "chat", "--continue")
    again.expect(b"chat with pal on mock:echo \xc2\xb7 session ses_")
    again.expect("› ".encode())
    again.type(b"/save talk.md\r")
    again.expect(b"saved the conversation to talk.md")
    again.type(b"/exit\r")
    assert again.close() == 0
    saved = (workspace.project / "talk.md").read_text()
    assert "[user] remember me" in saved and "[assistant] remember me" in saved


def test_switching_provider_mid_chat_converts_the_history_and_says_so(
    workspace: Workspace,
) -> None:
    script = workspace.home / "script.yaml"
    script.write_text("- {thinking: pondering deeply, text: mock answer}\n")
    with ChatCompletionsServer(api_key="oracle-key") as oracle:
        workspace.write_config(
            f'[providers.mock]\nscript = "{script}"\n'
            f'[providers.oracle]\nkind = "openai-compatible"\nbase_url = "{oracle.base_url}/v1"\n'
            'default_model = "test-model"\nallow_unknown_model = true\n'
        )
        write_agent(workspace, "pal", {"provider": "mock", "tools": []})
        oracle.script.append(stream_reply(text_stream(["oracle ", "answer"])))
        term = Terminal(
            workspace, "chat", "--agent", "pal", env={"RUPU_ORACLE_API_KEY": "oracle-key"}
        )
        term.expect("› ".encode())
        term.type(b"hello\r")
        term.expect(b"pondering deeply")
        term.expect(b"mock answer")
        term.expect("› ".encode())
        term.type(b"/provider oracle\r")
        term.expect(b"now on oracle:test-model")
        term.expect(b"1 thinking block (1 from mock) left out of the history: oracle cannot take")
        term.type(b"and you?\r")
        term.expect(b"oracle answer")
        term.expect(b"oracle \xc2\xb7 test-model")  # the footer names who answered
        term.type(b"/exit\r")
        assert term.close() == 0, term.seen.decode(errors="replace")
    sent = oracle.requests[0].body["messages"]
    assert [(m["role"], m["content"]) for m in sent[1:]] == [
        ("user", "hello"),
        ("assistant", "mock answer"),
        ("user", "and you?"),
    ]
    assert "pondering" not in orjson.dumps(sent).decode()
