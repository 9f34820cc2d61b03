"""The sans-IO Messages stream decoder, fed the same bytes the loopback server sends."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rupu.errors import ProviderError
from rupu.messages import (
    AssistantTurn,
    ResponseFinished,
    StopReason,
    StreamEvent,
    TextPart,
    ThinkingPart,
    ToolCallPart,
)
from rupu.providers.anthropic_decode import MessagesStreamDecoder
from rupu.providers.base import TurnBuilder
from rupu.providers.sse import SSEDecoder
from tests.servers.anthropic import (
    Block,
    Redacted,
    Text,
    Thinking,
    ToolUse,
    Usage,
    error_event,
    response_stream,
)
from tests.servers.base import sse


def decode(chunks: list[bytes]) -> tuple[MessagesStreamDecoder, list[StreamEvent]]:
    decoder = MessagesStreamDecoder("anthropic", model="claude-test-1", request_id="req_1")
    sse_decoder = SSEDecoder()
    events: list[StreamEvent] = []
    for chunk in chunks:
        for event in sse_decoder.feed(chunk):
            events += decoder.feed(orjson.loads(event.data))
    return decoder, events


def fold(events: list[StreamEvent]) -> AssistantTurn:
    builder = TurnBuilder("anthropic")
    for event in events:
        builder.add(event)
    return builder.result()


MIXED: list[Block] = [
    Thinking(["Let me ", "think."], signature="c2lnbmF0dXJl" * 8, signature_parts=3),
    Redacted("opaque-redacted-data=="),
    Text(["The answer ", "is 4."]),
    ToolUse("toolu_01A", "calc", {"expr": "2+2", "precise": True, "nested": {"a": [1, "ü"]}}),
]


def test_blocks_fold_into_one_turn_with_signatures_joined_and_tool_input_parsed() -> None:
    usage = Usage(
        input_tokens=100, output_tokens=40, cache_read=30, cache_write=7, thinking_tokens=12
    )
    decoder, events = decode(response_stream(MIXED, stop_reason="tool_use", usage=usage))
    assert decoder.finished
    turn = fold(events)
    assert turn.message.parts == [
        ThinkingPart("Let me think.", signature="c2lnbmF0dXJl" * 8, provider="anthropic"),
        ThinkingPart("", redacted="opaque-redacted-data==", provider="anthropic"),
        TextPart("The answer is 4."),
        ToolCallPart(
            "toolu_01A", "calc", {"expr": "2+2", "precise": True, "nested": {"a": [1, "ü"]}}
        ),
    ]
    assert turn.stop_reason == "tool_use"
    assert turn.served_model == "claude-test-1"
    assert turn.request_id == "req_1"
    assert turn.usage.as_dict() == {
        "input_tokens": 100,
        "output_tokens": 40,
        "cache_read_tokens": 30,
        "cache_write_tokens": 7,
        "reasoning_tokens": 12,
        "reported": True,
    }
    assert turn.usage.total_tokens == 177


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("end_turn", "end_turn"),
        ("max_tokens", "max_tokens"),
        ("stop_sequence", "stop_sequence"),
        ("tool_use", "tool_use"),
        ("pause_turn", "pause_turn"),
        ("refusal", "refusal"),
        ("model_context_window_exceeded", "context_overflow"),
        ("a_reason_from_the_future", "unknown"),
        (None, "unknown"),
    ],
)
def test_every_stop_reason_is_mapped_and_the_raw_one_kept(
    raw: str | None, expected: StopReason
) -> None:
    _, events = decode(response_stream([Text(["x"])], stop_reason=raw))
    assert events[-1] == ResponseFinished(expected, raw)


def test_unknown_events_deltas_blocks_and_pings_are_tolerated() -> None:
    unknown = [
        sse({"type": "future_event", "payload": {"x": 1}}, "future_event"),
        sse(
            {
                "type": "content_block_start",
                "index": 5,
                "content_block": {
                    "type": "server_tool_use",
                    "id": "srvtoolu_1",
                    "name": "web_search",
                    "input": {},
                },
            },
            "content_block_start",
        ),
        sse(
            {
                "type": "content_block_delta",
                "index": 5,
                "delta": {"type": "input_json_delta", "partial_json": "{}"},
            },
            "content_block_delta",
        ),
        sse(
            {
                "type": "content_block_delta",
                "index": 5,
                "delta": {"type": "citations_delta", "citation": {}},
            },
            "content_block_delta",
        ),
        sse({"type": "content_block_stop", "index": 5}, "content_block_stop"),
        sse({"type": "ping"}, "ping"),
    ]
    _, events = decode(response_stream([Text(["only text"])], extra_events=unknown))
    turn = fold(events)
    assert turn.message.parts == [TextPart("only text")]


def test_message_delta_usage_overwrites_only_what_it_carries() -> None:
    chunks = response_stream([Text(["x"])], usage=Usage(input_tokens=50, cache_read=9))
    _, events = decode(chunks)
    usage = fold(events).usage
    assert (usage.input_tokens, usage.cache_read_tokens, usage.output_tokens) == (50, 9, 12)


def test_tool_input_that_is_not_json_is_kept_for_the_agent_loop() -> None:
    chunks = response_stream(
        [ToolUse("toolu_1", "calc", {"a": 1}, split=1)], stop_reason="tool_use"
    )
    broken = [
        c.replace(b'"partial_json":"{\\"a\\":1}"', b'"partial_json":"{\\"a\\":1"') for c in chunks
    ]
    assert broken != chunks
    call = fold(decode(broken)[1]).message.parts[0]
    assert isinstance(call, ToolCallPart)
    assert "__invalid_json__" in call.arguments


def test_tool_without_input_deltas_uses_the_start_input() -> None:
    chunks = [
        *response_stream([], terminal=False)[:2],
        sse(
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "tool_use", "id": "toolu_9", "name": "now", "input": {}},
            },
            "content_block_start",
        ),
        sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
        *response_stream([], stop_reason="tool_use")[-2:],
    ]
    assert fold(decode(chunks)[1]).message.parts == [ToolCallPart("toolu_9", "now", {})]


@pytest.mark.parametrize(
    ("error_type", "retryable"),
    [
        ("overloaded_error", True),
        ("api_error", True),
        ("rate_limit_error", True),
        ("invalid_request_error", False),
        ("permission_error", False),
    ],
)
def test_error_event_is_raised_with_type_and_request_id(error_type: str, retryable: bool) -> None:
    chunks = [
        *response_stream([Text(["partial"])], terminal=False)[:4],
        error_event(error_type, "Overloaded"),
    ]
    with pytest.raises(ProviderError) as caught:
        decode(chunks)
    error = caught.value
    assert (error.error_type, error.retryable, error.request_id) == (
        error_type,
        retryable,
        "req_stream_err",
    )
    assert error.status is None
    assert "anthropic" in str(error) and error_type in str(error) and "Overloaded" in str(error)


def test_a_quota_error_event_is_not_retryable() -> None:
    chunk = error_event(
        "rate_limit_error", "This request would exceed your account's monthly spend limit."
    )
    with pytest.raises(ProviderError) as caught:
        decode([*response_stream([], terminal=False)[:1], chunk])
    assert not caught.value.retryable
    assert caught.value.hint is not None and "quota" in caught.value.hint


def test_stream_without_message_stop_is_not_finished() -> None:
    decoder, events = decode(response_stream([Text(["a", "b"])], terminal=False))
    assert not decoder.finished
    assert not any(isinstance(e, ResponseFinished) for e in events)


def _turn_summary(turn: AssistantTurn) -> list[Any]:
    return [(type(p).__name__, p) for p in turn.message.parts]


@settings(max_examples=60, deadline=None)
@given(cuts=st.lists(st.integers(min_value=1, max_value=4000), max_size=40))
def test_decoding_does_not_depend_on_how_the_bytes_are_chunked(cuts: list[int]) -> None:
    whole = b"".join(response_stream(MIXED, stop_reason="tool_use"))
    positions = sorted({c % len(whole) for c in cuts})
    pieces = [whole[a:b] for a, b in zip([0, *positions], [*positions, len(whole)], strict=True)]
    expected = fold(decode([whole])[1])
    got = fold(decode(pieces)[1])
    assert _turn_summary(got) == _turn_summary(expected)
    assert got.usage == expected.usage
