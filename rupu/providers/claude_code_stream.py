"""Sans-IO decoder of `claude -p --output-format stream-json --verbose --include-partial-messages`.

One JSON object per line:

- `{"type":"system","subtype":"init","model":...,"session_id":...}` opens the run;
- `{"type":"stream_event","event":{...}}` carries the Messages-API stream events of the response in
  progress (`content_block_delta` with `text_delta` / `thinking_delta`), so text arrives token by token;
- `{"type":"assistant","message":{"id":...,"content":[...]}}` repeats each finished message (text,
  thinking, tool_use blocks); its text is only emitted here when no partial events came for that id;
- `{"type":"user",...}` carries the results of the CLI's own tool calls (not shown);
- `{"type":"result","subtype":"success"|"error_max_turns"|"error_during_execution","is_error":...,
  "result":...,"usage":{...},"total_cost_usd":...}` closes the run.

The CLI runs its own tools; they appear as reasoning lines (`→ Bash: ls`), never as rupu tool calls.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

from rupu.clock import SYSTEM_CLOCK
from rupu.errors import (
    AuthRejected,
    ContextOverflow,
    LimitReached,
    Overloaded,
    ProviderError,
    RateLimited,
)
from rupu.messages import (
    ResponseFinished,
    ResponseStarted,
    StreamEvent,
    TextDelta,
    ThinkingDelta,
    ThinkingFinished,
    Usage,
    UsageReported,
)

_USAGE_LIMIT = re.compile(r"usage limit reached\|(\d+)", re.I)
_AUTH_WORDS = ("invalid api key", "/login", "authentication", "oauth token", "not logged in")


CLI_LOGIN = "the claude CLI's own login"
SUBSCRIPTION_NOTE = (
    "claude-code runs the claude CLI headless on its Claude subscription login: this use counts "
    "against the plan's usage limits and falls under Anthropic's consumer terms "
    "(anthropic.com/legal/consumer-terms); for unattended automation, give the CLI an API key "
    "(ANTHROPIC_API_KEY) or use provider: anthropic with a key"
)


def cli_login(api_key_source: str | None) -> str:
    """The label of the claude CLI's own credential, from its init line's `apiKeySource` ("none" is
    its sign-in with a Claude subscription; anything else names where its API key came from)."""
    if api_key_source is None:
        return CLI_LOGIN
    if api_key_source == "none":
        return f"{CLI_LOGIN} (Claude subscription)"
    if api_key_source == "/login managed key":
        return f"{CLI_LOGIN} (Console API key)"
    return f"{CLI_LOGIN} (API key from {api_key_source})"


def tool_note(block: Mapping[str, Any]) -> str:
    """`→ Bash: ls -la` for a tool_use block: the tool and a one-line gist of its input."""
    name = str(block.get("name") or "tool")
    data = block.get("input") or {}
    gist = ""
    if isinstance(data, dict):
        for key in ("command", "file_path", "path", "pattern", "url", "query", "description"):
            if isinstance(data.get(key), str):
                gist = data[key]
                break
        else:
            gist = orjson.dumps(data).decode() if data else ""
    gist = " ".join(gist.split())
    gist = gist if len(gist) <= 100 else gist[:99] + "…"
    return f"→ {name}: {gist}\n" if gist else f"→ {name}\n"


def decode_usage(raw: Mapping[str, Any], cost: Any) -> Usage:
    return Usage(
        input_tokens=int(raw.get("input_tokens") or 0),
        output_tokens=int(raw.get("output_tokens") or 0),
        cache_read_tokens=int(raw.get("cache_read_input_tokens") or 0),
        cache_write_tokens=int(raw.get("cache_creation_input_tokens") or 0),
        reported=True,
        cost_usd=float(cost) if isinstance(cost, int | float) else None,
    )


class ClaudeCodeDecoder:
    """Feed it each line of stdout; it returns the rupu events. `finished` tells whether the result
    line came."""

    def __init__(self, provider: str, model: str) -> None:
        self.provider = provider
        self.model = model
        self.finished = False
        self._started = False
        self._streamed: set[str] = set()
        self._current: str | None = None
        self._blocks: dict[int, str] = {}
        self._wrote_text = False
        self._ends_line = False
        self._block_open = False

    def feed(self, line: bytes) -> list[StreamEvent]:
        line = line.strip()
        if not line:
            return []
        try:
            data = orjson.loads(line)
        except orjson.JSONDecodeError:
            return []  # the CLI can print a stray warning line; it is not part of the protocol
        if not isinstance(data, dict):
            return []
        events: list[StreamEvent] = []
        kind = data.get("type")
        if not self._started and kind in ("system", "stream_event", "assistant", "result"):
            self._started = True
            init = data if kind == "system" else {}
            source = init.get("apiKeySource")
            events.append(
                ResponseStarted(
                    model=init.get("model") or self.model,
                    request_id=data.get("session_id"),
                    credential=cli_login(source if isinstance(source, str) else None),
                    note=SUBSCRIPTION_NOTE if source == "none" else None,
                )
            )
        if kind == "stream_event":
            events += self._partial(data.get("event") or {})
        elif kind == "assistant":
            events += self._message(data.get("message") or {})
        elif kind == "result":
            events += self._result(data)
        return events

    def _text(self, text: str, *, new_block: bool) -> list[StreamEvent]:
        """Text as it is, with a blank line between blocks that do not end a line themselves."""
        if not text:
            return []
        events: list[StreamEvent] = []
        if new_block and self._wrote_text and not self._ends_line:
            events.append(TextDelta("\n\n"))
        self._wrote_text = True
        self._ends_line = text.endswith("\n")
        events.append(TextDelta(text))
        return events

    def _partial(self, event: Mapping[str, Any]) -> list[StreamEvent]:
        kind = event.get("type")
        if kind == "message_start":
            self._current = (event.get("message") or {}).get("id")
            if self._current:
                self._streamed.add(self._current)
            self._blocks = {}
            return []
        index = int(event.get("index") or 0)
        if kind == "content_block_start":
            self._blocks[index] = str((event.get("content_block") or {}).get("type"))
            self._block_open = self._blocks[index] == "text"
            return []
        if kind == "content_block_delta":
            delta = event.get("delta") or {}
            if delta.get("type") == "text_delta" and delta.get("text"):
                opened, self._block_open = self._block_open, False
                return self._text(str(delta["text"]), new_block=opened)
            if delta.get("type") == "thinking_delta":
                return [ThinkingDelta(str(delta.get("thinking") or ""))]
            return []
        if kind == "content_block_stop" and self._blocks.get(index) == "thinking":
            return [ThinkingFinished()]
        return []

    def _message(self, message: Mapping[str, Any]) -> list[StreamEvent]:
        streamed = message.get("id") in self._streamed
        events: list[StreamEvent] = []
        for block in message.get("content") or ():
            if not isinstance(block, dict):
                continue
            match block.get("type"):
                case "text" if not streamed:
                    events += self._text(str(block.get("text") or ""), new_block=True)
                case "thinking" if not streamed:
                    events += [ThinkingDelta(str(block.get("thinking") or "")), ThinkingFinished()]
                case "tool_use":
                    events += [ThinkingDelta(tool_note(block)), ThinkingFinished()]
                case _:
                    pass
        return events

    def _result(self, data: Mapping[str, Any]) -> list[StreamEvent]:
        self.finished = True
        subtype = str(data.get("subtype") or "")
        if subtype == "error_max_turns":
            raise LimitReached(
                "max_turns",
                f"{self.provider} (max_turns): the claude CLI stopped after its max_turns "
                f"({data.get('num_turns')} turns) without finishing",
                provider=self.provider,
                hint="raise max_turns in [providers.claude-code], or narrow the task",
            )
        if data.get("is_error") or subtype.startswith("error"):
            raise result_error(self.provider, self.model, str(data.get("result") or subtype))
        events: list[StreamEvent] = []
        if not self._wrote_text and data.get("result"):
            events += self._text(str(data["result"]), new_block=True)
        usage = data.get("usage")
        if isinstance(usage, dict):
            events.append(UsageReported(decode_usage(usage, data.get("total_cost_usd"))))
        events.append(ResponseFinished("end_turn", subtype or "success"))
        return events


def result_error(
    provider: str, model: str, text: str, *, now: float | None = None
) -> ProviderError:
    """A failed run's `result` text as a classified error (usage limit, login, overload, size);
    `now` (default: the system clock) counts down to a usage limit's reset time."""
    lowered = text.lower()
    limit = _USAGE_LIMIT.search(text)
    if limit or "rate limit" in lowered or "usage limit" in lowered:
        reset = (
            float(limit[1]) - (now if now is not None else SYSTEM_CLOCK.time()) if limit else None
        )
        return RateLimited(
            provider,
            "the Claude subscription's usage limit is reached" if limit else text,
            model=model,
            status=429,
            error_type="rate_limit_error",
            retry_after=max(reset, 0.0) if reset is not None else None,
            hint="wait for the reset, or add a fallback provider",
        )
    if any(word in lowered for word in _AUTH_WORDS):
        return AuthRejected(
            provider,
            text,
            model=model,
            status=401,
            error_type="authentication_error",
            hint="run `claude` once and log in (`/login`), or fix its API key",
        )
    if "overloaded" in lowered:
        return Overloaded(provider, text, model=model, status=529, error_type="overloaded_error")
    if "prompt is too long" in lowered:
        return ContextOverflow(
            provider, text, model=model, status=413, error_type="request_too_large"
        )
    return ProviderError(provider, text, model=model, error_type="error_during_execution")
