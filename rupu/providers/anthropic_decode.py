"""Stream decoding for the Anthropic Messages API: one parsed server-sent event in, rupu stream
events out. Sans-IO; the provider feeds it.

Event order: `message_start`, then per content block `content_block_start` / `content_block_delta`* /
`content_block_stop` (keyed by `index`), then `message_delta` (stop reason, final usage) and
`message_stop`, the only terminal event. `ping` may come at any time; unknown events and deltas are
ignored, as the API's versioning policy asks. An `error` event is raised as a `ProviderError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rupu.errors import Overloaded, ProviderError, QuotaExhausted
from rupu.messages import (
    ResponseFinished,
    ResponseStarted,
    StopReason,
    StreamEvent,
    TextDelta,
    ThinkingDelta,
    ThinkingFinished,
    ToolCallDelta,
    ToolCallFinished,
    ToolCallStarted,
    Usage,
    UsageReported,
)
from rupu.providers.base import parse_arguments
from rupu.providers.failures import provider_error

STOP_REASONS: dict[str, StopReason] = {
    "end_turn": "end_turn",
    "max_tokens": "max_tokens",
    "stop_sequence": "stop_sequence",
    "tool_use": "tool_use",
    "pause_turn": "pause_turn",
    "refusal": "refusal",
    "model_context_window_exceeded": "context_overflow",
}

OVERLOADED_HINT = "Anthropic is overloaded: try again in a minute, or lower max_concurrency"
QUOTA_HINT = (
    "quota or billing exhausted: check the plan, credits and spend limits at "
    "console.anthropic.com; retrying will not help"
)

_TEXT, _THINKING, _REDACTED, _TOOL, _OTHER = range(5)


def decode_usage(raw: Mapping[str, Any], into: Usage) -> None:
    """Overwrites the counts `raw` carries: `message_delta` usage is cumulative, and fields it omits
    keep their `message_start` values. Anthropic's `input_tokens` already excludes the cache."""
    value = raw.get("input_tokens")
    if value is not None:
        into.input_tokens = int(value)
    value = raw.get("output_tokens")
    if value is not None:
        into.output_tokens = int(value)
    value = raw.get("cache_read_input_tokens")
    if value is not None:
        into.cache_read_tokens = int(value)
    value = raw.get("cache_creation_input_tokens")
    if value is not None:
        into.cache_write_tokens = int(value)
    tier = raw.get("service_tier")
    if isinstance(tier, str) and tier:
        into.service_tier = tier
    details = raw.get("output_tokens_details")
    if isinstance(details, Mapping) and details.get("thinking_tokens") is not None:
        into.reasoning_tokens = int(details["thinking_tokens"])
    into.reported = True


def stream_error(
    provider: str, payload: Mapping[str, Any], *, model: str | None, request_id: str | None
) -> ProviderError:
    """An in-stream `error` event (sent with HTTP 200, so there is no status to report)."""
    error = payload.get("error")
    error = error if isinstance(error, Mapping) else {}
    error_type = error.get("type")
    message = error.get("message") or "the provider reported an error mid-stream"
    request_id = payload.get("request_id") or request_id
    error = provider_error(
        provider,
        f"error event in the response stream: {message}",
        model=model,
        error_type=str(error_type) if error_type else "stream_error",
        request_id=str(request_id) if request_id else None,
    )
    if isinstance(error, QuotaExhausted):
        error.hint = QUOTA_HINT
    elif isinstance(error, Overloaded):
        error.hint = OVERLOADED_HINT
    return error


class MessagesStreamDecoder:
    """Folds one response's events into rupu events. `finished` turns true at `message_stop`."""

    __slots__ = (
        "_blocks",
        "_json",
        "_signatures",
        "_stop_reason",
        "_tool_inputs",
        "finished",
        "model",
        "provider",
        "request_id",
        "usage",
    )

    def __init__(self, provider: str, *, model: str | None, request_id: str | None) -> None:
        self.provider = provider
        self.model = model
        self.request_id = request_id
        self.usage = Usage()
        self.finished = False
        self._blocks: dict[int, int] = {}
        self._json: dict[int, list[str]] = {}
        self._signatures: dict[int, list[str]] = {}
        self._tool_inputs: dict[int, Any] = {}
        self._stop_reason: str | None = None

    def feed(self, payload: Mapping[str, Any]) -> list[StreamEvent]:
        kind = payload.get("type")
        if kind == "content_block_delta":
            return self._delta(payload["index"], payload["delta"])
        if kind == "content_block_start":
            return self._start(payload["index"], payload["content_block"])
        if kind == "content_block_stop":
            return self._stop(payload["index"])
        if kind == "message_start":
            message = payload.get("message") or {}
            self.model = message.get("model") or self.model
            decode_usage(message.get("usage") or {}, self.usage)
            # Reported now too: the input is billed even if the stream fails before message_stop.
            return [
                ResponseStarted(model=message.get("model"), request_id=self.request_id),
                UsageReported(self.usage),
            ]
        if kind == "message_delta":
            delta = payload.get("delta") or {}
            if delta.get("stop_reason") is not None:
                self._stop_reason = delta["stop_reason"]
            usage = payload.get("usage")
            if usage:
                decode_usage(usage, self.usage)
            return []
        if kind == "message_stop":
            self.finished = True
            raw = self._stop_reason
            reason: StopReason = STOP_REASONS.get(raw, "unknown") if raw else "unknown"
            return [UsageReported(self.usage), ResponseFinished(reason, raw)]
        if kind == "error":
            raise stream_error(self.provider, payload, model=self.model, request_id=self.request_id)
        return []  # ping, and events newer than this code

    def _start(self, index: int, block: Mapping[str, Any]) -> list[StreamEvent]:
        kind = block.get("type")
        if kind == "text":
            self._blocks[index] = _TEXT
            text = block.get("text")
            return [TextDelta(text)] if text else []
        if kind == "thinking":
            self._blocks[index] = _THINKING
            signature = block.get("signature")
            self._signatures[index] = [signature] if signature else []
            thinking = block.get("thinking")
            return [ThinkingDelta(thinking)] if thinking else []
        if kind == "redacted_thinking":
            self._blocks[index] = _REDACTED
            self._signatures[index] = [block.get("data") or ""]
            return []
        if kind == "tool_use":
            self._blocks[index] = _TOOL
            self._json[index] = []
            self._tool_inputs[index] = block.get("input")
            return [
                ToolCallStarted(index, str(block.get("id") or ""), str(block.get("name") or ""))
            ]
        self._blocks[index] = _OTHER  # server tools and blocks rupu does not request
        return []

    def _delta(self, index: int, delta: Mapping[str, Any]) -> list[StreamEvent]:
        kind = delta.get("type")
        if kind == "text_delta":
            return [TextDelta(delta["text"])]
        if kind == "thinking_delta":
            return [ThinkingDelta(delta["thinking"])]
        if kind == "input_json_delta":
            fragment = delta.get("partial_json") or ""
            fragments = self._json.get(index)
            if fragments is None or not fragment:
                return []
            fragments.append(fragment)
            return [ToolCallDelta(index, fragment)]
        if kind == "signature_delta":
            signatures = self._signatures.get(index)
            if signatures is not None:
                signatures.append(delta.get("signature") or "")
            return []
        return []  # citations_delta and newer delta types

    def _stop(self, index: int) -> list[StreamEvent]:
        kind = self._blocks.pop(index, _OTHER)
        if kind == _THINKING:
            signature = "".join(self._signatures.pop(index, ()))
            return [ThinkingFinished(signature=signature or None)]
        if kind == _REDACTED:
            return [ThinkingFinished(redacted="".join(self._signatures.pop(index, ())))]
        if kind == _TOOL:
            raw = "".join(self._json.pop(index, ()))
            initial = self._tool_inputs.pop(index, None)
            if raw:
                arguments = parse_arguments(self.provider, "", raw)
            else:
                arguments = dict(initial) if isinstance(initial, Mapping) else {}
            return [ToolCallFinished(index, arguments)]
        return []
