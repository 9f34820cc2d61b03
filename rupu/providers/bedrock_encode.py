"""Request encoding for Amazon Bedrock's Converse API (`POST /model/{modelId}/converse-stream`):
rupu's `ModelRequest` in, the JSON body out. Pure functions, no I/O, no AWS (signing is in
`bedrock`).

What the API insists on and this module guarantees: roles alternate and the first message is the
user's (consecutive same-role messages are merged); `toolResult` blocks open the user message that
answers a `toolUse`; text blocks are never empty; tool-use ids match `[a-zA-Z0-9_-]{1,64}`;
reasoning goes back unchanged (with its signature, or redacted) only to the provider that produced
it. With `cache_points`, a `cachePoint` block closes the system prompt, the tool list and the last
message, so the stable prefix of a conversation is read from the cache on the next turn.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from rupu.messages import (
    Message,
    ModelRequest,
    Part,
    TextPart,
    ThinkingPart,
    ToolCallPart,
    ToolResultPart,
    ToolSpec,
)
from rupu.providers.anthropic_encode import JSON_ONLY_INSTRUCTION, thinking_settings

CACHE_POINT: dict[str, Any] = {"cachePoint": {"type": "default"}}
EMPTY_RESULT = "(no output)"
_ID_INVALID = re.compile(r"[^a-zA-Z0-9_-]")


def is_claude(model: str) -> bool:
    """Anthropic's models on Bedrock (`anthropic.claude-...`, `us.anthropic.claude-...`, an ARN)."""
    return "anthropic.claude" in model or "claude" in model.rsplit("/", 1)[-1]


def encode_request(request: ModelRequest, *, provider: str, cache_points: bool) -> dict[str, Any]:
    """The ConverseStream body (the `modelId` is in the URL)."""
    body: dict[str, Any] = {"messages": encode_messages(request.messages, provider=provider)}
    system = system_text(request)
    if system:
        body["system"] = [{"text": system}, *([CACHE_POINT] if cache_points else [])]
    if request.tools:
        tools: list[dict[str, Any]] = [encode_tool(tool) for tool in request.tools]
        body["toolConfig"] = {"tools": [*tools, *([CACHE_POINT] if cache_points else [])]}
    max_tokens = request.max_tokens
    if is_claude(request.model):
        max_tokens, thinking = thinking_settings(request.effort, request.max_tokens)
        if thinking is not None:
            body["additionalModelRequestFields"] = {"thinking": thinking}
    if max_tokens is not None:
        body["inferenceConfig"] = {"maxTokens": max_tokens}
    if cache_points and body["messages"]:
        body["messages"][-1]["content"].append(CACHE_POINT)
    return body


def system_text(request: ModelRequest) -> str:
    text = request.system.strip("\n")
    if request.output_format == "json":
        rule = JSON_ONLY_INSTRUCTION
        if request.output_schema:
            schema = orjson.dumps(request.output_schema).decode()
            rule = f"{rule} It must validate against this JSON Schema: {schema}"
        text = f"{text}\n\n{rule}" if text.strip() else rule
    return text if text.strip() else ""


def safe_id(value: str) -> str:
    """Ids from other providers made acceptable to Bedrock (`[a-zA-Z0-9_-]{1,64}`); the same
    mapping is applied to a call and its result, so they still match."""
    return _ID_INVALID.sub("_", value)[:64] or "call"


def encode_tool(tool: ToolSpec) -> dict[str, Any]:
    schema = dict(tool.parameters) if tool.parameters else {}
    schema.setdefault("type", "object")
    spec: dict[str, Any] = {"name": tool.name, "inputSchema": {"json": schema}}
    if tool.description:
        spec["description"] = tool.description
    return {"toolSpec": spec}


def encode_messages(messages: list[Message], *, provider: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for message in messages:
        blocks = [b for part in message.parts if (b := encode_part(part, provider)) is not None]
        if not blocks:
            continue
        if not out and message.role == "assistant":
            out.append({"role": "user", "content": [{"text": "(conversation resumed)"}]})
        if out and out[-1]["role"] == message.role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": message.role, "content": blocks})
    for entry in out:
        if entry["role"] == "user":
            # The answers to the previous turn's tool calls come before anything else.
            entry["content"].sort(key=lambda block: "toolResult" not in block)
    return out


def encode_part(part: Part, provider: str) -> dict[str, Any] | None:
    if isinstance(part, TextPart):
        return {"text": part.text} if part.text.strip() else None
    if isinstance(part, ToolResultPart):
        return {
            "toolResult": {
                "toolUseId": safe_id(part.call_id),
                "content": [{"text": part.content or EMPTY_RESULT}],
                "status": "error" if part.is_error else "success",
            }
        }
    if isinstance(part, ToolCallPart):
        return {
            "toolUse": {
                "toolUseId": safe_id(part.call_id),
                "name": part.name,
                "input": part.arguments,
            }
        }
    return encode_reasoning(part, provider)


def encode_reasoning(part: ThinkingPart, provider: str) -> dict[str, Any] | None:
    """Signed or redacted reasoning goes back unchanged to the provider that produced it; any other
    (another provider's, or unsigned from an interrupted block) is left out."""
    if part.provider != provider:
        return None
    if part.redacted is not None:
        return {"reasoningContent": {"redactedContent": part.redacted}}
    if part.signature:
        return {
            "reasoningContent": {"reasoningText": {"text": part.text, "signature": part.signature}}
        }
    return None
