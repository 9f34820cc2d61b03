"""Providers that answer from Python instead of the network, for testing agents and workflows.

`FunctionProvider(function)` asks a function (sync or async) for each turn; `ScriptedProvider(turns)`
plays a list of turns in order. Both record every request in `.requests` and stream their answers as
the same `StreamEvent`s a real provider emits, so the agent loop, tools, routing and transcripts run
unchanged. `use_provider()` makes agents and workflows that name a provider get one of these.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from rupu.errors import ProviderError
from rupu.messages import (
    ModelRequest,
    ResponseFinished,
    ResponseStarted,
    StopReason,
    StreamEvent,
    TextDelta,
    TextPart,
    ThinkingDelta,
    ThinkingFinished,
    ToolCallFinished,
    ToolCallStarted,
    ToolResultPart,
    Usage,
    UsageReported,
)
from rupu.providers.base import Provider, ProviderSetup
from rupu.providers.registry import register_provider


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A tool call the model makes. `call_id` defaults to `call_<turn>_<index>`."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    call_id: str | None = None


@dataclass(frozen=True, slots=True)
class Turn:
    """One model turn. `stop_reason` defaults to `tool_use` when there are tool calls, else
    `end_turn`; `usage` defaults to a word count of the request and the text; `model` (the model
    the provider says served the turn) defaults to the requested one."""

    text: str = ""
    tool_calls: Sequence[ToolCall] = ()
    thinking: str | None = None
    usage: Usage | None = None
    stop_reason: StopReason | None = None
    model: str | None = None
    request_id: str | None = None


Answer = Turn | str
"""What a function or a script gives for a turn: a `Turn`, or just its text."""

TurnFunction = Callable[[ModelRequest], Answer | Awaitable[Answer]]


def last_user_text(request: ModelRequest) -> str:
    """The text of the last user message (tool results included): what the model is answering."""
    for message in reversed(request.messages):
        if message.role == "user":
            return "".join(
                p.text if isinstance(p, TextPart) else p.content
                for p in message.parts
                if isinstance(p, TextPart | ToolResultPart)
            )
    return ""


class FunctionProvider:
    """A `Provider` whose every turn is `function(request)`. The function may be async, may return a
    `Turn` or a string, and may raise `ProviderError` (a rate limit, a refusal) to test how rupu
    handles it. Requests are recorded in `.requests` (copies: later turns do not change them)."""

    def __init__(self, function: TurnFunction, *, name: str = "test") -> None:
        self.name = name
        self.function = function
        self.requests: list[ModelRequest] = []
        self.closed = False

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        self.requests.append(dataclasses.replace(request, messages=list(request.messages)))
        answer = self.function(request)
        if inspect.isawaitable(answer):
            answer = await answer
        turn = Turn(text=answer) if isinstance(answer, str) else answer
        for event in turn_events(turn, request, turn_index=len(self.requests) - 1):
            yield event

    async def aclose(self) -> None:
        # Routes close their providers after each run; a test double stays usable for the next.
        self.closed = True


class ScriptedProvider(FunctionProvider):
    """A `Provider` that plays `turns` in order, one per request, across runs. An entry that is a
    `ProviderError` is raised instead of answered. Asking for more turns than scripted is a
    `ProviderError` (error type `script_exhausted`). Add turns later with `enqueue()`."""

    def __init__(self, turns: Iterable[Answer | ProviderError] = (), *, name: str = "test") -> None:
        super().__init__(self._next, name=name)
        self.turns: list[Answer | ProviderError] = list(turns)
        self._played = 0

    def enqueue(self, *turns: Answer | ProviderError) -> None:
        self.turns.extend(turns)

    @property
    def remaining(self) -> int:
        return len(self.turns) - self._played

    def _next(self, request: ModelRequest) -> Answer:
        if self._played >= len(self.turns):
            raise ProviderError(
                self.name,
                f"the script has {len(self.turns)} turns; turn {self._played + 1} was requested",
                error_type="script_exhausted",
                hint="enqueue more turns",
            )
        entry = self.turns[self._played]
        self._played += 1
        if isinstance(entry, ProviderError):
            raise entry
        return entry


def turn_events(turn: Turn, request: ModelRequest, *, turn_index: int = 0) -> Iterator[StreamEvent]:
    """`turn` as the event stream a real provider would send for it."""
    yield ResponseStarted(model=turn.model or request.model, request_id=turn.request_id)
    if turn.thinking:
        yield ThinkingDelta(turn.thinking)
        yield ThinkingFinished()
    if turn.text:
        yield TextDelta(turn.text)
    for index, call in enumerate(turn.tool_calls):
        call_id = call.call_id or f"call_{turn_index + 1}_{index}"
        yield ToolCallStarted(index, call_id, call.name)
        yield ToolCallFinished(index, dict(call.arguments))
    usage = turn.usage or Usage(
        input_tokens=_words(request), output_tokens=len(turn.text.split()), reported=True
    )
    yield UsageReported(usage)
    stop: StopReason = turn.stop_reason or ("tool_use" if turn.tool_calls else "end_turn")
    yield ResponseFinished(stop, stop)


def _words(request: ModelRequest) -> int:
    words = len(request.system.split())
    for message in request.messages:
        for part in message.parts:
            if isinstance(part, TextPart):
                words += len(part.text.split())
    return words


P = TypeVar("P", bound=Provider)


@contextmanager
def use_provider(provider: P, *, name: str | None = None) -> Iterator[P]:
    """While the block runs, the provider name `name` (default `provider.name`) is served by
    `provider` in this process: agents, workflows and in-process CLI runs that name it get this
    object, with no credential and no config entry. It shadows a built-in or configured provider of
    the same name; the previous meaning comes back when the block ends."""

    def factory(setup: ProviderSetup) -> Provider:
        return provider

    with register_provider(name or provider.name, factory):
        yield provider
