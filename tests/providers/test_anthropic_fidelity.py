"""SDK fidelity: the official `anthropic` SDK, pointed at the loopback server, must parse every
scripted stream without error and see the same text, thinking, tool calls, usage and stop reason as
rupu; every event the server sends must validate against the SDK's own event models; and every
request rupu sends must validate against the SDK's request TypedDict (the server checks that)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
import pytest

from rupu.messages import AssistantTurn, Message, TextPart, ThinkingPart, ToolCallPart
from rupu.providers.sse import SSEDecoder
from tests.providers.anthropic_support import make_provider, request, run_turn
from tests.servers.anthropic import (
    MODEL,
    AnthropicServer,
    Block,
    Redacted,
    Text,
    Thinking,
    ToolUse,
    Usage,
    response_stream,
    stream_reply,
)
from tests.servers.base import sse

SCENARIOS: dict[str, tuple[Sequence[Block], str, Usage, Sequence[bytes]]] = {
    "text": (
        [Text(["Hello", ", ", "wörld", " 👋"])],
        "end_turn",
        Usage(),
        (),
    ),
    "thinking_then_text": (
        [
            Thinking(["First, ", "consider.\n", "Then answer."], signature="EqQBCgIYAhIM" * 20),
            Text(["42"]),
        ],
        "end_turn",
        Usage(input_tokens=300, output_tokens=90, thinking_tokens=60),
        (),
    ),
    "redacted_thinking_and_tool_use": (
        [
            Redacted("EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpP"),
            Thinking(["Need the file."], signature="sig" * 30),
            Text(["Let me look."]),
            ToolUse("toolu_01Abc", "read_file", {"path": "src/a.py", "lines": [1, 20]}, split=5),
        ],
        "tool_use",
        Usage(input_tokens=1200, output_tokens=75, cache_read=1000, cache_write=150),
        (),
    ),
    "parallel_tool_calls": (
        [
            ToolUse("toolu_1", "grep", {"pattern": "def \\w+", "path": "."}),
            ToolUse("toolu_2", "read_file", {"path": "README.md"}, split=1),
            ToolUse("toolu_3", "now", {}),
        ],
        "tool_use",
        Usage(),
        (),
    ),
    "unknown_event_and_pings": (
        [Text(["still ", "fine"])],
        "max_tokens",
        Usage(),
        (
            sse({"type": "future_event", "detail": {"x": 1}}, "future_event"),
            sse({"type": "ping"}, "ping"),
        ),
    ),
    "refusal": ([Text(["I can't help with that."])], "refusal", Usage(), ()),
    "pause_turn": ([Text(["Searching..."])], "pause_turn", Usage(), ()),
    "context_window": ([Text(["cut"])], "model_context_window_exceeded", Usage(), ()),
}


def sdk_view(message: Any) -> list[tuple[str, Any]]:
    """The SDK's final message as comparable tuples, adjacent text blocks merged as rupu does."""
    view: list[tuple[str, Any]] = []
    for block in message.content:
        if block.type == "text":
            if view and view[-1][0] == "text":
                view[-1] = ("text", view[-1][1] + block.text)
            else:
                view.append(("text", block.text))
        elif block.type == "thinking":
            view.append(("thinking", (block.thinking, block.signature)))
        elif block.type == "redacted_thinking":
            view.append(("redacted", block.data))
        elif block.type == "tool_use":
            view.append(("tool_use", (block.id, block.name, block.input)))
    return view


def rupu_view(turn: AssistantTurn) -> list[tuple[str, Any]]:
    view: list[tuple[str, Any]] = []
    for part in turn.message.parts:
        if isinstance(part, TextPart):
            view.append(("text", part.text))
        elif isinstance(part, ThinkingPart) and part.redacted is not None:
            view.append(("redacted", part.redacted))
        elif isinstance(part, ThinkingPart):
            view.append(("thinking", (part.text, part.signature)))
        elif isinstance(part, ToolCallPart):
            view.append(("tool_use", (part.call_id, part.name, part.arguments)))
    return view


def validate_events_with_sdk_models(chunks: list[bytes]) -> int:
    """Each known event validates against the SDK's `RawMessageStreamEvent` union."""
    from anthropic.types import RawMessageStreamEvent
    from pydantic import TypeAdapter

    adapter: TypeAdapter[Any] = TypeAdapter(RawMessageStreamEvent)
    checked = 0
    for event in SSEDecoder().feed(b"".join(chunks)):
        payload = orjson.loads(event.data)
        assert payload["type"] == event.event
        if payload["type"] in ("ping", "future_event"):
            continue
        adapter.validate_python(payload)
        checked += 1
    return checked


@pytest.mark.anyio
@pytest.mark.parametrize("name", sorted(SCENARIOS))
async def test_sdk_and_rupu_read_the_same_response(name: str) -> None:
    import anthropic

    blocks, stop_reason, usage, extra = SCENARIOS[name]
    chunks = response_stream(blocks, stop_reason=stop_reason, usage=usage, extra_events=extra)
    assert validate_events_with_sdk_models(chunks) >= 4
    with AnthropicServer() as server:
        server.script.extend([stream_reply(chunks), stream_reply(chunks)])
        client = anthropic.AsyncAnthropic(
            base_url=server.base_url, api_key="test-key", max_retries=0
        )
        async with client.messages.stream(
            model=MODEL, max_tokens=1024, messages=[{"role": "user", "content": "hi"}]
        ) as stream:
            final = await stream.get_final_message()
        await client.close()
        provider = make_provider(server.base_url)
        turn, _ = await run_turn(provider, request())
        await provider.aclose()
    assert rupu_view(turn) == sdk_view(final)
    assert turn.raw_reason == final.stop_reason == stop_reason
    assert turn.served_model == final.model
    assert turn.usage.input_tokens == final.usage.input_tokens
    assert turn.usage.output_tokens == final.usage.output_tokens
    assert turn.usage.cache_read_tokens == (final.usage.cache_read_input_tokens or 0)
    assert turn.usage.cache_write_tokens == (final.usage.cache_creation_input_tokens or 0)
    details = final.usage.output_tokens_details
    assert turn.usage.reasoning_tokens == (details.thinking_tokens if details else 0)


@pytest.mark.anyio
async def test_a_replayed_tool_turn_validates_against_the_sdk_request_types() -> None:
    first = response_stream(SCENARIOS["redacted_thinking_and_tool_use"][0], stop_reason="tool_use")
    with AnthropicServer() as server:
        server.script.extend([stream_reply(first), stream_reply(response_stream([Text(["done"])]))])
        provider = make_provider(server.base_url)
        turn, _ = await run_turn(provider, request("read it", effort="medium"))
        from rupu.messages import ToolResultPart

        follow_up = [
            Message.user("read it"),
            turn.message,
            Message("user", [ToolResultPart("toolu_01Abc", "read_file", "print('hi')")]),
        ]
        second, _ = await run_turn(provider, request(messages=follow_up, effort="medium"))
        await provider.aclose()
    replayed = server.requests[1].body["messages"][1]["content"]
    assert [block["type"] for block in replayed] == [
        "redacted_thinking",
        "thinking",
        "text",
        "tool_use",
    ]
    assert replayed[0]["data"] == "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpP"
    assert replayed[1] == {
        "type": "thinking",
        "thinking": "Need the file.",
        "signature": "sig" * 30,
    }
    assert second.message.text() == "done"
