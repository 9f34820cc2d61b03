"""The OpenAI chat-completions dialect (`POST {root}/v1/chat/completions`), spoken by OpenAI and by
most OpenAI-compatible servers (Ollama, vLLM, llama.cpp, OpenRouter, Groq, ...)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from rupu.auth.credentials import Credential
from rupu.errors import ConfigError, ProviderError, StreamInterrupted
from rupu.messages import (
    Message,
    ModelRequest,
    ResponseFinished,
    ResponseStarted,
    StopReason,
    StreamEvent,
    TextDelta,
    TextPart,
    ThinkingDelta,
    ToolCallDelta,
    ToolCallPart,
    ToolCallStarted,
    ToolResultPart,
    Usage,
    UsageReported,
)
from rupu.modeldata.schema import reasons
from rupu.providers.base import ProviderSetup
from rupu.providers.chat_compat import DEFAULT_COMPAT, apply_compat, chat_url
from rupu.providers.dialect import BaseDialect, WireRequest
from rupu.providers.failures import provider_error
from rupu.providers.http import HttpClient, parse_error_body, request_id_of
from rupu.providers.http_provider import HttpProvider
from rupu.version import __version__

FINISH_REASONS: dict[str, StopReason] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "content_filter",
}


def chat_completions_url(base_url: str) -> str:
    """`http://h:1`, `http://h:1/`, `http://h:1/v1` and `http://h:1/v1/` all become
    `http://h:1/v1/chat/completions`."""
    return chat_url(base_url, DEFAULT_COMPAT)


def encode_messages(system: str, messages: list[Message]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    for message in messages:
        if message.role == "user":
            text = "".join(p.text for p in message.parts if isinstance(p, TextPart))
            for part in message.parts:
                if isinstance(part, ToolResultPart):
                    out.append(
                        {"role": "tool", "tool_call_id": part.call_id, "content": part.content}
                    )
            if text:
                out.append({"role": "user", "content": text})
            continue
        entry: dict[str, Any] = {"role": "assistant", "content": message.text() or None}
        calls = [p for p in message.parts if isinstance(p, ToolCallPart)]
        if calls:
            entry["tool_calls"] = [
                {
                    "id": c.call_id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": orjson.dumps(c.arguments).decode()},
                }
                for c in calls
            ]
        out.append(entry)
    return out


def encode_request(
    request: ModelRequest, *, stream: bool, reasoning_effort: bool = True
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": request.model,
        "messages": encode_messages(request.system, request.messages),
        "stream": stream,
    }
    if stream:
        body["stream_options"] = {"include_usage": True}
    if request.tools:
        body["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": t.name,
                    "description": t.description,
                    "parameters": t.parameters,
                },
            }
            for t in request.tools
        ]
    if request.max_tokens:
        body["max_tokens"] = request.max_tokens
    if reasoning_effort and request.effort and request.effort != "auto":
        body["reasoning_effort"] = "high" if request.effort == "max" else request.effort
    if request.output_format == "json":
        if request.output_schema:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "output", "schema": request.output_schema},
            }
        else:
            body["response_format"] = {"type": "json_object"}
    return body


def decode_usage(raw: Mapping[str, Any]) -> Usage:
    prompt = int(raw.get("prompt_tokens") or 0)
    details = raw.get("prompt_tokens_details") or {}
    cached = int(details.get("cached_tokens") or raw.get("prompt_cache_hit_tokens") or 0)
    completion = raw.get("completion_tokens_details") or {}
    return Usage(
        input_tokens=max(prompt - cached, 0),
        output_tokens=int(raw.get("completion_tokens") or 0),
        cache_read_tokens=cached,
        cache_write_tokens=int(raw.get("cache_write_tokens") or 0),
        reasoning_tokens=int(completion.get("reasoning_tokens") or 0),
        reported=True,
    )


class ChatStreamDecoder:
    """Sans-IO: one parsed chunk in, events out. Tool calls are keyed by `index` (some gateways
    change ids mid-stream)."""

    __slots__ = ("_calls", "_finish", "_started", "_tier", "request_id", "usage")

    def __init__(self, request_id: str | None = None) -> None:
        self.request_id = request_id
        self._started = False
        self._calls: set[int] = set()
        self._finish: str | None = None
        self._tier: str | None = None
        self.usage: Usage | None = None

    def feed(self, chunk: Mapping[str, Any]) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        if not self._started:
            self._started = True
            events.append(ResponseStarted(model=chunk.get("model"), request_id=self.request_id))
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or choice.get("message") or {}
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if reasoning and isinstance(reasoning, str):
                events.append(ThinkingDelta(reasoning))
            content = delta.get("content")
            if content:
                events.append(TextDelta(content))
            for call in delta.get("tool_calls") or ():
                index = int(call.get("index", 0))
                function = call.get("function") or {}
                if index not in self._calls:
                    self._calls.add(index)
                    call_id = call.get("id") or f"call_{index}"
                    events.append(ToolCallStarted(index, call_id, function.get("name") or ""))
                arguments = function.get("arguments")
                if arguments:
                    if not isinstance(arguments, str):
                        arguments = orjson.dumps(arguments).decode()
                    events.append(ToolCallDelta(index, arguments))
            if choice.get("finish_reason"):
                self._finish = choice["finish_reason"]
        tier = chunk.get("service_tier")
        if isinstance(tier, str) and tier:
            self._tier = tier
        usage = chunk.get("usage")
        if usage:
            self.usage = decode_usage(usage)
        return events

    def finish(self) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        if self.usage is not None:
            self.usage.service_tier = self._tier
            events.append(UsageReported(self.usage))
        reason: StopReason = FINISH_REASONS.get(self._finish or "", "unknown")
        if self._calls and reason in ("end_turn", "unknown"):
            reason = "tool_use"
        events.append(ResponseFinished(reason, self._finish))
        return events

    @property
    def saw_finish(self) -> bool:
        return self._finish is not None


@dataclass(frozen=True, slots=True)
class ChatTarget:
    """Where one request goes and the headers it carries besides content-type and accept."""

    url: str
    headers: Mapping[str, str]


class ChatEndpoint(Protocol):
    """Where a vendor hosts the dialect: the URL and auth/vendor headers for each request, and
    whether the server accepts `reasoning_effort`. Vendors with their own auth (Copilot) supply one;
    everyone else gets `ConfiguredEndpoint`."""

    sends_reasoning_effort: bool

    async def target(self, request: ModelRequest, credential: Credential | None) -> ChatTarget: ...


class ConfiguredEndpoint:
    """`{base_url}/v1/chat/completions` with the configured headers and a bearer key (none for a
    keyless endpoint)."""

    sends_reasoning_effort = True

    def __init__(self, setup: ProviderSetup) -> None:
        if not setup.config.base_url:
            raise ConfigError(
                f"provider '{setup.name}' has no base_url", hint="set base_url in config.toml"
            )
        self._setup = setup
        self._url = chat_url(setup.config.base_url, setup.config.compat or DEFAULT_COMPAT)

    async def target(self, request: ModelRequest, credential: Credential | None) -> ChatTarget:
        headers = {"user-agent": f"rupu/{__version__}", **self._setup.config.headers}
        if credential is not None:
            headers["authorization"] = f"Bearer {credential.secret.reveal()}"
        return ChatTarget(self._url, headers)


class ChatEvents:
    """A `StreamDecoder` for chat-completion chunks: `done` at `[DONE]`; a stream that ends with
    neither `[DONE]` nor a finish reason is an error; an error chunk is raised."""

    __slots__ = ("_decoder", "_model", "_provider", "done")

    def __init__(self, provider: str, model: str, request_id: str | None) -> None:
        self._decoder = ChatStreamDecoder(request_id)
        self._provider = provider
        self._model = model
        self.done = False

    def feed(self, payload: bytes) -> Iterable[StreamEvent]:
        if payload == b"[DONE]":
            self.done = True
            return ()
        chunk = orjson.loads(payload)
        if "error" in chunk and not chunk.get("choices"):
            raise self._stream_error(chunk)
        return self._decoder.feed(chunk)

    def finish(self) -> Iterable[StreamEvent]:
        if not self.done and not self._decoder.saw_finish:
            raise StreamInterrupted(
                self._provider,
                "the stream ended before the response was complete",
                model=self._model,
                error_type="truncated_stream",
                request_id=self._decoder.request_id,
            )
        return self._decoder.finish()

    def _stream_error(self, chunk: Mapping[str, Any]) -> ProviderError:
        error_type, message = parse_error_body(orjson.dumps(chunk))
        return provider_error(
            self._provider,
            message or "the provider reported an error mid-stream",
            error_type=error_type,
            request_id=self._decoder.request_id,
        )


class ChatDialect(BaseDialect):
    """Chat completions at `endpoint`, streamed unless the provider's `stream = false`, the body
    adjusted to the endpoint's quirks (`[providers.x.compat]`)."""

    def __init__(self, setup: ProviderSetup, endpoint: ChatEndpoint | None = None) -> None:
        super().__init__(setup.name)
        self._setup = setup
        self._endpoint = endpoint or ConfiguredEndpoint(setup)
        self._compat = setup.config.compat or DEFAULT_COMPAT
        self._stream = setup.config.stream

    async def encode(
        self, request: ModelRequest, credential: Credential | None, *, http: HttpClient
    ) -> WireRequest:
        body = self._encode(request, stream=self._stream)
        target = await self._endpoint.target(request, credential)
        headers = {
            "content-type": "application/json",
            "accept": "text/event-stream" if self._stream else "application/json",
            **target.headers,
        }
        return WireRequest(target.url, headers, body, streamed=self._stream)

    def _encode(self, request: ModelRequest, *, stream: bool) -> dict[str, Any]:
        effort = self._endpoint.sends_reasoning_effort
        if effort and self._compat.effort_models == "catalog":
            effort = reasons(self.provider, request.model) is True
        body = encode_request(request, stream=stream, reasoning_effort=effort)
        return apply_compat(
            body,
            self._compat,
            provider=self.provider,
            service_tier=request.service_tier or self._setup.config.service_tier,
        )

    def decoder(
        self, request: ModelRequest, wire: WireRequest, headers: Mapping[str, str]
    ) -> ChatEvents:
        return ChatEvents(self.provider, request.model, request_id_of(headers))

    def decode_body(
        self, request: ModelRequest, data: Any, headers: Mapping[str, str]
    ) -> Iterable[StreamEvent]:
        if not isinstance(data, dict) or not isinstance(data.get("choices"), list):
            raise ProviderError(self.provider, "the response has no choices", model=request.model)
        decoder = ChatStreamDecoder(request_id_of(headers))
        return [*decoder.feed(data), *decoder.finish()]


class OpenAIChatProvider(HttpProvider):
    """The HTTP provider on the chat-completions dialect, at `endpoint` (default: the configured
    base_url with a bearer key)."""

    def __init__(self, setup: ProviderSetup, *, endpoint: ChatEndpoint | None = None) -> None:
        super().__init__(setup, ChatDialect(setup, endpoint))


def create(setup: ProviderSetup) -> OpenAIChatProvider:
    return OpenAIChatProvider(setup)
