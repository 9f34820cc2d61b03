"""Conversation types and the stream events every provider emits.

A provider turns a `ModelRequest` into a stream of `StreamEvent`s; `TurnBuilder` folds those events
into the finished `AssistantTurn`. Events are small slotted dataclasses (they are made once per delta,
so they must be cheap) with a literal `kind` for exhaustive matching.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["user", "assistant"]
StopReason = Literal[
    "end_turn",
    "tool_use",
    "max_tokens",
    "stop_sequence",
    "pause_turn",
    "refusal",
    "content_filter",
    "context_overflow",
    "error",
    "unknown",
]


# --- message parts -------------------------------------------------------------------------------


@dataclass(slots=True)
class TextPart:
    text: str
    kind: Literal["text"] = "text"


@dataclass(slots=True)
class ThinkingPart:
    """Reasoning the model showed. `signature`/`redacted` must be replayed unchanged to `provider`."""

    text: str
    signature: str | None = None
    redacted: str | None = None
    provider: str | None = None
    item_id: str | None = None
    kind: Literal["thinking"] = "thinking"


@dataclass(slots=True)
class ToolCallPart:
    call_id: str
    name: str
    arguments: dict[str, Any]
    item_id: str | None = None
    signature: str | None = None
    kind: Literal["tool_call"] = "tool_call"


@dataclass(slots=True)
class ToolResultPart:
    call_id: str
    name: str
    content: str
    is_error: bool = False
    kind: Literal["tool_result"] = "tool_result"


Part = TextPart | ThinkingPart | ToolCallPart | ToolResultPart


@dataclass(slots=True)
class Message:
    role: Role
    parts: list[Part]

    @classmethod
    def user(cls, text: str) -> Message:
        return cls("user", [TextPart(text)])

    def text(self) -> str:
        return "".join(p.text for p in self.parts if isinstance(p, TextPart))

    def tool_calls(self) -> list[ToolCallPart]:
        return [p for p in self.parts if isinstance(p, ToolCallPart)]


@dataclass(slots=True)
class Usage:
    """Normalised token counts: `input_tokens` excludes cache reads and writes; `reasoning_tokens` is
    part of `output_tokens`. A provider that reported nothing leaves `reported` False."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    reported: bool = False
    cost_usd: float | None = None  # only when the provider itself reports a price (claude-code)
    service_tier: str | None = None  # the tier the provider says it served (`flex`, `priority`)

    @property
    def total_tokens(self) -> int:
        return (
            self.input_tokens
            + self.cache_read_tokens
            + self.cache_write_tokens
            + self.output_tokens
        )

    def add(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cache_read_tokens=self.cache_read_tokens + other.cache_read_tokens,
            cache_write_tokens=self.cache_write_tokens + other.cache_write_tokens,
            reasoning_tokens=self.reasoning_tokens + other.reasoning_tokens,
            reported=self.reported or other.reported,
            cost_usd=None
            if self.cost_usd is None and other.cost_usd is None
            else (self.cost_usd or 0.0) + (other.cost_usd or 0.0),
            service_tier=self.service_tier if self.service_tier == other.service_tier else None,
        )

    def as_dict(self) -> dict[str, int | bool]:
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "reasoning_tokens": self.reasoning_tokens,
            "reported": self.reported,
        }


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool as the model sees it: name, description and a JSON Schema for its arguments."""

    name: str
    description: str
    parameters: dict[str, Any]


Effort = Literal["auto", "minimal", "low", "medium", "high", "max"]
OutputFormat = Literal["text", "json"]


@dataclass(slots=True)
class ModelRequest:
    model: str
    system: str
    messages: list[Message]
    tools: list[ToolSpec] = field(default_factory=list)
    max_tokens: int | None = None
    effort: Effort | None = None
    output_format: OutputFormat = "text"
    output_schema: dict[str, Any] | None = None
    service_tier: str | None = None


# --- stream events -------------------------------------------------------------------------------


@dataclass(slots=True)
class ResponseStarted:
    """The provider accepted the request. `model` is the model the provider says served it;
    `credential` how a provider that signs requests itself (claude-code: the CLI's own login) says it
    did, and `note` what the user should know about that credential."""

    model: str | None = None
    request_id: str | None = None
    credential: str | None = None
    note: str | None = None
    kind: Literal["response_started"] = "response_started"


@dataclass(slots=True)
class TextDelta:
    text: str
    kind: Literal["text_delta"] = "text_delta"


@dataclass(slots=True)
class ThinkingDelta:
    text: str
    kind: Literal["thinking_delta"] = "thinking_delta"


@dataclass(slots=True)
class ThinkingFinished:
    """Closes the current thinking block with what must be replayed verbatim."""

    signature: str | None = None
    redacted: str | None = None
    item_id: str | None = None
    kind: Literal["thinking_finished"] = "thinking_finished"


@dataclass(slots=True)
class ToolCallStarted:
    index: int
    call_id: str
    name: str
    item_id: str | None = None
    kind: Literal["tool_call_started"] = "tool_call_started"


@dataclass(slots=True)
class ToolCallDelta:
    index: int
    arguments: str
    kind: Literal["tool_call_delta"] = "tool_call_delta"


@dataclass(slots=True)
class ToolCallFinished:
    """A complete call; providers that stream arguments send the whole text here too."""

    index: int
    arguments: dict[str, Any]
    signature: str | None = None
    kind: Literal["tool_call_finished"] = "tool_call_finished"


@dataclass(slots=True)
class UsageReported:
    usage: Usage
    kind: Literal["usage_reported"] = "usage_reported"


@dataclass(slots=True)
class RateLimitObserved:
    """Quota telemetry parsed from response headers (remaining requests/tokens, reset times)."""

    snapshot: dict[str, str | int | float]
    kind: Literal["rate_limit_observed"] = "rate_limit_observed"


@dataclass(slots=True)
class RetryScheduled:
    """The transport will retry after `delay` seconds; nothing of the failed attempt was emitted."""

    attempt: int
    delay: float
    reason: str
    kind: Literal["retry_scheduled"] = "retry_scheduled"


@dataclass(slots=True)
class FailedOver:
    """The router left `from_provider` for `to_provider` before anything of this turn was shown:
    `error_class` (e.g. `rate_limited`, `cooling_down`) and `reason` say why; `to_credential` names the
    credential class and its source (never the secret)."""

    from_provider: str
    from_model: str
    to_provider: str
    to_model: str
    to_credential: str
    error_class: str
    reason: str
    kind: Literal["failover"] = "failover"


@dataclass(slots=True)
class ResponseFinished:
    stop_reason: StopReason
    raw_reason: str | None = None
    kind: Literal["response_finished"] = "response_finished"


StreamEvent = (
    ResponseStarted
    | TextDelta
    | ThinkingDelta
    | ThinkingFinished
    | ToolCallStarted
    | ToolCallDelta
    | ToolCallFinished
    | UsageReported
    | RateLimitObserved
    | RetryScheduled
    | FailedOver
    | ResponseFinished
)


@dataclass(frozen=True, slots=True)
class ServedBy:
    """Who actually answered a turn when the router moved it off the agent's own provider."""

    provider: str
    model: str
    credential: str


@dataclass(slots=True)
class AssistantTurn:
    message: Message
    stop_reason: StopReason
    usage: Usage
    served_model: str | None = None
    request_id: str | None = None
    raw_reason: str | None = None
    rate_limits: dict[str, str | int | float] = field(default_factory=dict)
    retries: list[RetryScheduled] = field(default_factory=list)
    served_by: ServedBy | None = None
    failovers: list[FailedOver] = field(default_factory=list)
    credential: str | None = None  # as the provider reported it (ResponseStarted.credential)
