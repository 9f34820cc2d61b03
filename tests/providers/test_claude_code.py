"""The claude-code provider against a stand-in `claude` executable (tests/providers/fake_claude.py)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from rupu.config import ProviderConfig
from rupu.errors import ConfigError, LimitReached, ProviderError, RupuError
from rupu.messages import (
    Message,
    ModelRequest,
    ResponseStarted,
    StreamEvent,
    TextDelta,
    TextPart,
    ThinkingPart,
    ToolResultPart,
)
from rupu.providers.base import ProviderSetup, TurnBuilder
from rupu.providers.claude_code import ClaudeCodeProvider, prompt_text
from rupu.providers.claude_code_stream import ClaudeCodeDecoder, result_error, tool_note
from rupu.routing.classify import classify

FAKE = Path(__file__).with_name("fake_claude.py")
CANARY = "sk-ant-canary-in-the-prompt"


@pytest.fixture
def record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "record.json"
    monkeypatch.setenv("FAKE_CLAUDE_RECORD", str(path))
    return path


def recorded(record: Path, suffix: str = "") -> Any:
    """What the stand-in recorded about its last run (or the pid it wrote, with `.child`)."""
    text = Path(str(record) + suffix).read_text()
    return orjson.loads(text) if not suffix else text


def exists(path: Path) -> bool:
    return path.exists()


def provider(**config: Any) -> ClaudeCodeProvider:
    config.setdefault("command", [sys.executable, str(FAKE)])
    return ClaudeCodeProvider(
        ProviderSetup(
            name="claude-code",
            kind="claude-code",
            config=ProviderConfig(**config),
            credentials=None,
        )
    )


async def run(prov: ClaudeCodeProvider, request: ModelRequest) -> tuple[Any, list[StreamEvent]]:
    builder = TurnBuilder(prov.name)
    events: list[StreamEvent] = []
    async for event in prov.stream(request):
        events.append(event)
        builder.add(event)
    return builder.result(), events


def request(
    text: str = f"fix the bug ({CANARY})", model: str = "claude-sonnet-4-6"
) -> ModelRequest:
    return ModelRequest(
        model=model, system=f"You are careful. {CANARY}", messages=[Message.user(text)]
    )


@pytest.mark.anyio
async def test_streams_text_thinking_tool_notes_usage_and_cost(record: Path) -> None:
    prov = provider(max_turns=7, allowed_tools=["Bash(git log:*)", "Read"])
    turn, events = await run(prov, request())
    assert turn.message.text() == "Hello world\n\nDone."
    deltas = [e.text for e in events if isinstance(e, TextDelta)]
    assert deltas[:2] == ["Hello", " world"], "partial messages stream token by token"
    thinking = [p.text for p in turn.message.parts if isinstance(p, ThinkingPart)]
    assert thinking == ["Let me think.", "→ Bash: ls -la\n"]
    assert not turn.message.tool_calls(), "the CLI's own tools are never rupu tool calls"
    assert turn.stop_reason == "end_turn" and turn.request_id == "sess-0001"
    assert turn.served_model == "claude-sonnet-4-6"
    usage = turn.usage
    assert (usage.input_tokens, usage.output_tokens) == (12, 34)
    assert (usage.cache_read_tokens, usage.cache_write_tokens) == (2000, 100)
    assert usage.cost_usd == pytest.approx(0.0123)
    got = recorded(record)
    assert got["options"]["--max-turns"] == "7"
    assert got["options"]["--allowedTools"] == ["Bash(git log:*)", "Read"]
    assert got["options"]["--model"] == "claude-sonnet-4-6"
    assert got["options"]["--include-partial-messages"] is True


@pytest.mark.anyio
async def test_prompt_and_system_prompt_never_appear_in_argv(record: Path) -> None:
    await run(provider(), request())
    got = recorded(record)
    assert not any(CANARY in arg for arg in got["argv"])
    assert CANARY in got["prompt"] and got["system"] == f"You are careful. {CANARY}"
    assert got["system_mode"] == 0o600
    system_file = Path(got["options"]["--append-system-prompt-file"])
    assert not exists(system_file), "the system-prompt file is removed after the run"


@pytest.mark.anyio
async def test_model_aliases(record: Path) -> None:
    prov = provider(model="claude-sonnet-4-6", model_complex="claude-opus-4-6")
    await run(prov, request(model="complex"))
    assert recorded(record)["options"]["--model"] == "claude-opus-4-6"
    await run(prov, request(model="default"))
    assert recorded(record)["options"]["--model"] == "claude-sonnet-4-6"


@pytest.mark.anyio
async def test_history_goes_into_the_prompt(record: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_CLAUDE_SCENARIO", "echo")
    messages = [
        Message.user("first question"),
        Message("assistant", [TextPart("first answer")]),
        Message.user("second question"),
    ]
    turn, _ = await run(provider(), ModelRequest(model="m", system="", messages=messages))
    prompt = recorded(record)["prompt"]
    assert prompt.endswith("second question")
    assert "User: first question" in prompt and "Assistant: first answer" in prompt
    assert turn.message.text() == f"echo: {prompt}"
    assert "--append-system-prompt-file" not in recorded(record)["options"]


@pytest.mark.anyio
async def test_timeout_stops_the_whole_process_group(
    record: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_CLAUDE_SCENARIO", "hang")
    started = time.monotonic()
    with pytest.raises(LimitReached) as info:
        await run(provider(timeout_secs=1.5), request())
    assert time.monotonic() - started < 8
    assert (info.value.limit, info.value.exit_code) == ("timeout_secs", 5)
    assert "timeout_secs (1.5 s)" in info.value.one_line()
    child = int(recorded(record, ".child"))
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child), "the CLI's own child process survived the timeout"


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


@pytest.mark.anyio
async def test_nonzero_exit_reports_stderr(record: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_CLAUDE_SCENARIO", "crash")
    with pytest.raises(ProviderError) as info:
        await run(provider(), request())
    message = info.value.one_line()
    assert "exited with status 3" in message and "fatal: something broke in the CLI" in message
    assert info.value.error_type == "cli_failed"


@pytest.mark.anyio
async def test_rejected_flag_is_reported(record: Path) -> None:
    with pytest.raises(ProviderError, match="unknown option '--bogus'"):
        await run(provider(command=[sys.executable, str(FAKE), "--bogus"]), request())


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("scenario", "error_class", "words"),
    [
        ("max_turns", "unknown", "raise max_turns in [providers.claude-code]"),
        ("usage_limit", "rate_limited", "usage limit is reached"),
        ("auth", "auth_invalid", "log in (`/login`)"),
    ],
)
async def test_failed_results_are_classified(
    record: Path, monkeypatch: pytest.MonkeyPatch, scenario: str, error_class: str, words: str
) -> None:
    monkeypatch.setenv("FAKE_CLAUDE_SCENARIO", scenario)
    with pytest.raises(RupuError) as info:
        await run(provider(), request())
    assert isinstance(info.value, LimitReached if scenario == "max_turns" else ProviderError)
    assert classify(info.value) == error_class
    assert words in info.value.one_line()
    if scenario == "usage_limit":
        assert isinstance(info.value, ProviderError)
        assert info.value.retry_after is not None and 100 < info.value.retry_after <= 120


@pytest.mark.anyio
async def test_missing_cli_says_how_to_install() -> None:
    with pytest.raises(ConfigError) as info:
        await run(provider(command="/nonexistent/claude"), request())
    assert "npm install -g @anthropic-ai/claude-code" in info.value.one_line()


def test_decoder_ignores_noise_and_keeps_unstreamed_text() -> None:
    decoder = ClaudeCodeDecoder("claude-code", "m")
    assert decoder.feed(b"not json\n") == []
    assert decoder.feed(b"\n") == []
    message = {"id": "m1", "content": [{"type": "text", "text": "one"}]}
    events = decoder.feed(orjson.dumps({"type": "assistant", "message": message}))
    assert [e.kind for e in events] == ["response_started", "text_delta"]
    message = {"id": "m2", "content": [{"type": "text", "text": "two"}]}
    texts = [
        e.text
        for e in decoder.feed(orjson.dumps({"type": "assistant", "message": message}))
        if isinstance(e, TextDelta)
    ]
    assert texts == ["\n\n", "two"]


def test_tool_notes_and_result_errors() -> None:
    assert tool_note({"name": "Read", "input": {"file_path": "/a/b.py"}}) == "→ Read: /a/b.py\n"
    assert tool_note({"name": "Think", "input": {}}) == "→ Think\n"
    error = result_error("claude-code", "m", "Claude AI usage limit reached|1000", now=900)
    assert error.status == 429 and error.retry_after == 100
    assert result_error("claude-code", "m", "API Error: overloaded").status == 529


def test_prompt_text_renders_tool_results() -> None:
    assert prompt_text([Message.user("just this")]) == "just this"
    assert prompt_text([]) == ""
    messages = [
        Message.user("look"),
        Message("assistant", [TextPart("reading")]),
        Message("user", [ToolResultPart("c1", "read_file", "contents")]),
    ]
    assert prompt_text(messages).endswith("[result of read_file]\ncontents")


@pytest.mark.parametrize(
    ("source", "label", "noted"),
    [
        ("none", "the claude CLI's own login (Claude subscription)", True),
        ("ANTHROPIC_API_KEY", "the claude CLI's own login (API key from ANTHROPIC_API_KEY)", False),
        ("/login managed key", "the claude CLI's own login (Console API key)", False),
        (None, "the claude CLI's own login", False),
    ],
)
def test_turns_are_labelled_with_the_cli_login(source: str | None, label: str, noted: bool) -> None:
    init: dict[str, Any] = {"type": "system", "subtype": "init", "model": "m", "session_id": "s"}
    if source is not None:
        init["apiKeySource"] = source
    (started,) = ClaudeCodeDecoder("claude-code", "m").feed(orjson.dumps(init))
    assert isinstance(started, ResponseStarted)
    assert started.credential == label
    assert (started.note is not None) == noted
    if started.note is not None:
        assert "subscription" in started.note and "API key" in started.note
