"""The provider protocol, and `TurnBuilder`, which folds any provider's events into one turn."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, assert_never

import orjson

from rupu.auth.credentials import CredentialSource
from rupu.clock import SYSTEM_CLOCK, Clock
from rupu.config import ProviderConfig
from rupu.errors import StreamInterrupted
from rupu.messages import (
    AssistantTurn,
    FailedOver,
    Message,
    ModelRequest,
    Part,
    RateLimitObserved,
    ResponseFinished,
    ResponseStarted,
    RetryScheduled,
    ServedBy,
    StopReason,
    StreamEvent,
    TextDelta,
    TextPart,
    ThinkingDelta,
    ThinkingFinished,
    ThinkingPart,
    ToolCallDelta,
    ToolCallFinished,
    ToolCallPart,
    ToolCallStarted,
    Usage,
    UsageReported,
)
from rupu.providers.retry import RetryPolicy, Sleep

if TYPE_CHECKING:
    import httpx


class Provider(Protocol):
    """Turns a request into a stream of events. Raises `ProviderError` for anything the provider
    refused or broke; a stream that ends without its terminal event is an error too."""

    name: str

    def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True, slots=True)
class ProviderSetup:
    """Everything a provider factory needs; built once per provider per run. `transport`, when set,
    carries every HTTP request of the provider (an `httpx.MockTransport` in tests). The provider
    waits (retry backoff, polls) with `sleep` when set, else with `clock.sleep`; tests pass a
    `rupu.testing.FakeClock` as `clock`."""

    name: str
    kind: str
    config: ProviderConfig
    credentials: CredentialSource | None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    sleep: Sleep | None = None
    clock: Clock = SYSTEM_CLOCK
    transport: httpx.AsyncBaseTransport | None = None


ProviderFactory = Callable[[ProviderSetup], Provider]


class TurnBuilder:
    """Accumulates stream events into an `AssistantTurn`. Tool-call arguments that arrive as text
    fragments are parsed when the turn finishes."""

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self.parts: list[Part] = []
        self._text: list[str] = []
        self._thinking: list[str] = []
        self._calls: dict[int, ToolCallPart] = {}
        self._call_args: dict[int, list[str]] = {}
        self.usage = Usage()
        self.finished: AssistantTurn | None = None
        self._served: str | None = None
        self._request_id: str | None = None
        self._rate_limits: dict[str, str | int | float] = {}
        self._retries: list[RetryScheduled] = []
        self._failovers: list[FailedOver] = []
        self._served_by: ServedBy | None = None
        self._credential: str | None = None

    def add(self, event: StreamEvent) -> None:
        match event:
            case TextDelta(text=text):
                if self._thinking:
                    self._flush_thinking()
                self._text.append(text)
            case ThinkingDelta(text=text):
                if self._text:
                    self._flush_text()
                self._thinking.append(text)
            case ResponseStarted(model=model, request_id=request_id, credential=credential):
                self._served = model or self._served
                self._request_id = request_id or self._request_id
                self._credential = credential or self._credential
            case ThinkingFinished(signature=signature, redacted=redacted, item_id=item_id):
                self._flush_text()
                thinking = "".join(self._thinking)
                self._thinking = []
                self.parts.append(
                    ThinkingPart(
                        thinking, signature, redacted, provider=self.provider, item_id=item_id
                    )
                )
            case ToolCallStarted(index=index, call_id=call_id, name=name, item_id=item_id):
                self._flush_text()
                self._flush_thinking()
                part = ToolCallPart(call_id, name, {}, item_id=item_id)
                self._calls[index] = part
                self._call_args[index] = []
                self.parts.append(part)
            case ToolCallDelta(index=index, arguments=fragment):
                self._call_args.setdefault(index, []).append(fragment)
            case ToolCallFinished(index=index, arguments=arguments, signature=signature):
                call = self._calls.get(index)
                if call is not None:
                    call.arguments = arguments
                    call.signature = signature
                    self._call_args.pop(index, None)
            case UsageReported(usage=usage):
                self.usage = usage
            case RateLimitObserved(snapshot=snapshot):
                self._rate_limits.update(snapshot)
            case RetryScheduled():
                self._retries.append(event)
            case FailedOver(to_provider=provider, to_model=model, to_credential=credential):
                self._failovers.append(event)
                self._served_by = ServedBy(provider, model, credential)
                self.provider = provider
                self._rate_limits = {}  # the quota headers of who serves now, not who failed
                self._credential = None
            case ResponseFinished(stop_reason=stop_reason, raw_reason=raw_reason):
                self._finish(stop_reason, raw_reason)
            case _:
                assert_never(event)

    @property
    def rate_limits(self) -> dict[str, str | int | float]:
        return self._rate_limits

    @property
    def served_by(self) -> ServedBy | None:
        return self._served_by

    def _flush_text(self) -> None:
        if self._text:
            self.parts.append(TextPart("".join(self._text)))
            self._text = []

    def _flush_thinking(self) -> None:
        if self._thinking:
            self.parts.append(ThinkingPart("".join(self._thinking), provider=self.provider))
            self._thinking = []

    def _finish(self, stop_reason: StopReason, raw_reason: str | None) -> None:
        self._flush_text()
        self._flush_thinking()
        for index, fragments in self._call_args.items():
            call = self._calls.get(index)
            if call is not None:
                call.arguments = parse_arguments(self.provider, call.name, "".join(fragments))
        self.finished = AssistantTurn(
            message=Message("assistant", self.parts),
            stop_reason=stop_reason,
            usage=self.usage,
            served_model=self._served,
            request_id=self._request_id,
            raw_reason=raw_reason,
            rate_limits=self._rate_limits,
            retries=self._retries,
            served_by=self._served_by,
            failovers=self._failovers,
            credential=self._credential,
        )

    def result(self) -> AssistantTurn:
        if self.finished is None:
            raise StreamInterrupted(
                self.provider,
                "the stream ended before the response was complete",
                error_type="truncated_stream",
            )
        return self.finished


def parse_arguments(provider: str, tool: str, raw: str) -> dict[str, Any]:
    """Tool-call arguments as a dict. Unparseable text is kept under `__invalid_json__` so the agent
    loop can hand the error back to the model instead of failing the run."""
    if not raw.strip():
        return {}
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {"__invalid_json__": raw}
    return value if isinstance(value, dict) else {"__invalid_json__": raw}
