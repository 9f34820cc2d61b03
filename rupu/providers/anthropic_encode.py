"""Request encoding for the Anthropic Messages API (`POST {base}/v1/messages`): rupu's `ModelRequest`
in, the JSON body out. Pure functions, no I/O.

What the API insists on and this module guarantees: `max_tokens` is always sent; roles alternate
(consecutive same-role messages are merged); `tool_result` blocks open the user message that answers
a `tool_use`; text blocks are never empty; a thinking budget is at least 1024 tokens and below
`max_tokens`; thinking blocks go back byte for byte, and only to the provider that produced them.
"""

from __future__ import annotations

import re
from typing import Any

from rupu.messages import (
    Effort,
    Message,
    ModelRequest,
    Part,
    TextPart,
    ThinkingPart,
    ToolCallPart,
    ToolResultPart,
    ToolSpec,
)

API_VERSION = "2023-06-01"
SSO_BETAS = ("claude-code-20250219", "oauth-2025-04-20")
CLAUDE_CODE_IDENTITY = "You are Claude Code, Anthropic's official CLI for Claude."
DEFAULT_MAX_TOKENS = 8192
MIN_THINKING_BUDGET = 1024
THINKING_BUDGETS: dict[Effort, int] = {
    "minimal": 1024,
    "low": 2048,
    "medium": 8192,
    "high": 16384,
    "max": 32000,
}
JSON_ONLY_INSTRUCTION = (
    "Answer with one JSON value and nothing else: no prose, no Markdown code fences."
)

_TOOL_ID_INVALID = re.compile(r"[^a-zA-Z0-9_-]")


def encode_request(request: ModelRequest, *, provider: str, sso: bool) -> dict[str, Any]:
    """The streaming request body. `provider` is the name thinking parts must carry to be replayed;
    `sso` adds the Claude Code identity line the subscription route requires first."""
    body: dict[str, Any] = {
        "model": request.model,
        "max_tokens": DEFAULT_MAX_TOKENS,
        "messages": encode_messages(request.messages, provider=provider),
        "stream": True,
    }
    system = encode_system(request, sso=sso)
    if system:
        body["system"] = system
    if request.tools:
        body["tools"] = [encode_tool(tool) for tool in request.tools]
    max_tokens, thinking = thinking_settings(request.effort, request.max_tokens)
    body["max_tokens"] = max_tokens
    if thinking is not None:
        body["thinking"] = thinking
    if request.output_format == "json" and request.output_schema:
        body["output_config"] = {
            "format": {"type": "json_schema", "schema": closed_schema(request.output_schema)}
        }
    return body


def encode_system(request: ModelRequest, *, sso: bool) -> str | list[dict[str, Any]] | None:
    text = request.system.strip("\n")
    if request.output_format == "json" and not request.output_schema:
        text = f"{text}\n\n{JSON_ONLY_INSTRUCTION}" if text.strip() else JSON_ONLY_INSTRUCTION
    if not sso:
        return text if text.strip() else None
    blocks = [{"type": "text", "text": CLAUDE_CODE_IDENTITY}]
    if text.strip():
        blocks.append({"type": "text", "text": text})
    return blocks


def thinking_settings(
    effort: Effort | None, max_tokens: int | None
) -> tuple[int, dict[str, Any] | None]:
    """(`max_tokens`, `thinking`) for an effort level.

    Without an explicit `maxTokens` the answer keeps its default room and the thinking budget comes
    on top. With one, it is the ceiling for both: the budget shrinks to leave 1024 tokens for the
    answer, and thinking is left off when that leaves less than the API's minimum budget."""
    if effort is None:
        return max_tokens or DEFAULT_MAX_TOKENS, None
    if effort == "auto":
        return max_tokens or DEFAULT_MAX_TOKENS, {"type": "adaptive"}
    budget = THINKING_BUDGETS[effort]
    if max_tokens is None:
        return DEFAULT_MAX_TOKENS + budget, {"type": "enabled", "budget_tokens": budget}
    budget = min(budget, max_tokens - MIN_THINKING_BUDGET)
    if budget < MIN_THINKING_BUDGET:
        return max_tokens, None
    return max_tokens, {"type": "enabled", "budget_tokens": budget}


def encode_tool(tool: ToolSpec) -> dict[str, Any]:
    schema = dict(tool.parameters) if tool.parameters else {}
    schema.setdefault("type", "object")
    encoded: dict[str, Any] = {"name": tool.name, "input_schema": schema}
    if tool.description:
        encoded["description"] = tool.description
    return encoded


def tool_use_id(call_id: str) -> str:
    """Ids from other providers made acceptable to Anthropic (`[a-zA-Z0-9_-]{1,64}`); the same
    mapping is applied to the call and to its result, so they still match."""
    cleaned = _TOOL_ID_INVALID.sub("_", call_id)[:64]
    return cleaned or "call"


def encode_messages(messages: list[Message], *, provider: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for message in messages:
        blocks = [
            block for part in message.parts if (block := encode_part(part, provider)) is not None
        ]
        if not blocks:
            continue
        if out and out[-1]["role"] == message.role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": message.role, "content": blocks})
    for entry in out:
        content = entry["content"]
        if entry["role"] == "user":
            # The API wants the answers to the previous turn's tool calls before anything else.
            content.sort(key=lambda block: block["type"] != "tool_result")
            if len(content) == 1 and content[0]["type"] == "text":
                entry["content"] = content[0]["text"]
    return out


def encode_part(part: Part, provider: str) -> dict[str, Any] | None:
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text} if part.text.strip() else None
    if isinstance(part, ToolResultPart):
        result: dict[str, Any] = {"type": "tool_result", "tool_use_id": tool_use_id(part.call_id)}
        if part.content:
            result["content"] = part.content
        if part.is_error:
            result["is_error"] = True
        return result
    if isinstance(part, ToolCallPart):
        return {
            "type": "tool_use",
            "id": tool_use_id(part.call_id),
            "name": part.name,
            "input": part.arguments,
        }
    return encode_thinking(part, provider)


def encode_thinking(part: ThinkingPart, provider: str) -> dict[str, Any] | None:
    """Signed or redacted thinking goes back unchanged to the provider that produced it. Thinking
    from another provider, or without a signature (an interrupted block), cannot be verified by the
    API and is left out."""
    if part.provider != provider:
        return None
    if part.redacted is not None:
        return {"type": "redacted_thinking", "data": part.redacted}
    if part.signature:
        return {"type": "thinking", "thinking": part.text, "signature": part.signature}
    return None


_SCHEMA_MAPS = ("properties", "$defs", "definitions", "patternProperties")
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SCHEMA_VALUES = ("items", "additionalProperties", "not", "contains")


def closed_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A copy of a JSON Schema with `additionalProperties: false` on every object schema that does
    not say otherwise: Anthropic's structured output accepts only closed objects."""
    copy = dict(schema)
    for key in _SCHEMA_MAPS:
        if isinstance(copy.get(key), dict):
            copy[key] = {
                name: closed_schema(sub) if isinstance(sub, dict) else sub
                for name, sub in copy[key].items()
            }
    for key in _SCHEMA_LISTS:
        if isinstance(copy.get(key), list):
            copy[key] = [closed_schema(sub) if isinstance(sub, dict) else sub for sub in copy[key]]
    for key in _SCHEMA_VALUES:
        if isinstance(copy.get(key), dict):
            copy[key] = closed_schema(copy[key])
    if copy.get("type") == "object" or "properties" in copy:
        copy.setdefault("additionalProperties", False)
    return copy
