"""A loopback Anthropic Messages API server (`POST /v1/messages`).

Requests are validated as strictly as the real API does, plus rupu's own promises:
- headers: a known `anthropic-version` (rupu sends 2023-06-01), JSON content type, exactly one
  credential: `x-api-key` (or the key as a bearer, as the SDK sends it), or a sign-in token as
  `Authorization: Bearer` with the subscription betas and the Claude Code identity line first;
- body: only keys of the SDK's `MessageCreateParams`, `max_tokens` present, alternating roles starting
  with `user`, blocks allowed for their role with exactly their keys, no empty text, every `tool_use`
  answered by a `tool_result` at the start of the next user message, thinking budgets >= 1024 and
  below `max_tokens`, closed tool schemas of type object;
- and the body must validate against the anthropic SDK's own request TypedDict.
A wrong key or token is not a protocol violation: it is answered with the API's 401.

Streams are built by `response_stream` from block specs; what they produce is checked against the
official `anthropic` SDK in tests/providers/test_anthropic_fidelity.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from tests.servers.anthropic_validate import validate_body, validate_with_sdk
from tests.servers.base import LoopbackServer, RecordedRequest, Reply, ValidationFailed, sse

API_VERSION = "2023-06-01"
# The version rupu sends, and the one the installed anthropic SDK sends; the stream is the same.
KNOWN_VERSIONS = {API_VERSION, "2026-10-21"}
SSO_BETAS = ("claude-code-20250219", "oauth-2025-04-20")
IDENTITY = "You are Claude Code, Anthropic's official CLI for Claude."
MODEL = "claude-test-1"
RATE_LIMIT_HEADERS = {
    "anthropic-ratelimit-requests-limit": "50",
    "anthropic-ratelimit-requests-remaining": "49",
    "anthropic-ratelimit-requests-reset": "2026-01-01T00:00:01Z",
    "anthropic-ratelimit-tokens-remaining": "39000",
}


class AnthropicServer(LoopbackServer):
    def __init__(
        self, *, api_key: str | None = "test-key", tokens: Sequence[str] = ("sso-token-1",)
    ) -> None:
        super().__init__()
        self.api_key = api_key
        self.tokens = set(tokens)
        self.in_flight = 0
        self.max_in_flight = 0

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/messages", self.handle)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await super().handle(request)
        finally:
            self.in_flight -= 1

    def validate(self, request: RecordedRequest) -> None:
        headers = request.headers
        if headers.get("anthropic-version") not in KNOWN_VERSIONS:
            raise ValidationFailed(f"anthropic-version must be one of {sorted(KNOWN_VERSIONS)}")
        if not headers.get("content-type", "").startswith("application/json"):
            raise ValidationFailed("content-type must be application/json")
        has_key, has_bearer = "x-api-key" in headers, "authorization" in headers
        if has_key == has_bearer:
            raise ValidationFailed("send exactly one of x-api-key and Authorization")
        body = request.body
        if not isinstance(body, dict):
            raise ValidationFailed("body must be a JSON object")
        validate_body(body)
        if has_bearer and not headers["authorization"].startswith("Bearer "):
            raise ValidationFailed("Authorization must be a Bearer token")
        # A bearer that is the API key is the SDK's key auth; any other bearer is a sign-in token.
        if has_bearer and headers["authorization"][7:] != self.api_key:
            betas = {b.strip() for b in headers.get("anthropic-beta", "").split(",")}
            if not set(SSO_BETAS) <= betas:
                raise ValidationFailed(f"the subscription route needs anthropic-beta {SSO_BETAS}")
            system = body.get("system")
            if not isinstance(system, list) or not system or system[0].get("text") != IDENTITY:
                raise ValidationFailed("the subscription route needs the Claude Code line first")
        validate_with_sdk(body)

    def next_reply(self, recorded: RecordedRequest) -> Reply:
        headers = recorded.headers
        if "x-api-key" in headers and headers["x-api-key"] != self.api_key:
            return error_reply(401, "authentication_error", "invalid x-api-key")
        bearer = headers.get("authorization", "")[7:]
        if bearer and bearer != self.api_key and bearer not in self.tokens:
            return error_reply(401, "authentication_error", "OAuth token has expired")
        return super().next_reply(recorded)


# -- scripted responses ---------------------------------------------------------------------------


@dataclass
class Text:
    pieces: Sequence[str]  # one text_delta each; a plain str streams one character per delta


@dataclass
class Thinking:
    pieces: list[str]
    signature: str = "sig-" + "A" * 40
    signature_parts: int = 1


@dataclass
class Redacted:
    data: str


@dataclass
class ToolUse:
    id: str
    name: str
    input: dict[str, Any]
    split: int = 3


Block = Text | Thinking | Redacted | ToolUse


@dataclass
class Usage:
    input_tokens: int = 25
    output_tokens: int = 12
    cache_read: int = 0
    cache_write: int = 0
    thinking_tokens: int | None = None


def block_events(index: int, block: Block) -> list[bytes]:
    def delta(payload: dict[str, Any]) -> bytes:
        return sse(
            {"type": "content_block_delta", "index": index, "delta": payload},
            "content_block_delta",
        )

    match block:
        case Text(pieces):
            start: dict[str, Any] = {"type": "text", "text": ""}
            deltas = [delta({"type": "text_delta", "text": p}) for p in pieces]
        case Thinking(pieces, signature, parts):
            start = {"type": "thinking", "thinking": "", "signature": ""}
            deltas = [delta({"type": "thinking_delta", "thinking": p}) for p in pieces]
            step = -(-len(signature) // parts)
            deltas += [
                delta({"type": "signature_delta", "signature": signature[i : i + step]})
                for i in range(0, len(signature), step)
            ]
        case Redacted(data):
            start = {"type": "redacted_thinking", "data": data}
            deltas = []
        case ToolUse(call_id, name, arguments, split):
            start = {"type": "tool_use", "id": call_id, "name": name, "input": {}}
            text = orjson.dumps(arguments).decode()
            step = max(1, -(-len(text) // split))
            deltas = [delta({"type": "input_json_delta", "partial_json": ""})]
            deltas += [
                delta({"type": "input_json_delta", "partial_json": text[i : i + step]})
                for i in range(0, len(text), step)
            ]
    head = sse(
        {"type": "content_block_start", "index": index, "content_block": start},
        "content_block_start",
    )
    tail = sse({"type": "content_block_stop", "index": index}, "content_block_stop")
    return [head, *deltas, tail]


def message_start(model: str = MODEL, usage: Usage | None = None) -> bytes:
    usage = usage or Usage()
    return sse(
        {
            "type": "message_start",
            "message": {
                "id": "msg_test_01",
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {
                    "input_tokens": usage.input_tokens,
                    "output_tokens": 1,
                    "cache_read_input_tokens": usage.cache_read,
                    "cache_creation_input_tokens": usage.cache_write,
                },
            },
        },
        "message_start",
    )


def message_end(stop_reason: str | None, usage: Usage | None = None) -> list[bytes]:
    usage = usage or Usage()
    final: dict[str, Any] = {"output_tokens": usage.output_tokens}
    if usage.thinking_tokens is not None:
        final["output_tokens_details"] = {"thinking_tokens": usage.thinking_tokens}
    return [
        sse(
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                "usage": final,
            },
            "message_delta",
        ),
        sse({"type": "message_stop"}, "message_stop"),
    ]


PING = sse({"type": "ping"}, "ping")


def response_stream(
    blocks: Sequence[Block],
    *,
    stop_reason: str | None = "end_turn",
    model: str = MODEL,
    usage: Usage | None = None,
    extra_events: Sequence[bytes] = (),
    terminal: bool = True,
) -> list[bytes]:
    """A whole response: `message_start`, a ping, each block, `extra_events` (unknown events, say),
    then `message_delta` and `message_stop` (left off when `terminal` is False: a truncated
    stream)."""
    chunks = [message_start(model, usage), PING]
    for index, block in enumerate(blocks):
        chunks += block_events(index, block)
    chunks += list(extra_events)
    end = message_end(stop_reason, usage)
    return chunks + (end if terminal else end[:1])


def error_event(error_type: str, message: str) -> bytes:
    return sse(
        {
            "type": "error",
            "error": {"type": error_type, "message": message},
            "request_id": "req_stream_err",
        },
        "error",
    )


def stream_reply(chunks: list[bytes], **kwargs: Any) -> Reply:
    headers = {"request-id": "req_test_123", **RATE_LIMIT_HEADERS, **kwargs.pop("headers", {})}
    return Reply(chunks=chunks, headers=headers, **kwargs)


def error_reply(
    status: int, error_type: str, message: str, *, headers: dict[str, str] | None = None
) -> Reply:
    body = orjson.dumps(
        {
            "type": "error",
            "error": {"type": error_type, "message": message},
            "request_id": "req_err_1",
        }
    )
    return Reply(
        status=status,
        body=body,
        content_type="application/json",
        headers={"request-id": "req_err_1", **(headers or {})},
    )


def html_502() -> Reply:
    page = (
        b"<html><head><title>502 Bad Gateway</title><style>body{color:red}</style></head>"
        b"<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>"
    )
    return Reply(status=502, body=page, content_type="text/html")
