"""Encoding a `ModelRequest` as an OpenAI Responses API body (sans-IO).

Replay is stateless (Codex-style): every request carries the whole conversation, `store` is false,
and a reasoning item goes back only with the `encrypted_content` it came with; without it the server
could only look the item up by id, which a `store: false` response never allows. Item ids of
messages and function calls are not sent (they would make the server check pairings against items
it never stored); tool results refer to the call's `call_id`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from rupu.messages import (
    Effort,
    Message,
    ModelRequest,
    TextPart,
    ThinkingPart,
    ToolCallPart,
    ToolResultPart,
)

ENCRYPTED_REASONING = "reasoning.encrypted_content"
MIN_OUTPUT_TOKENS = 16  # the API rejects a smaller max_output_tokens

EFFORTS: dict[Effort, str | None] = {
    "auto": None,
    "minimal": "minimal",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "max": "high",
}


@dataclass(frozen=True, slots=True)
class Dialect:
    """What differs between the two routes that speak this API.

    `replay_from` is the provider name whose reasoning may be replayed (reasoning signed for one
    account or endpoint is meaningless to another). `always_encrypted` asks for encrypted reasoning
    on every request (the ChatGPT backend serves reasoning models only); otherwise it is asked for
    when a reasoning effort is set, because non-reasoning models reject the `include`.
    `max_output_tokens` is off for the ChatGPT backend, which rejects the parameter.
    """

    replay_from: str
    always_encrypted: bool = False
    send_max_output_tokens: bool = True
    instructions_required: bool = False
    prompt_cache_key: str | None = None


def reasoning_effort(effort: Effort | None) -> str | None:
    """rupu's effort as the API's `reasoning.effort`; None means: let the model decide."""
    return EFFORTS[effort] if effort else None


def encode_input(messages: list[Message], *, replay_from: str) -> list[dict[str, Any]]:
    """The conversation as Responses `input` items, in order."""
    items: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "user":
            _encode_user(message, items)
        else:
            _encode_assistant(message, items, replay_from)
    return items


def _encode_user(message: Message, items: list[dict[str, Any]]) -> None:
    text: list[str] = []
    for part in message.parts:
        if isinstance(part, ToolResultPart):
            items.append(
                {"type": "function_call_output", "call_id": part.call_id, "output": part.content}
            )
        elif isinstance(part, TextPart):
            text.append(part.text)
    if text:
        items.append({"role": "user", "content": "".join(text)})


def _encode_assistant(message: Message, items: list[dict[str, Any]], replay_from: str) -> None:
    text: list[str] = []

    def flush_text() -> None:
        if text:
            items.append({"role": "assistant", "content": "".join(text)})
            text.clear()

    for part in message.parts:
        if isinstance(part, TextPart):
            text.append(part.text)
        elif isinstance(part, ThinkingPart):
            flush_text()
            if part.signature and part.item_id and part.provider == replay_from:
                items.append(
                    {
                        "type": "reasoning",
                        "id": part.item_id,
                        "summary": (
                            [{"type": "summary_text", "text": part.text}] if part.text else []
                        ),
                        "encrypted_content": part.signature,
                    }
                )
        elif isinstance(part, ToolCallPart):
            flush_text()
            items.append(
                {
                    "type": "function_call",
                    "call_id": part.call_id,
                    "name": part.name,
                    "arguments": _arguments_text(part.arguments),
                }
            )
    flush_text()


def _arguments_text(arguments: dict[str, Any]) -> str:
    invalid = arguments.get("__invalid_json__")
    if isinstance(invalid, str) and len(arguments) == 1:
        return invalid
    return orjson.dumps(arguments).decode()


MINIMAL_INSTRUCTIONS = "You are a helpful assistant."


def encode_request(request: ModelRequest, dialect: Dialect) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": request.model,
        "input": encode_input(request.messages, replay_from=dialect.replay_from),
        "stream": True,
        "store": False,
    }
    if request.system:
        body["instructions"] = request.system
    elif dialect.instructions_required:
        # The ChatGPT backend rejects `instructions: ""` ("Instructions are not valid").
        body["instructions"] = MINIMAL_INSTRUCTIONS
    if request.tools:
        body["tools"] = [
            {
                "type": "function",
                "name": tool.name,
                "description": tool.description,
                "parameters": tool.parameters,
                "strict": False,
            }
            for tool in request.tools
        ]
    effort = reasoning_effort(request.effort)
    if effort is not None:
        body["reasoning"] = {"effort": effort, "summary": "auto"}
    if effort is not None or dialect.always_encrypted:
        body["include"] = [ENCRYPTED_REASONING]
    if request.max_tokens and dialect.send_max_output_tokens:
        body["max_output_tokens"] = max(request.max_tokens, MIN_OUTPUT_TOKENS)
    if request.output_format == "json" or request.output_schema:
        body["text"] = {"format": _text_format(request)}
    if dialect.prompt_cache_key:
        body["prompt_cache_key"] = dialect.prompt_cache_key
    return body


def _text_format(request: ModelRequest) -> dict[str, Any]:
    if request.output_schema:
        return {
            "type": "json_schema",
            "name": "output",
            "schema": request.output_schema,
            "strict": False,
        }
    return {"type": "json_object"}


def responses_url(base_url: str) -> str:
    """`https://h`, `https://h/`, `https://h/v1` and `https://h/v1/` all become
    `https://h/v1/responses`."""
    root = base_url.rstrip("/")
    root = root.removesuffix("/v1")
    return f"{root}/v1/responses"


def codex_responses_url(sso_base_url: str) -> str:
    """`https://chatgpt.com` (or the same with `/backend-api` or `/backend-api/codex`) becomes
    `https://chatgpt.com/backend-api/codex/responses`."""
    root = sso_base_url.rstrip("/")
    root = root.removesuffix("/codex").removesuffix("/backend-api")
    return f"{root}/backend-api/codex/responses"
