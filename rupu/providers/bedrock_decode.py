"""Stream decoding for Amazon Bedrock's ConverseStream: one event-stream message (its headers and
JSON payload) in, rupu stream events out. Sans-IO; `bedrock.ConverseEvents` splits the binary
frames (with botocore's parser) and feeds it.

Event order: `messageStart`, then per content block `contentBlockStart`? / `contentBlockDelta`* /
`contentBlockStop` (keyed by `contentBlockIndex`), then `messageStop` (the stop reason) and
`metadata` (usage), the terminal event. A message of type `exception` is raised as a classified
`ProviderError`; unknown events and deltas are ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rupu.errors import ProviderError
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
from rupu.providers.bedrock_errors import bedrock_error

STOP_REASONS: dict[str, StopReason] = {
    "end_turn": "end_turn",
    "tool_use": "tool_use",
    "max_tokens": "max_tokens",
    "stop_sequence": "stop_sequence",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
    "model_context_window_exceeded": "context_overflow",
    "malformed_model_output": "error",
    "malformed_tool_use": "error",
}


def decode_usage(raw: Mapping[str, Any]) -> Usage:
    """Bedrock's `inputTokens` already leaves out the tokens read from or written to the cache."""
    return Usage(
        input_tokens=int(raw.get("inputTokens") or 0),
        output_tokens=int(raw.get("outputTokens") or 0),
        cache_read_tokens=int(raw.get("cacheReadInputTokens") or 0),
        cache_write_tokens=int(raw.get("cacheWriteInputTokens") or 0),
        reported=True,
    )


class ConverseStreamDecoder:
    """The state of one ConverseStream response."""

    def __init__(
        self, provider: str, *, model: str, request_id: str | None, credential: str | None
    ) -> None:
        self.provider = provider
        self.model = model
        self.request_id = request_id
        self.credential = credential
        self.finished = False
        self.stopped: tuple[StopReason, str | None] | None = None
        self._tools: set[int] = set()
        self._reasoning: dict[int, dict[str, str]] = {}
        self._arguments: dict[int, list[str]] = {}

    def feed(self, event_type: str, data: Mapping[str, Any]) -> list[StreamEvent]:
        match event_type:
            case "messageStart":
                return [
                    ResponseStarted(
                        model=self.model, request_id=self.request_id, credential=self.credential
                    )
                ]
            case "contentBlockStart":
                return self._start(int(data.get("contentBlockIndex", 0)), data.get("start") or {})
            case "contentBlockDelta":
                return self._delta(int(data.get("contentBlockIndex", 0)), data.get("delta") or {})
            case "contentBlockStop":
                return self._stop(int(data.get("contentBlockIndex", 0)))
            case "messageStop":
                raw = str(data.get("stopReason") or "")
                self.stopped = (STOP_REASONS.get(raw, "unknown"), raw)
                return []
            case "metadata":
                self.finished = True
                reason, raw_reason = self.stopped or ("unknown", None)
                usage = decode_usage(data.get("usage") or {})
                return [UsageReported(usage), ResponseFinished(reason, raw_reason)]
            case _:
                return []

    def exception(self, exception_type: str, data: Mapping[str, Any]) -> ProviderError:
        message = str(data.get("message") or data.get("Message") or exception_type)
        return bedrock_error(
            self.provider,
            exception_type,
            message,
            status=None,
            model=self.model,
            request_id=self.request_id,
        )

    def _start(self, index: int, start: Mapping[str, Any]) -> list[StreamEvent]:
        tool = start.get("toolUse")
        if not isinstance(tool, Mapping):
            return []
        self._tools.add(index)
        self._arguments[index] = []
        return [ToolCallStarted(index, str(tool["toolUseId"]), str(tool["name"]))]

    def _delta(self, index: int, delta: Mapping[str, Any]) -> list[StreamEvent]:
        text = delta.get("text")
        if isinstance(text, str):
            return [TextDelta(text)] if text else []
        tool = delta.get("toolUse")
        if isinstance(tool, Mapping):
            fragment = str(tool.get("input") or "")
            self._arguments.setdefault(index, []).append(fragment)
            return [ToolCallDelta(index, fragment)] if fragment else []
        reasoning = delta.get("reasoningContent")
        if isinstance(reasoning, Mapping):
            state = self._reasoning.setdefault(index, {})
            if "signature" in reasoning:
                state["signature"] = str(reasoning["signature"])
            if "redactedContent" in reasoning:
                state["redacted"] = state.get("redacted", "") + str(reasoning["redactedContent"])
            words = reasoning.get("text")
            if isinstance(words, str) and words:
                return [ThinkingDelta(words)]
        return []

    def _stop(self, index: int) -> list[StreamEvent]:
        if index in self._tools:
            self._tools.discard(index)
            raw = "".join(self._arguments.pop(index, []))
            return [ToolCallFinished(index, parse_arguments(self.provider, "", raw))]
        state = self._reasoning.pop(index, None)
        if state is not None:
            return [
                ThinkingFinished(signature=state.get("signature"), redacted=state.get("redacted"))
            ]
        return []
