"""Wiring sub-agents into a run: every agent of the tree is prepared (route, credential, model check,
tools) with the top agent, before any request; a dispatch runs a fresh copy of the prepared child.

- Each sub-run uses its own agent file's provider, model, credential, tools and limits, in the
  caller's workspace, with the caller's decider (who answers `ask`), and in a permission mode never
  wider than the caller's (`rupu.agents.subagents.narrower_mode`).
- `--provider`, `--model`, `--auth`, `--mode` and `--fast` (and the same arguments of the Python
  API) apply to every agent of the tree, so `--provider mock` runs the whole tree offline.
- Budgets: sub-runs share the caller's spend guard and budget step (`rupu.agents.budget`).
- Concurrency: every provider call of the tree waits for its provider's slot (`max_concurrency` of
  the provider, as in workflows); a run never holds a slot while its sub-agents run, so a tree on one
  provider cannot deadlock.
- Each sub-run writes its own transcript (its `run_start` names the caller's run); the caller's
  transcript gets `subagent_start` and `subagent_run` records linking to it, and its totals include
  every sub-run's tokens and cost.
- Stopping the caller (Ctrl-C, SIGTERM) stops the sub-runs in flight with the same reason.
"""

# lazy imports: the CLI imports the session for every command; what a run needs loads when it runs
from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import anyio

from rupu.agents.loop import AgentResult
from rupu.agents.spec import AgentSpec
from rupu.agents.subagents import AgentTree, narrower_mode
from rupu.errors import Interrupted, RupuError
from rupu.messages import ModelRequest, StreamEvent
from rupu.providers.base import Provider
from rupu.routing.target import RunTarget
from rupu.tools.base import Tool, ToolContext
from rupu.tools.dispatch import SubAnswer, SubRun, SubRunLedger, dispatch_tools

if TYPE_CHECKING:
    from rupu.agents.budget import SpendGuard
    from rupu.config import LoadedConfig
    from rupu.tools.permissions import Decider, Decision, PermissionRequest
    from rupu.tools.setup import ToolSetup


class Finished(Protocol):
    @property
    def outcome(self) -> AgentResult: ...


class ChildRun(Protocol):
    """A prepared sub-agent run (`rupu.api.agents.PreparedRun`)."""

    @property
    def run_id(self) -> str: ...

    @property
    def spec(self) -> AgentSpec: ...

    @property
    def target(self) -> RunTarget: ...

    @property
    def transcript_path(self) -> Path: ...

    def fresh(self) -> ChildRun:
        """A copy to run once more, with a run id of its own."""
        ...

    def stop(self, reason: Interrupted) -> None: ...

    async def run(
        self,
        prompt: str,
        *,
        notify: Callable[[str], None] | None = None,
        parent: str | None = None,
        guard: SpendGuard | None = None,
        budget_step: str | None = None,
    ) -> Finished: ...


@dataclass(slots=True)
class ProviderSlots:
    """One semaphore per provider for a whole tree of runs (None: unlimited, like `mock`)."""

    config: LoadedConfig
    _slots: dict[str, anyio.Semaphore | None] = field(default_factory=dict)

    def of(self, provider: str) -> anyio.Semaphore | None:
        from rupu.workflows.limits import provider_limit

        if provider not in self._slots:
            value = provider_limit(provider, self.config)
            self._slots[provider] = anyio.Semaphore(value) if value else None
        return self._slots[provider]


@dataclass(slots=True)
class SlottedProvider:
    """A provider whose every call first takes its provider's slot."""

    inner: Provider
    slot: anyio.Semaphore | None
    name: str = field(init=False)

    def __post_init__(self) -> None:
        self.name = self.inner.name

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        if self.slot is None:
            async for event in self.inner.stream(request):
                yield event
            return
        async with self.slot:
            async for event in self.inner.stream(request):
                yield event

    async def aclose(self) -> None:
        await self.inner.aclose()


@dataclass(slots=True)
class Subagents:
    """The prepared agents a run may dispatch to, by name (each takes its provider's slot of the
    tree's `ProviderSlots` for every call)."""

    tree: AgentTree
    children: dict[str, ChildRun]


@dataclass(slots=True)
class SubagentDecider:
    """Asks the caller's decider on a sub-agent's behalf: the question names the agent, and the
    sub-agents of a tree ask one at a time (they may run concurrently on one terminal)."""

    inner: Decider
    agent: str
    lock: anyio.Lock

    async def decide(self, request: PermissionRequest) -> Decision:
        named = dataclasses.replace(request, summary=f"[{self.agent}] {request.summary}")
        async with self.lock:
            return await self.inner.decide(named)


def narrowed_setup(child: ToolSetup, parent: ToolSetup, caller: str, agent: str) -> ToolSetup:
    """The tool setup of `agent`, called by `caller`: in the caller's workspace, asking the
    caller's decider, in a mode never wider than the caller's."""
    mode = narrower_mode(child.mode, parent.mode)
    source = child.mode_source if mode == child.mode else f"caller agent '{caller}'"
    above = parent.decider
    if isinstance(above, SubagentDecider):
        decider = SubagentDecider(above.inner, agent, above.lock)
    else:
        decider = SubagentDecider(above, agent, anyio.Lock())
    return dataclasses.replace(
        child, mode=mode, mode_source=source, workspace=parent.workspace, decider=decider
    )


@dataclass(slots=True)
class Dispatcher:
    """Runs the sub-agents of one run. `tools()` are the dispatch tools for its tool box."""

    run_id: str
    caller: str
    subagents: Subagents
    ledger: SubRunLedger
    notify: Callable[[str], None] | None = None
    _active: dict[str, ChildRun] = field(default_factory=dict, init=False)
    _stopped: Interrupted | None = field(default=None, init=False)

    def tools(self) -> list[Tool]:
        about = {
            name: child.spec.frontmatter.description or ""
            for name, child in self.subagents.children.items()
        }
        return list(dispatch_tools(about, self.dispatch))

    def stop(self, reason: Interrupted) -> None:
        self._stopped = reason
        for child in list(self._active.values()):
            child.stop(reason)

    async def dispatch(self, agent: str, prompt: str, ctx: ToolContext) -> SubAnswer:
        child = self.subagents.children[agent].fresh()
        target = child.target
        ctx.record(
            "subagent_start",
            call_id=ctx.call_id,
            agent=agent,
            run_id=child.run_id,
            provider=target.provider,
            model=target.model,
            transcript=str(child.transcript_path),
        )
        notify = self.notify
        if notify is not None:
            notify(f"{agent} started on {target.provider} · {target.model} ({child.run_id})")
        self._active[child.run_id] = child
        try:
            if self._stopped is not None:
                child.stop(self._stopped)
            result = await child.run(
                prompt,
                notify=(lambda line: notify(f"{agent}: {line}")) if notify is not None else None,
                parent=self.ledger.caller_run or self.run_id,
                guard=self.ledger.guard,
                budget_step=self.ledger.budget_step,
            )
        except RupuError as exc:  # it could not start (its tools did not open, ...)
            if isinstance(exc, Interrupted):
                raise
            ctx.record(
                "subagent_run",
                call_id=ctx.call_id,
                agent=agent,
                run_id=child.run_id,
                status="error",
                error=exc.one_line(),
            )
            return SubAnswer(agent, "error", "", error=exc.one_line())
        finally:
            self._active.pop(child.run_id, None)
        outcome = result.outcome
        answer = self._answer(agent, child, outcome.status, outcome.text, outcome.error)
        self.ledger.add(
            SubRun(
                agent=agent,
                run_id=child.run_id,
                status=answer.status if answer.error is None else "error",
                provider=target.provider,
                model=target.model,
                usage=outcome.usage,
                cost_usd=outcome.cost_usd,
                transcript=outcome.transcript,
                depth=self.subagents.tree.children[agent].depth,
            )
        )
        ctx.record(
            "subagent_run",
            call_id=ctx.call_id,
            agent=agent,
            run_id=child.run_id,
            status=outcome.status,
            provider=target.provider,
            model=target.model,
            usage=outcome.usage.as_dict(),
            cost_usd=outcome.cost_usd,
            duration_ms=outcome.duration_ms,
            transcript=str(outcome.transcript),
            error=answer.error,
        )
        return answer

    def _answer(
        self, agent: str, child: ChildRun, status: str, text: str, error: RupuError | None
    ) -> SubAnswer:
        """What the caller gets: the final text, the checked JSON of an agent with an output
        schema (or `outputFormat: json`), or why there is neither."""
        from rupu.workflows.contracts import check_output

        if error is not None:
            return SubAnswer(agent, "error", text, error=error.one_line())
        if status != "ok":
            return SubAnswer(agent, "aborted", text, error="the run was stopped")
        schema = child.spec.frontmatter.output_schema
        if schema is None and child.spec.frontmatter.output_format != "json":
            return SubAnswer(agent, "ok", text)
        checked = check_output(text, schema)
        if checked.errors:
            return SubAnswer(
                agent,
                "error",
                text,
                error="its answer does not match its output schema: " + "; ".join(checked.errors),
            )
        return SubAnswer(agent, "ok", text, checked.value, structured=True)
