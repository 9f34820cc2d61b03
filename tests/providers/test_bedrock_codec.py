"""Bedrock's Converse encoding and ConverseStream decoding, sans I/O: every encoded body passes
botocore's own validator for the ConverseStream input; roles, tool results, reasoning replay, cache
points and thinking budgets follow the API's rules; stream events become rupu's events with usage
(cache read and write) and the stop reasons mapped."""

from __future__ import annotations

from typing import Any

import pytest

from rupu.messages import (
    Message,
    ModelRequest,
    ResponseFinished,
    TextDelta,
    TextPart,
    ThinkingDelta,
    ThinkingFinished,
    ThinkingPart,
    ToolCallDelta,
    ToolCallFinished,
    ToolCallPart,
    ToolCallStarted,
    ToolResultPart,
    ToolSpec,
    Usage,
    UsageReported,
)
from rupu.providers.bedrock_decode import ConverseStreamDecoder
from rupu.providers.bedrock_encode import CACHE_POINT, encode_request
from tests.servers.bedrock_wire import validate_input

CLAUDE = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
NOVA = "us.amazon.nova-pro-v1:0"
TOOL = ToolSpec(
    "read_file", "Reads a file.", {"type": "object", "properties": {"path": {"type": "string"}}}
)


def conversation() -> list[Message]:
    return [
        Message.user("read a.txt"),
        Message(
            "assistant",
            [
                ThinkingPart("I should read it.", signature="sig-9", provider="bedrock"),
                ThinkingPart("foreign", signature="other", provider="anthropic"),
                TextPart("Reading."),
                ToolCallPart("call.1/x", "read_file", {"path": "a.txt"}),
            ],
        ),
        Message("user", [TextPart("also this"), ToolResultPart("call.1/x", "read_file", "AAA")]),
    ]


def encoded(request: ModelRequest, *, cache_points: bool = False) -> dict[str, Any]:
    body = encode_request(request, provider="bedrock", cache_points=cache_points)
    report = validate_input("bedrock-runtime", "ConverseStream", {"modelId": request.model, **body})
    assert report is None, report
    return body


def test_a_tool_conversation_is_valid_converse_input() -> None:
    body = encoded(
        ModelRequest(model=CLAUDE, system="Be brief.", messages=conversation(), tools=[TOOL])
    )
    assert body["system"] == [{"text": "Be brief."}]
    assert body["toolConfig"]["tools"] == [
        {
            "toolSpec": {
                "name": "read_file",
                "inputSchema": {"json": TOOL.parameters},
                "description": "Reads a file.",
            }
        }
    ]
    user, assistant, answer = body["messages"]
    assert user == {"role": "user", "content": [{"text": "read a.txt"}]}
    assert assistant["content"] == [
        {
            "reasoningContent": {
                "reasoningText": {"text": "I should read it.", "signature": "sig-9"}
            }
        },
        {"text": "Reading."},
        {"toolUse": {"toolUseId": "call_1_x", "name": "read_file", "input": {"path": "a.txt"}}},
    ]
    assert answer["content"] == [
        {
            "toolResult": {
                "toolUseId": "call_1_x",
                "content": [{"text": "AAA"}],
                "status": "success",
            }
        },
        {"text": "also this"},
    ]


def test_cache_points_close_the_system_the_tools_and_the_last_message() -> None:
    request = ModelRequest(model=CLAUDE, system="Stable.", messages=conversation(), tools=[TOOL])
    body = encoded(request, cache_points=True)
    assert body["system"][-1] == CACHE_POINT
    assert body["toolConfig"]["tools"][-1] == CACHE_POINT
    assert body["messages"][-1]["content"][-1] == CACHE_POINT
    assert sum(m["content"].count(CACHE_POINT) for m in body["messages"]) == 1
    assert "cachePoint" not in str(encoded(request))


def test_effort_is_a_thinking_budget_on_claude_only() -> None:
    claude = encoded(
        ModelRequest(model=CLAUDE, system="", messages=[Message.user("hi")], effort="low")
    )
    assert claude["additionalModelRequestFields"] == {
        "thinking": {"type": "enabled", "budget_tokens": 2048}
    }
    assert claude["inferenceConfig"]["maxTokens"] > 2048
    nova = encoded(ModelRequest(model=NOVA, system="", messages=[Message.user("hi")], effort="low"))
    assert "additionalModelRequestFields" not in nova
    assert "inferenceConfig" not in nova


def test_errors_and_redacted_reasoning_and_empty_results() -> None:
    messages = [
        Message.user("go"),
        Message(
            "assistant",
            [
                ThinkingPart("", redacted="ZW5jcnlwdGVk", provider="bedrock"),
                ToolCallPart("t1", "read_file", {}),
            ],
        ),
        Message("user", [ToolResultPart("t1", "read_file", "", is_error=True)]),
    ]
    body = encoded(ModelRequest(model=CLAUDE, system="", messages=messages))
    assert body["messages"][1]["content"][0] == {
        "reasoningContent": {"redactedContent": "ZW5jcnlwdGVk"}
    }
    assert body["messages"][2]["content"] == [
        {"toolResult": {"toolUseId": "t1", "content": [{"text": "(no output)"}], "status": "error"}}
    ]


def test_json_output_is_asked_for_in_the_system_prompt() -> None:
    body = encoded(
        ModelRequest(
            model=NOVA,
            system="",
            messages=[Message.user("hi")],
            output_format="json",
            output_schema={"type": "object"},
        )
    )
    assert "one JSON value" in body["system"][0]["text"]
    assert '{"type":"object"}' in body["system"][0]["text"]


def decoder() -> ConverseStreamDecoder:
    return ConverseStreamDecoder("bedrock", model=CLAUDE, request_id="r1", credential="aws x")


def test_the_stream_decodes_to_rupus_events() -> None:
    d = decoder()
    events = [
        *d.feed("messageStart", {"role": "assistant", "p": "pad"}),
        *d.feed(
            "contentBlockDelta",
            {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "Hm."}}},
        ),
        *d.feed(
            "contentBlockDelta",
            {"contentBlockIndex": 0, "delta": {"reasoningContent": {"signature": "s1"}}},
        ),
        *d.feed("contentBlockStop", {"contentBlockIndex": 0}),
        *d.feed("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"text": "Hi"}}),
        *d.feed("contentBlockStop", {"contentBlockIndex": 1}),
        *d.feed(
            "contentBlockStart",
            {"contentBlockIndex": 2, "start": {"toolUse": {"toolUseId": "t9", "name": "ls"}}},
        ),
        *d.feed(
            "contentBlockDelta", {"contentBlockIndex": 2, "delta": {"toolUse": {"input": '{"a"'}}}
        ),
        *d.feed(
            "contentBlockDelta", {"contentBlockIndex": 2, "delta": {"toolUse": {"input": ": 1}"}}}
        ),
        *d.feed("contentBlockStop", {"contentBlockIndex": 2}),
        *d.feed("messageStop", {"stopReason": "tool_use"}),
    ]
    before = d.finished
    events += d.feed(
        "metadata",
        {
            "usage": {
                "inputTokens": 3,
                "outputTokens": 4,
                "totalTokens": 57,
                "cacheReadInputTokens": 40,
                "cacheWriteInputTokens": 10,
            },
            "metrics": {"latencyMs": 1},
        },
    )
    assert (before, d.finished) == (False, True)
    assert events[1:] == [
        ThinkingDelta("Hm."),
        ThinkingFinished(signature="s1"),
        TextDelta("Hi"),
        ToolCallStarted(2, "t9", "ls"),
        ToolCallDelta(2, '{"a"'),
        ToolCallDelta(2, ": 1}"),
        ToolCallFinished(2, {"a": 1}),
        UsageReported(Usage(3, 4, cache_read_tokens=40, cache_write_tokens=10, reported=True)),
        ResponseFinished("tool_use", "tool_use"),
    ]
    assert events[0].kind == "response_started"
    assert (events[0].model, events[0].request_id, events[0].credential) == (CLAUDE, "r1", "aws x")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("end_turn", "end_turn"),
        ("max_tokens", "max_tokens"),
        ("stop_sequence", "stop_sequence"),
        ("guardrail_intervened", "content_filter"),
        ("content_filtered", "content_filter"),
        ("model_context_window_exceeded", "context_overflow"),
        ("malformed_tool_use", "error"),
        ("something_new", "unknown"),
    ],
)
def test_stop_reasons(raw: str, reason: str) -> None:
    d = decoder()
    d.feed("messageStop", {"stopReason": raw})
    *_, finished = d.feed("metadata", {"usage": {}})
    assert finished == ResponseFinished(reason, raw)  # type: ignore[arg-type]


def test_redacted_reasoning_is_kept_for_replay() -> None:
    d = decoder()
    delta = {"contentBlockIndex": 0, "delta": {"reasoningContent": {"redactedContent": "b64=="}}}
    assert d.feed("contentBlockDelta", delta) == []
    assert d.feed("contentBlockStop", {"contentBlockIndex": 0}) == [
        ThinkingFinished(redacted="b64==")
    ]
