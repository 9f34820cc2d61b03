"""The sans-IO halves of the Responses dialect: request encoding and event decoding, no sockets."""

from __future__ import annotations

import itertools
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rupu.errors import ProviderError
from rupu.messages import (
    Effort,
    Message,
    ModelRequest,
    ResponseFinished,
    StreamEvent,
    TextPart,
    ThinkingPart,
    ToolCallPart,
)
from rupu.providers.base import TurnBuilder
from rupu.providers.openai_responses_decode import ResponsesStreamDecoder, decode_usage
from rupu.providers.openai_responses_encode import (
    Dialect,
    codex_responses_url,
    encode_request,
    reasoning_effort,
    responses_url,
)
from rupu.providers.sse import SSEDecoder
from tests.servers.openai_responses import ResponseStream, usage, validate_body

API = Dialect(replay_from="openai")


def body_for(**kwargs: Any) -> dict[str, Any]:
    request = ModelRequest(model="gpt-test", system="sys", messages=[Message.user("hi")], **kwargs)
    body = encode_request(request, API)
    validate_body(body)
    return body


@pytest.mark.parametrize(
    ("effort", "sent"),
    [
        ("auto", None),
        ("minimal", "minimal"),
        ("low", "low"),
        ("medium", "medium"),
        ("high", "high"),
        ("max", "high"),
        (None, None),
    ],
)
def test_effort_mapping(effort: Effort | None, sent: str | None) -> None:
    assert reasoning_effort(effort) == sent
    body = body_for(effort=effort)
    if sent is None:
        assert "reasoning" not in body and "include" not in body
    else:
        assert body["reasoning"] == {"effort": sent, "summary": "auto"}
        assert body["include"] == ["reasoning.encrypted_content"]


def test_max_tokens_is_raised_to_the_api_minimum() -> None:
    assert body_for(max_tokens=5)["max_output_tokens"] == 16
    assert body_for(max_tokens=4096)["max_output_tokens"] == 4096


def test_output_format_json_and_schema() -> None:
    assert body_for(output_format="json")["text"] == {"format": {"type": "json_object"}}
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}}
    assert body_for(output_format="json", output_schema=schema)["text"] == {
        "format": {"type": "json_schema", "name": "output", "schema": schema, "strict": False}
    }
    assert "text" not in body_for()


def test_replay_keeps_part_order_and_skips_foreign_reasoning() -> None:
    assistant = Message(
        "assistant",
        [
            ThinkingPart("mine", signature="enc", provider="openai", item_id="rs_1"),
            ThinkingPart("theirs", signature="sig", provider="anthropic", item_id=None),
            TextPart("a"),
            TextPart("b"),
            ToolCallPart("call_1", "t", {"__invalid_json__": "{oops"}, item_id="fc_1"),
        ],
    )
    request = ModelRequest(model="m", system="", messages=[Message.user("q"), assistant])
    body = encode_request(request, API)
    assert "instructions" not in body
    assert body["input"] == [
        {"role": "user", "content": "q"},
        {
            "type": "reasoning",
            "id": "rs_1",
            "summary": [{"type": "summary_text", "text": "mine"}],
            "encrypted_content": "enc",
        },
        {"role": "assistant", "content": "ab"},
        {"type": "function_call", "call_id": "call_1", "name": "t", "arguments": "{oops"},
    ]


def test_urls() -> None:
    assert responses_url("https://api.openai.com") == "https://api.openai.com/v1/responses"
    assert responses_url("http://gw:8/proxy/v1/") == "http://gw:8/proxy/v1/responses"
    assert codex_responses_url("https://chatgpt.com/") == (
        "https://chatgpt.com/backend-api/codex/responses"
    )
    assert (
        codex_responses_url("http://h/backend-api/codex") == "http://h/backend-api/codex/responses"
    )


def decode(events: list[dict[str, Any]]) -> tuple[TurnBuilder, list[StreamEvent]]:
    decoder = ResponsesStreamDecoder("openai", model="gpt-test")
    builder = TurnBuilder("openai")
    out: list[StreamEvent] = []
    for event in events:
        for item in decoder.feed(event):
            out.append(item)
            builder.add(item)
    return builder, out


def test_arguments_only_in_done_and_done_extending_deltas() -> None:
    stream = (
        ResponseStream()
        .function_call("c1", "f", {"a": 1}, streamed=0)
        .function_call("c2", "f", {"b": "long value"}, streamed=4)
        .completed()
    )
    builder, events = decode(stream.events)
    turn = builder.result()
    assert [(c.call_id, c.arguments) for c in turn.message.tool_calls()] == [
        ("c1", {"a": 1}),
        ("c2", {"b": "long value"}),
    ]
    deltas = [e for e in events if e.kind == "tool_call_delta"]
    assert "".join(d.arguments for d in deltas if d.index == 1) == '{"b":"long value"}'
    assert turn.stop_reason == "tool_use"


def test_done_that_contradicts_the_deltas_wins() -> None:
    stream = ResponseStream().function_call("c1", "f", {"x": 1}).completed()
    for event in stream.events:
        if event["type"] == "response.function_call_arguments.done":
            event["arguments"] = '{"x": 2}'
    builder, _ = decode(stream.events)
    assert builder.result().message.tool_calls()[0].arguments == {"x": 2}


def test_message_and_reasoning_without_deltas_still_arrive() -> None:
    """Some proxies send only the finished items."""
    stream = ResponseStream().reasoning([["why"]], stream_deltas=False).text(["whole"]).completed()
    events = [e for e in stream.events if not e["type"].endswith(".delta")]
    builder, _ = decode(events)
    turn = builder.result()
    assert turn.message.text() == "whole"
    assert [p.text for p in turn.message.parts if isinstance(p, ThinkingPart)] == ["why"]


def test_response_done_quirk_and_unknown_events() -> None:
    stream = ResponseStream().text(["ok"])
    stream.emit("response.something_new", detail=1)
    stream.emit("response.done", response=stream.response("completed", usage=usage(5, 1)))
    builder, events = decode(stream.events)
    assert isinstance(events[-1], ResponseFinished)
    assert builder.result().stop_reason == "end_turn"


def test_error_event_nested_form() -> None:
    decoder = ResponsesStreamDecoder("openai")
    with pytest.raises(ProviderError) as caught:
        decoder.feed(
            {"type": "error", "error": {"type": "usage_limit_reached", "message": "limit hit"}}
        )
    assert caught.value.error_type == "usage_limit_reached"
    assert not caught.value.retryable


def test_usage_normalisation_with_cache_writes() -> None:
    got = decode_usage(
        {
            "input_tokens": 100,
            "input_tokens_details": {"cached_tokens": 60, "cache_write_tokens": 30},
            "output_tokens": 50,
            "output_tokens_details": {"reasoning_tokens": 20},
        }
    )
    assert got.as_dict() == {
        "input_tokens": 10,
        "output_tokens": 50,
        "cache_read_tokens": 60,
        "cache_write_tokens": 30,
        "reasoning_tokens": 20,
        "reported": True,
    }
    assert got.total_tokens == 150


STREAM_BYTES = b"".join(
    ResponseStream()
    .reasoning([["a", "b"], ["c"]])
    .text(["x", "ä€", "z"])
    .function_call("c1", "f", {"k": "v"})
    .completed()
    .chunks()
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(STREAM_BYTES)), max_size=12))
def test_decoding_does_not_depend_on_chunking(cuts: list[int]) -> None:
    bounds = [0, *sorted(cuts), len(STREAM_BYTES)]
    sse = SSEDecoder()
    data: list[dict[str, Any]] = []
    for start, end in itertools.pairwise(bounds):
        data += [orjson.loads(e.data) for e in sse.feed(STREAM_BYTES[start:end])]
    builder, _ = decode(data)
    turn = builder.result()
    assert turn.message.text() == "xä€z"
    assert turn.message.tool_calls()[0].arguments == {"k": "v"}
    assert [p.text for p in turn.message.parts if isinstance(p, ThinkingPart)] == ["ab\n\nc"]
