"""Running an agent from Python: `run_agent` returns the result, `stream_agent` also hands over each
stream event as it arrives (the same `rupu.messages.StreamEvent`s `rupu run` renders)."""

from __future__ import annotations

import functools
import math
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import anyio
from anyio.abc import ObjectReceiveStream

from rupu.agents.loop import EventSink
from rupu.api.agents import AgentRef, RunResult, load_agent, prepare_agent
from rupu.api.session import Session
from rupu.errors import RupuError
from rupu.messages import StreamEvent


async def run_agent(
    agent: AgentRef,
    prompt: str,
    *,
    provider: str | None = None,
    model: str | None = None,
    auth: str | None = None,
    tools: Sequence[str] | None = None,
    mode: str | None = None,
    fallbacks: Sequence[str] = (),
    workspace: Path | str | None = None,
    allow_unknown_model: bool = False,
    max_usd: float | None = None,
    max_tokens: int | None = None,
    session: Session | None = None,
    on_event: EventSink | None = None,
    fast: bool = False,
) -> RunResult:
    """Runs `agent` (a name, a path to its `.md` file, or an `Agent(...)`) on `prompt`.

    `provider`, `model`, `auth`, `mode`, `fallbacks` and `fast` override the agent like
    the `rupu run` flags of the same names; `tools` replaces the agent's tool list. `max_usd` /
    `max_tokens` cap the run's spend: a call that could cross either is not sent and the run
    raises `rupu.errors.BudgetReached`. Tools never prompt: in mode `ask` a write or command is
    denied. Raises the run's error (a `rupu.errors.RupuError`) when it
    ends in one; its transcript is saved either way."""
    session = session or Session.from_environment()
    spec = load_agent(agent, session=session)
    if tools is not None:
        front = spec.frontmatter.model_copy(update={"tools": list(tools)})
        spec = spec.model_copy(update={"frontmatter": front})
    where = Path(workspace) if workspace is not None else None
    prepare = functools.partial(
        prepare_agent,
        session,
        spec,
        provider=provider,
        model=model,
        auth=auth,
        fallbacks=fallbacks,
        mode=mode,
        workspace=where,
        allow_unknown_model=allow_unknown_model,
        fast=fast,
        max_usd=max_usd,
        max_tokens=max_tokens,
    )
    # Resolving credentials reads the credential store, which blocks.
    prepared = await anyio.to_thread.run_sync(prepare)
    result = await prepared.run(prompt, on_event=on_event)
    if result.outcome.error is not None:
        raise result.outcome.error
    return result


@dataclass(slots=True)
class AgentStream:
    """The events of a running agent (iterate once); `result` once they are all read."""

    events: ObjectReceiveStream[StreamEvent]
    _result: RunResult | None = field(default=None, init=False)

    def __aiter__(self) -> AsyncIterator[StreamEvent]:
        return self.events.__aiter__()

    @property
    def result(self) -> RunResult:
        if self._result is None:
            raise RuntimeError("the run has not finished: read every event first")
        return self._result


@asynccontextmanager
async def stream_agent(
    agent: AgentRef,
    prompt: str,
    *,
    provider: str | None = None,
    model: str | None = None,
    auth: str | None = None,
    tools: Sequence[str] | None = None,
    mode: str | None = None,
    fallbacks: Sequence[str] = (),
    workspace: Path | str | None = None,
    allow_unknown_model: bool = False,
    max_usd: float | None = None,
    max_tokens: int | None = None,
    session: Session | None = None,
    fast: bool = False,
) -> AsyncIterator[AgentStream]:
    """`run_agent` as a stream of events: `async with stream_agent(...) as stream`, then
    `async for event in stream`; `stream.result` afterwards. Leaving the block early cancels the
    run; a run that ends in an error raises it when the block ends."""
    send, receive = anyio.create_memory_object_stream[StreamEvent](math.inf)
    stream = AgentStream(receive)
    failed: list[RupuError] = []

    async def produce() -> None:
        with send:
            try:
                stream._result = await run_agent(
                    agent,
                    prompt,
                    provider=provider,
                    model=model,
                    auth=auth,
                    tools=tools,
                    mode=mode,
                    fallbacks=fallbacks,
                    workspace=workspace,
                    allow_unknown_model=allow_unknown_model,
                    max_usd=max_usd,
                    max_tokens=max_tokens,
                    session=session,
                    fast=fast,
                    on_event=send.send_nowait,
                )
            except RupuError as exc:  # raised as itself below, not in an ExceptionGroup
                failed.append(exc)

    raised: list[Exception] = []
    with receive:
        async with anyio.create_task_group() as group:
            group.start_soon(produce)
            try:
                yield stream
            except Exception as exc:  # the caller's own: raised as itself below
                raised.append(exc)
            finally:
                if stream._result is None and not failed:
                    group.cancel_scope.cancel()
    if raised:
        raise raised[0]
    if failed:
        raise failed[0]
