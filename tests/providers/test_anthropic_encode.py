"""Request encoding for the Anthropic Messages API: every body is also checked by the loopback
server's strict validator and the anthropic SDK's own request TypedDict."""

from __future__ import annotations

from typing import Any

import pytest

from rupu.messages import (
    Effort,
    Message,
    ModelRequest,
    TextPart,
    ThinkingPart,
    ToolCallPart,
    ToolResultPart,
    ToolSpec,
)
from rupu.providers.anthropic_encode import (
    CLAUDE_CODE_IDENTITY,
    JSON_ONLY_INSTRUCTION,
    closed_schema,
    encode_request,
    thinking_settings,
)
from tests.servers.anthropic_validate import validate_body, validate_with_sdk

TOOL = ToolSpec(
    "read_file",
    "Read a file",
    {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
)


def encode(request: ModelRequest, *, sso: bool = False) -> dict[str, Any]:
    body = encode_request(request, provider="anthropic", sso=sso)
    validate_body(body)
    validate_with_sdk(body)
    return body


def req(messages: list[Message], **kwargs: Any) -> ModelRequest:
    return ModelRequest(
        model="claude-test-1", system=kwargs.pop("system", "Be terse."), messages=messages, **kwargs
    )


def tool_turn(provider: str = "anthropic") -> list[Message]:
    return [
        Message.user("read a.txt"),
        Message(
            "assistant",
            [
                ThinkingPart("I should read it.", signature="sig-1", provider=provider),
                TextPart("Reading."),
                ToolCallPart("toolu_01", "read_file", {"path": "a.txt"}),
            ],
        ),
        Message("user", [ToolResultPart("toolu_01", "read_file", "hello")]),
    ]


def test_minimal_request_has_model_max_tokens_stream_and_string_content() -> None:
    body = encode(req([Message.user("hi")]))
    assert body == {
        "model": "claude-test-1",
        "max_tokens": 8192,
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        "system": "Be terse.",
    }


def test_empty_system_is_left_out() -> None:
    assert "system" not in encode(req([Message.user("hi")], system="  \n"))


def test_agent_max_tokens_is_sent() -> None:
    assert encode(req([Message.user("hi")], max_tokens=300))["max_tokens"] == 300


def test_tool_turn_replays_thinking_verbatim_and_answers_with_tool_result() -> None:
    body = encode(req(tool_turn(), tools=[TOOL], effort="low"))
    assert body["tools"] == [
        {"name": "read_file", "description": "Read a file", "input_schema": TOOL.parameters}
    ]
    assert body["messages"][1] == {
        "role": "assistant",
        "content": [
            {"type": "thinking", "thinking": "I should read it.", "signature": "sig-1"},
            {"type": "text", "text": "Reading."},
            {"type": "tool_use", "id": "toolu_01", "name": "read_file", "input": {"path": "a.txt"}},
        ],
    }
    assert body["messages"][2] == {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": "toolu_01", "content": "hello"}],
    }


def test_redacted_thinking_is_replayed_as_is() -> None:
    messages = tool_turn()
    messages[1].parts.insert(0, ThinkingPart("", redacted="EncRypTed==", provider="anthropic"))
    body = encode(req(messages, tools=[TOOL]))
    assert body["messages"][1]["content"][0] == {"type": "redacted_thinking", "data": "EncRypTed=="}


def test_thinking_from_another_provider_or_unsigned_is_not_sent() -> None:
    messages = tool_turn(provider="openai")
    messages[1].parts.append(ThinkingPart("half a thought", provider="anthropic"))
    body = encode(req(messages, tools=[TOOL]))
    types = [block["type"] for block in body["messages"][1]["content"]]
    assert types == ["text", "tool_use"]


def test_error_results_are_flagged_and_come_before_text_in_a_merged_user_message() -> None:
    messages = tool_turn()
    messages[1].parts.append(ToolCallPart("call:2/x", "read_file", {"path": "b"}))
    messages[2] = Message("user", [TextPart("also this")])
    messages.append(
        Message(
            "user",
            [
                ToolResultPart("toolu_01", "read_file", "ok"),
                ToolResultPart("call:2/x", "read_file", "no such file", is_error=True),
            ],
        )
    )
    body = encode(req(messages, tools=[TOOL]))
    assert len(body["messages"]) == 3
    assert body["messages"][1]["content"][-1]["id"] == "call_2_x"
    assert body["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "toolu_01", "content": "ok"},
        {
            "type": "tool_result",
            "tool_use_id": "call_2_x",
            "content": "no such file",
            "is_error": True,
        },
        {"type": "text", "text": "also this"},
    ]


def test_empty_text_and_empty_messages_are_dropped_keeping_roles_alternating() -> None:
    messages = [
        Message.user("one"),
        Message("assistant", [TextPart("  ")]),
        Message.user("two"),
        Message("assistant", [TextPart("answer")]),
        Message.user("three"),
    ]
    body = encode(req(messages))
    assert body["messages"] == [
        {
            "role": "user",
            "content": [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}],
        },
        {"role": "assistant", "content": [{"type": "text", "text": "answer"}]},
        {"role": "user", "content": "three"},
    ]


def test_sign_in_route_puts_the_claude_code_line_first() -> None:
    body = encode(req([Message.user("hi")]), sso=True)
    assert body["system"] == [
        {"type": "text", "text": CLAUDE_CODE_IDENTITY},
        {"type": "text", "text": "Be terse."},
    ]
    assert encode(req([Message.user("hi")], system=""), sso=True)["system"] == [
        {"type": "text", "text": CLAUDE_CODE_IDENTITY}
    ]


@pytest.mark.parametrize(
    ("effort", "max_tokens", "expected_max", "expected_thinking"),
    [
        (None, None, 8192, None),
        (None, 1000, 1000, None),
        ("auto", None, 8192, {"type": "adaptive"}),
        ("auto", 4000, 4000, {"type": "adaptive"}),
        ("minimal", None, 8192 + 1024, {"type": "enabled", "budget_tokens": 1024}),
        ("low", None, 8192 + 2048, {"type": "enabled", "budget_tokens": 2048}),
        ("medium", None, 8192 + 8192, {"type": "enabled", "budget_tokens": 8192}),
        ("high", None, 8192 + 16384, {"type": "enabled", "budget_tokens": 16384}),
        ("max", None, 8192 + 32000, {"type": "enabled", "budget_tokens": 32000}),
        ("high", 64000, 64000, {"type": "enabled", "budget_tokens": 16384}),
        ("high", 10000, 10000, {"type": "enabled", "budget_tokens": 10000 - 1024}),
        ("minimal", 2048, 2048, {"type": "enabled", "budget_tokens": 1024}),
        ("max", 2047, 2047, None),
    ],
)
def test_effort_maps_to_a_thinking_budget_below_max_tokens(
    effort: Effort | None,
    max_tokens: int | None,
    expected_max: int,
    expected_thinking: dict[str, Any] | None,
) -> None:
    assert thinking_settings(effort, max_tokens) == (expected_max, expected_thinking)
    body = encode(req([Message.user("hi")], effort=effort, max_tokens=max_tokens))
    assert body["max_tokens"] == expected_max
    assert body.get("thinking") == expected_thinking


def test_output_schema_becomes_closed_json_schema_output() -> None:
    schema = {
        "type": "object",
        "properties": {
            "verdict": {"type": "string", "enum": ["ok", "bad"]},
            "findings": {
                "type": "array",
                "items": {"type": "object", "properties": {"line": {"type": "integer"}}},
            },
            "properties": {"type": "string"},
        },
        "required": ["verdict"],
    }
    body = encode(req([Message.user("review")], output_format="json", output_schema=schema))
    sent = body["output_config"]["format"]
    assert sent["type"] == "json_schema"
    assert sent["schema"]["additionalProperties"] is False
    assert sent["schema"]["properties"]["findings"]["items"]["additionalProperties"] is False
    assert sent["schema"]["properties"]["properties"] == {"type": "string"}
    assert "additionalProperties" not in schema  # the agent's own schema is untouched
    assert body["system"] == "Be terse."


def test_closed_schema_keeps_an_explicit_choice() -> None:
    open_map = {"type": "object", "additionalProperties": {"type": "string"}}
    assert closed_schema(open_map) == open_map


def test_json_without_schema_asks_for_json_in_the_system_prompt() -> None:
    body = encode(req([Message.user("list")], output_format="json"))
    assert "output_config" not in body
    assert body["system"] == f"Be terse.\n\n{JSON_ONLY_INSTRUCTION}"


def test_tool_without_schema_type_gets_an_object_schema() -> None:
    body = encode(req([Message.user("hi")], tools=[ToolSpec("now", "", {})]))
    assert body["tools"] == [{"name": "now", "input_schema": {"type": "object"}}]
