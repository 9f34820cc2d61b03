"""A loopback Amazon Bedrock: the runtime's ConverseStream (`POST /model/{modelId}/converse-stream`)
and the control plane's model lists (`GET /foundation-models`, `GET /inference-profiles`).

Every request must carry a SigV4 signature that botocore's own signer reproduces from the raw path,
the signed headers and the raw body, with keys the server knows (`keys`, which an identity stand-in
in `aws_identity.py` adds to as it issues them) in the right region and service; ConverseStream
bodies are validated against the bedrock-runtime service model by botocore's `ParamValidator`.
Answers are real `application/vnd.amazon.eventstream` frames (`bedrock_wire.frame`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import orjson
from aiohttp import web

from tests.servers.base import LoopbackServer, RecordedRequest, Reply, ValidationFailed
from tests.servers.bedrock_wire import (
    AwsKeys,
    SignatureInvalid,
    event,
    exception,
    validate_input,
    verify_sigv4,
)

EVENT_STREAM = "application/vnd.amazon.eventstream"
REQUEST_ID = "6a1f0c4e-bedrock-req"


@dataclass
class Text:
    chunks: list[str]


@dataclass
class Reasoning:
    chunks: list[str]
    signature: str | None = None
    redacted: str | None = None


@dataclass
class ToolUse:
    tool_use_id: str
    name: str
    input_chunks: list[str]


Block = Text | Reasoning | ToolUse


@dataclass
class Usage:
    input_tokens: int = 10
    output_tokens: int = 5
    cache_read: int | None = None
    cache_write: int | None = None

    def as_wire(self) -> dict[str, int]:
        wire = {
            "inputTokens": self.input_tokens,
            "outputTokens": self.output_tokens,
            "totalTokens": self.input_tokens
            + self.output_tokens
            + (self.cache_read or 0)
            + (self.cache_write or 0),
        }
        if self.cache_read is not None:
            wire["cacheReadInputTokens"] = self.cache_read
        if self.cache_write is not None:
            wire["cacheWriteInputTokens"] = self.cache_write
        return wire


def block_events(index: int, block: Block) -> list[bytes]:
    frames: list[bytes] = []
    match block:
        case Text(chunks=chunks):
            for chunk in chunks:
                delta = {"contentBlockIndex": index, "delta": {"text": chunk}}
                frames.append(event("contentBlockDelta", delta))
        case Reasoning(chunks=chunks, signature=signature, redacted=redacted):
            for chunk in chunks:
                delta = {"contentBlockIndex": index, "delta": {"reasoningContent": {"text": chunk}}}
                frames.append(event("contentBlockDelta", delta))
            if redacted is not None:
                delta = {
                    "contentBlockIndex": index,
                    "delta": {"reasoningContent": {"redactedContent": redacted}},
                }
                frames.append(event("contentBlockDelta", delta))
            if signature is not None:
                delta = {
                    "contentBlockIndex": index,
                    "delta": {"reasoningContent": {"signature": signature}},
                }
                frames.append(event("contentBlockDelta", delta))
        case ToolUse(tool_use_id=tool_use_id, name=name, input_chunks=chunks):
            start = {"toolUse": {"toolUseId": tool_use_id, "name": name}}
            frames.append(event("contentBlockStart", {"contentBlockIndex": index, "start": start}))
            for chunk in chunks:
                delta = {"contentBlockIndex": index, "delta": {"toolUse": {"input": chunk}}}
                frames.append(event("contentBlockDelta", delta))
    frames.append(event("contentBlockStop", {"contentBlockIndex": index}))
    return frames


def converse_stream(
    blocks: Sequence[Block], *, stop: str = "end_turn", usage: Usage | None = None
) -> list[bytes]:
    """The frames of one ConverseStream answer, in the API's order."""
    frames = [event("messageStart", {"role": "assistant"})]
    for index, block in enumerate(blocks):
        frames.extend(block_events(index, block))
    frames.append(event("messageStop", {"stopReason": stop}))
    metrics = {"latencyMs": 42}
    frames.append(event("metadata", {"usage": (usage or Usage()).as_wire(), "metrics": metrics}))
    return frames


def stream_reply(frames: list[bytes], **kwargs: Any) -> Reply:
    return Reply(
        chunks=frames,
        content_type=EVENT_STREAM,
        headers={"x-amzn-requestid": REQUEST_ID},
        **kwargs,
    )


def text_reply(*chunks: str, usage: Usage | None = None) -> Reply:
    return stream_reply(converse_stream([Text(list(chunks))], usage=usage))


def tool_reply(tool_use_id: str, name: str, arguments: dict[str, Any]) -> Reply:
    raw = orjson.dumps(arguments).decode()
    pieces = [raw[: len(raw) // 2], raw[len(raw) // 2 :]]
    return stream_reply(converse_stream([ToolUse(tool_use_id, name, pieces)], stop="tool_use"))


def exception_reply(exception_type: str, message: str) -> Reply:
    """A stream that fails mid-way with an `exception` message (lower camel case name)."""
    frames = [event("messageStart", {"role": "assistant"}), exception(exception_type, message)]
    return stream_reply(frames)


def error_reply(status: int, name: str, message: str) -> Reply:
    return Reply(
        status=status,
        body=orjson.dumps({"message": message}),
        headers={
            "x-amzn-errortype": f"{name}:http://internal.amazon.com/coral/com.amazon.bedrock/",
            "x-amzn-requestid": REQUEST_ID,
        },
        content_type="application/json",
    )


@dataclass
class SignedBy:
    """Which key signed each request, in order (the identity tests assert on it)."""

    access_keys: list[str] = field(default_factory=list)


class BedrockServer(LoopbackServer):
    def __init__(self, keys: dict[str, AwsKeys], *, region: str = "us-west-2") -> None:
        super().__init__()
        self.keys = keys
        self.region = region
        self.signed_by = SignedBy()
        self.foundation_models: list[dict[str, Any]] = []
        self.inference_profiles: list[list[dict[str, Any]]] = []

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/model/{model}/converse-stream", self.converse)
        app.router.add_get("/foundation-models", self.list_foundation_models)
        app.router.add_get("/inference-profiles", self.list_inference_profiles)

    async def _recorded(self, request: web.Request) -> RecordedRequest | web.Response:
        recorded = await self.record(request)
        recorded.path = request.raw_path.split("?", 1)[0]
        try:
            self._check_signature(request, recorded)
            self.validate(recorded)
        except ValidationFailed as exc:
            self.violations.append(str(exc))
            return web.Response(
                status=400,
                body=orjson.dumps({"message": str(exc)}),
                headers={"x-amzn-errortype": "ValidationException"},
                content_type="application/json",
            )
        return recorded

    def _check_signature(self, request: web.Request, recorded: RecordedRequest) -> None:
        try:
            keys = verify_sigv4(
                method=request.method,
                host=recorded.headers.get("host", ""),
                raw_path=request.raw_path,
                headers=recorded.headers,
                body=recorded.raw,
                keys=self.keys,
                service="bedrock",
                region=self.region,
            )
        except (SignatureInvalid, KeyError, ValueError) as exc:
            raise ValidationFailed(f"SigV4: {exc}") from None
        self.signed_by.access_keys.append(keys.access_key)

    def validate(self, request: RecordedRequest) -> None:
        if request.method != "POST":
            return
        if request.headers.get("content-type") != "application/json":
            raise ValidationFailed("content-type must be application/json")
        if not isinstance(request.body, dict):
            raise ValidationFailed("the body is not a JSON object")
        model = unquote(request.path.removeprefix("/model/").removesuffix("/converse-stream"))
        report = validate_input(
            "bedrock-runtime", "ConverseStream", {"modelId": model, **request.body}
        )
        if report is not None:
            raise ValidationFailed(f"ConverseStream input: {report}")
        self._check_conversation(request.body)

    def _check_conversation(self, body: dict[str, Any]) -> None:
        """What the service model cannot say: alternating roles from the user, every toolResult
        answering a toolUse of the message before it, no empty text."""
        messages = body["messages"]
        if not messages or messages[0]["role"] != "user":
            raise ValidationFailed("the conversation must start with a user message")
        previous: dict[str, Any] | None = None
        for message in messages:
            if previous is not None and previous["role"] == message["role"]:
                raise ValidationFailed("roles must alternate")
            asked = {
                b["toolUse"]["toolUseId"]
                for b in (previous or {}).get("content", [])
                if "toolUse" in b
            }
            for block in message["content"]:
                if "text" in block and not block["text"].strip():
                    raise ValidationFailed("a text block is empty")
                if "toolResult" in block and block["toolResult"]["toolUseId"] not in asked:
                    raise ValidationFailed("a toolResult answers no toolUse of the previous turn")
            previous = message

    async def converse(self, request: web.Request) -> web.StreamResponse:
        recorded = await self._recorded(request)
        if isinstance(recorded, web.Response):
            return recorded
        return await self.send(request, self.next_reply(recorded))

    async def list_foundation_models(self, request: web.Request) -> web.StreamResponse:
        recorded = await self._recorded(request)
        if isinstance(recorded, web.Response):
            return recorded
        return web.json_response({"modelSummaries": self.foundation_models})

    async def list_inference_profiles(self, request: web.Request) -> web.StreamResponse:
        recorded = await self._recorded(request)
        if isinstance(recorded, web.Response):
            return recorded
        index = int(request.query.get("nextToken", "0"))
        pages = self.inference_profiles or [[]]
        page: dict[str, Any] = {"inferenceProfileSummaries": pages[index]}
        if index + 1 < len(pages):
            page["nextToken"] = str(index + 1)
        return web.json_response(page)
