"""A stand-in for the `claude` CLI, speaking its `-p --output-format stream-json --verbose` format.

It checks its arguments like the real CLI would (unknown flags are an error, stream-json needs
--verbose), reads the prompt from stdin, records what it got (argv, prompt, the system-prompt file
and its mode) as JSON in $FAKE_CLAUDE_RECORD, and plays $FAKE_CLAUDE_SCENARIO:
text (default), echo, max_turns, usage_limit, auth, crash, hang.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

FLAGS_WITH_VALUE = {"--output-format", "--model", "--max-turns", "--append-system-prompt-file"}
FLAGS = {"-p", "--verbose", "--include-partial-messages"}
SESSION = "sess-0001"
MODEL = "claude-sonnet-4-6"


def fail(message: str, code: int = 2) -> None:
    sys.stderr.write(f"error: {message}\n")
    sys.exit(code)


def parse(argv: list[str]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in FLAGS:
            options[arg] = True
        elif arg in FLAGS_WITH_VALUE:
            if i + 1 >= len(argv):
                fail(f"option '{arg}' argument missing")
            options[arg] = argv[i + 1]
            i += 1
        elif arg == "--allowedTools":
            options[arg] = argv[i + 1 :]
            break
        else:
            fail(f"unknown option '{arg}'")
        i += 1
    if not options.get("-p"):
        fail("this stand-in only supports print mode (-p)")
    if options.get("--output-format") != "stream-json":
        fail("expected --output-format stream-json")
    if not options.get("--verbose"):
        fail("When using --print, --output-format=stream-json requires --verbose")
    return options


def emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def partial(event: dict[str, Any]) -> None:
    emit(
        {"type": "stream_event", "event": event, "session_id": SESSION, "parent_tool_use_id": None}
    )


def assistant(msg_id: str, content: list[dict[str, Any]]) -> None:
    message = {
        "id": msg_id,
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": content,
    }
    emit(
        {"type": "assistant", "message": message, "session_id": SESSION, "parent_tool_use_id": None}
    )


def result(text: str, *, subtype: str = "success", is_error: bool = False, **extra: Any) -> None:
    usage = {
        "input_tokens": 12,
        "cache_creation_input_tokens": 100,
        "cache_read_input_tokens": 2000,
        "output_tokens": 34,
    }
    emit(
        {
            "type": "result",
            "subtype": subtype,
            "is_error": is_error,
            "duration_ms": 1234,
            "num_turns": 3,
            "result": text,
            "session_id": SESSION,
            "total_cost_usd": 0.0123,
            "usage": usage,
            **extra,
        }
    )


def streamed_text_turn() -> None:
    partial({"type": "message_start", "message": {"id": "msg_1", "model": MODEL, "content": []}})
    partial({"type": "content_block_start", "index": 0, "content_block": {"type": "thinking"}})
    partial(
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "thinking_delta", "thinking": "Let me think."},
        }
    )
    partial({"type": "content_block_stop", "index": 0})
    partial(
        {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}}
    )
    for piece in ("Hello", " world"):
        partial(
            {
                "type": "content_block_delta",
                "index": 1,
                "delta": {"type": "text_delta", "text": piece},
            }
        )
    partial({"type": "content_block_stop", "index": 1})
    partial({"type": "message_stop"})
    assistant(
        "msg_1",
        [
            {"type": "thinking", "thinking": "Let me think."},
            {"type": "text", "text": "Hello world"},
        ],
    )


def main() -> None:
    options = parse(sys.argv[1:])
    prompt = sys.stdin.read()
    record_path = os.environ.get("FAKE_CLAUDE_RECORD")
    system_file = options.get("--append-system-prompt-file")
    if record_path:
        record: dict[str, Any] = {"argv": sys.argv[1:], "prompt": prompt, "options": options}
        if system_file:
            record["system"] = Path(system_file).read_text(encoding="utf-8")
            record["system_mode"] = stat.S_IMODE(Path(system_file).stat().st_mode)
        with open(record_path, "w", encoding="utf-8") as handle:
            json.dump(record, handle)
    scenario = os.environ.get("FAKE_CLAUDE_SCENARIO", "text")
    model = options.get("--model", MODEL)
    if scenario == "crash":
        sys.stderr.write("fatal: something broke in the CLI\n")
        sys.exit(3)
    emit(
        {
            "type": "system",
            "subtype": "init",
            "session_id": SESSION,
            "model": model,
            "tools": ["Bash", "Read"],
            "permissionMode": "default",
            "apiKeySource": "none",
        }
    )
    if scenario == "text":
        streamed_text_turn()
        tool = {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "ls -la"}}
        assistant("msg_2", [tool])
        emit(
            {
                "type": "user",
                "message": {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "a.txt"}
                    ],
                },
                "session_id": SESSION,
            }
        )
        assistant("msg_3", [{"type": "text", "text": "Done."}])
        result("Hello world\n\nDone.")
    elif scenario == "echo":
        assistant("msg_1", [{"type": "text", "text": f"echo: {prompt}"}])
        result(f"echo: {prompt}")
    elif scenario == "max_turns":
        assistant("msg_1", [{"type": "text", "text": "Working on it."}])
        result("", subtype="error_max_turns", is_error=True)
    elif scenario == "usage_limit":
        result(f"Claude AI usage limit reached|{int(time.time()) + 120}", is_error=True)
    elif scenario == "auth":
        result("Invalid API key · Please run /login", is_error=True)
    elif scenario == "overloaded":
        result("API Error: 529 Overloaded", is_error=True)
    elif scenario == "too_long":
        result("Prompt is too long", is_error=True)
    elif scenario == "hang":
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        if record_path:
            with open(record_path + ".child", "w", encoding="utf-8") as handle:
                handle.write(str(child.pid))
        time.sleep(60)
    else:
        fail(f"unknown scenario {scenario}")


if __name__ == "__main__":
    main()
