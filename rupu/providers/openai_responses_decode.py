"""Decoding an OpenAI Responses API event stream into rupu stream events (sans-IO).

`ResponsesStreamDecoder.feed` takes one parsed SSE `data` object. The hot event,
`response.output_text.delta`, is handled by the caller's fast path (see `openai_responses`); this
class still accepts it so that it is complete on its own.

The stream ends with `response.completed`, `response.incomplete` or `response.failed` (the ChatGPT
backend may say `response.done`); `finished` is False until one of them arrived, and a stream that
closes before that is an error. Function-call arguments may arrive as deltas, only in `.done`, or
with `.done` extending the deltas: whatever the deltas missed is emitted before the call finishes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rupu.errors import ContextOverflow, ProviderError, QuotaExhausted, StreamInterrupted
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

TEXT_DELTA = "response.output_text.delta"
TERMINAL = frozenset(
    {"response.completed", "response.incomplete", "response.failed", "response.done"}
)
INCOMPLETE_REASONS: dict[str, StopReason] = {
    "max_output_tokens": "max_tokens",
    "content_filter": "content_filter",
    "max_messages": "max_tokens",
}


def decode_usage(raw: Mapping[str, Any]) -> Usage:
    """Responses usage normalised: `input_tokens` counts cached tokens (and newer APIs the tokens
    written to the cache), `output_tokens` counts reasoning tokens."""
    details = raw.get("input_tokens_details") or {}
    cached = int(details.get("cached_tokens") or 0)
    written = int(details.get("cache_write_tokens") or 0)
    output_details = raw.get("output_tokens_details") or {}
    return Usage(
        input_tokens=max(int(raw.get("input_tokens") or 0) - cached - written, 0),
        output_tokens=int(raw.get("output_tokens") or 0),
        cache_read_tokens=cached,
        cache_write_tokens=written,
        reasoning_tokens=int(output_details.get("reasoning_tokens") or 0),
        reported=True,
    )


class _Call:
    __slots__ = ("arguments", "finished", "index")

    def __init__(self, index: int) -> None:
        self.index = index
        self.arguments: list[str] = []
        self.finished = False


class ResponsesStreamDecoder:
    """One response's events in, rupu events out. `streaming` is True between the first event and
    the terminal one: the window in which the caller's text fast path may run."""

    __slots__ = (
        "_calls",
        "_reasoning_text",
        "_refused",
        "_summary_index",
        "finished",
        "model",
        "provider",
        "request_id",
        "started",
        "streaming",
        "text_streamed",
    )

    def __init__(
        self, provider: str, *, model: str | None = None, request_id: str | None = None
    ) -> None:
        self.provider = provider
        self.model = model
        self.request_id = request_id
        self.started = False
        self.finished = False
        self.streaming = False
        self._calls: dict[int, _Call] = {}
        self._reasoning_text: dict[int, bool] = {}
        self._summary_index: dict[int, int] = {}
        self._refused = False
        self.text_streamed = False

    def start(self, served_model: str | None = None) -> ResponseStarted:
        self.started = True
        self.streaming = True
        return ResponseStarted(model=served_model, request_id=self.request_id)

    def feed(self, data: Mapping[str, Any]) -> list[StreamEvent]:
        if self.finished:
            return []  # nothing counts after the terminal event
        kind = data.get("type")
        events: list[StreamEvent] = []
        if not self.started:
            response = data.get("response")
            served = response.get("model") if isinstance(response, Mapping) else None
            events.append(self.start(served))
        if kind == TEXT_DELTA:
            self.text_streamed = True
            events.append(TextDelta(data["delta"]))
        elif kind == "response.reasoning_summary_text.delta":
            self._reasoning_delta(data, events)
        elif kind == "response.reasoning_text.delta":
            self._reasoning_text[data.get("output_index", 0)] = True
            events.append(ThinkingDelta(data.get("delta") or ""))
        elif kind == "response.function_call_arguments.delta":
            call = self._calls.get(data.get("output_index", -1))
            if call is not None and not call.finished and data.get("delta"):
                call.arguments.append(data["delta"])
                events.append(ToolCallDelta(call.index, data["delta"]))
        elif kind == "response.function_call_arguments.done":
            call = self._calls.get(data.get("output_index", -1))
            if call is not None:
                self._finish_call(call, data.get("arguments"), events)
        elif kind == "response.refusal.delta":
            self._refused = True
            self.text_streamed = True
            events.append(TextDelta(data.get("delta") or ""))
        elif kind == "response.output_item.added":
            self._item_added(data, events)
        elif kind == "response.output_item.done":
            self._item_done(data, events)
        elif kind in TERMINAL:
            self._terminal(kind, data, events)
        elif kind == "error":
            raise self.stream_error(data)
        return events

    # -- items --------------------------------------------------------------------------------------
    def _item_added(self, data: Mapping[str, Any], events: list[StreamEvent]) -> None:
        item = data.get("item") or {}
        kind = item.get("type")
        output_index = data.get("output_index", len(self._calls))
        if kind == "function_call":
            call = _Call(len(self._calls))
            self._calls[output_index] = call
            events.append(
                ToolCallStarted(
                    call.index,
                    item.get("call_id") or item.get("id") or f"call_{call.index}",
                    item.get("name") or "",
                    item_id=item.get("id"),
                )
            )
            if item.get("arguments"):
                call.arguments.append(item["arguments"])
                events.append(ToolCallDelta(call.index, item["arguments"]))
        elif kind == "message":
            self.text_streamed = False

    def _item_done(self, data: Mapping[str, Any], events: list[StreamEvent]) -> None:
        item = data.get("item") or {}
        kind = item.get("type")
        output_index = data.get("output_index", -1)
        if kind == "reasoning":
            if output_index not in self._reasoning_text:
                text = "\n\n".join(
                    s.get("text", "") for s in item.get("summary") or () if s.get("text")
                )
                if text:
                    events.append(ThinkingDelta(text))
            events.append(
                ThinkingFinished(signature=item.get("encrypted_content"), item_id=item.get("id"))
            )
        elif kind == "function_call":
            call = self._calls.get(output_index)
            if call is None:
                self._item_added(data, events)
                call = self._calls.get(output_index)
            if call is not None and not call.finished:
                self._finish_call(call, item.get("arguments"), events)
        elif kind == "message" and not self.text_streamed:
            for content in item.get("content") or ():
                text = content.get("text") or content.get("refusal")
                if content.get("type") == "refusal":
                    self._refused = True
                if text:
                    events.append(TextDelta(text))

    def _reasoning_delta(self, data: Mapping[str, Any], events: list[StreamEvent]) -> None:
        output_index = data.get("output_index", 0)
        summary_index = data.get("summary_index", 0)
        previous = self._summary_index.get(output_index)
        if previous is not None and summary_index != previous:
            events.append(ThinkingDelta("\n\n"))
        self._summary_index[output_index] = summary_index
        self._reasoning_text[output_index] = True
        events.append(ThinkingDelta(data.get("delta") or ""))

    def _finish_call(self, call: _Call, full: Any, events: list[StreamEvent]) -> None:
        streamed = "".join(call.arguments)
        if isinstance(full, str) and full != streamed:
            if full.startswith(streamed):
                missing = full[len(streamed) :]
                events.append(ToolCallDelta(call.index, missing))
                call.arguments.append(missing)
            else:
                call.arguments = [full]
            streamed = full
        call.finished = True
        events.append(ToolCallFinished(call.index, parse_arguments(self.provider, "", streamed)))

    # -- the end --------------------------------------------------------------------------------------
    def _terminal(self, kind: str, data: Mapping[str, Any], events: list[StreamEvent]) -> None:
        response = data.get("response") or {}
        status = response.get("status")
        if kind == "response.failed" or status in ("failed", "cancelled"):
            raise self.failed_error(response)
        self.finished = True
        self.streaming = False
        usage = response.get("usage")
        if usage:
            decoded = decode_usage(usage)
            tier = response.get("service_tier")
            decoded.service_tier = tier if isinstance(tier, str) and tier else None
            events.append(UsageReported(decoded))
        if kind == "response.incomplete" or status == "incomplete":
            details = response.get("incomplete_details") or {}
            reason = details.get("reason") or "incomplete"
            events.append(ResponseFinished(INCOMPLETE_REASONS.get(reason, "unknown"), reason))
            return
        stop: StopReason = "end_turn"
        if self._calls:
            stop = "tool_use"
        elif self._refused:
            stop = "refusal"
        events.append(ResponseFinished(stop, status or "completed"))

    def failed_error(self, response: Mapping[str, Any]) -> ProviderError:
        error = response.get("error") or {}
        code = error.get("code") or error.get("type") or response.get("status") or "failed"
        message = error.get("message") or f"the response ended with status {code}"
        return self._error(str(code), str(message))

    def stream_error(self, data: Mapping[str, Any]) -> ProviderError:
        """An SSE `error` event: `{code, message}` (or the same nested under `error`)."""
        nested = data.get("error")
        source = nested if isinstance(nested, Mapping) else data
        code = source.get("code") or source.get("type") or "stream_error"
        message = source.get("message") or "the provider reported an error mid-stream"
        return self._error(str(code), str(message))

    def _error(self, code: str, message: str) -> ProviderError:
        error = provider_error(
            self.provider, message, model=self.model, error_type=code, request_id=self.request_id
        )
        if isinstance(error, ContextOverflow):
            error.hint = "the conversation is too long for the model: shorten the input"
        elif isinstance(error, QuotaExhausted):
            error.hint = "quota or usage limit reached: check the plan, credits or reset time; retrying will not help"
        return error

    def truncated(self) -> ProviderError:
        return StreamInterrupted(
            self.provider,
            "the stream ended before the response was complete",
            model=self.model,
            error_type="truncated_stream",
            request_id=self.request_id,
            hint="retry; if it keeps happening, check proxies between rupu and the provider",
        )
