"""The scheduler: every step is a task that waits for the steps it needs, then runs its units
concurrently within the step, workflow and provider limits.

- Without `continue_on_error`, the first failed unit cancels the whole run (siblings included) and
  the run fails naming the step and unit. With it, the step is recorded as failed and later steps
  see `steps.<id>.success == false`; the run ends `partial`.
- An `approval` step parks: it and everything after it wait, the rest of the graph finishes, and
  the run ends `awaiting_approval` until `rupu workflow approve|reject`.
- `interrupt(reason)` (Ctrl-C, SIGTERM) cancels everything in flight; the run record is written before returning.
- On resume, a unit whose earlier result succeeded with the same inputs is reused as recorded.

The runner plans and records; a `UnitDispatcher` (rupu.workflows.dispatch) runs the units within
the concurrency limits and reports back through a `StepReport` (rupu.workflows.step_state, which
also reuses earlier results and cached ones).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import anyio

from rupu.agents.budget import LocalSpendGuard
from rupu.errors import RupuError
from rupu.routing.checks import PriceOf
from rupu.tools.setup import ToolSetup
from rupu.workflows.budgets import budget_exceeded, budget_record
from rupu.workflows.cache import RunCache
from rupu.workflows.dispatch import DispatcherFactory, local_dispatcher
from rupu.workflows.events import (
    UNLOGGED,
    ApprovalRequested,
    Observer,
    RunEvent,
    RunNote,
    RunResumed,
    RunStarted,
    StepFinished,
    StepStarted,
    add_costs,
)
from rupu.workflows.limits import ProviderPool
from rupu.workflows.nesting import Scope, final_outputs, run_call, run_loop
from rupu.workflows.plan import Plan, PlannedStep
from rupu.workflows.results import RunOutcome, step_record, view_of
from rupu.workflows.spec import LoopStep, WorkflowStep
from rupu.workflows.step_state import Prior, StepState, run_units
from rupu.workflows.step_units import step_units
from rupu.workflows.store import RunRecord
from rupu.workflows.templates import TemplateError, is_truthy
from rupu.workflows.units import ToolboxOpener, Unit, UnitRunner

PARKED = frozenset({"awaiting_approval", "blocked"})
INTERRUPTED = "interrupted (Ctrl-C)"
TERMINATED = "terminated (SIGTERM)"


class WorkflowRunner:
    def __init__(
        self,
        plan: Plan,
        record: RunRecord,
        pool: ProviderPool,
        *,
        observer: Observer | None = None,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        prior: Prior | None = None,
        toolbox: ToolboxOpener | None = None,
        dispatcher: DispatcherFactory = local_dispatcher,
        price_of: PriceOf | None = None,
        guard: LocalSpendGuard | None = None,
        cache: RunCache | None = None,
        commands: ToolSetup | None = None,
    ) -> None:
        self.plan = plan
        self.record = record
        self.pool = pool
        self.observer = observer or Observer()
        self.prior = prior or Prior()
        self._views: dict[str, dict[str, Any]] = {}
        self._top: Scope[StepState] = Scope("", plan.inputs, self._views)
        self.states = self._top.states = {s: StepState(s, self._top) for s in plan.steps}
        # The steps of loop iterations and called workflows, in the order they started.
        self._nested: list[tuple[Scope[StepState], Sequence[PlannedStep]]] = []
        self._log = record.open_log()
        self._scope: anyio.CancelScope | None = None
        self._interrupted = False
        self._stop_reason = INTERRUPTED
        self._fatal: str | None = None
        self._fatal_step: str | None = None
        self.guard = guard
        self.cache = cache
        if guard is not None:
            guard.notify = lambda text: self._emit(RunNote(about="budget", message=text))
        executor = UnitRunner(
            record.run_id,
            record,
            pool,
            sleep,
            toolbox=toolbox,
            price_of=price_of,
            guard=guard if guard is not None and guard.active else None,
            commands=commands,
        )
        self.dispatcher = dispatcher(plan, pool, executor)

    def _emit(self, event: RunEvent) -> None:
        if event.type in UNLOGGED:
            self.observer.event(event)
        else:
            self.observer.event(self._log.append(event))

    emit = _emit  # for loop and workflow steps (rupu.workflows.nesting)

    async def run_nested(self, steps: Sequence[PlannedStep], scope: Scope[StepState]) -> None:
        """Runs the steps of a loop iteration or a called workflow, in their dependency order."""
        scope.states = {p.id: StepState(scope.path(p.id), scope) for p in steps}
        self._nested.append((scope, steps))
        async with anyio.create_task_group() as group:
            for planned in steps:
                group.start_soon(self._step_task, planned, scope)

    def interrupted(self) -> str | None:
        return self._stop_reason if self._interrupted else None

    @property
    def stopping(self) -> bool:
        """Nothing new starts once the run fails fast or is interrupted (cancellation only reaches
        a task at its next await, so this is checked before every start)."""
        return self._fatal is not None or self._interrupted

    def interrupt(self, reason: str = INTERRUPTED) -> None:
        """Stop scheduling and cancel everything in flight (the first Ctrl-C or SIGTERM); `reason`
        is what the records say stopped the run."""
        self._interrupted, self._stop_reason = True, reason
        self.dispatcher.cancel()
        if self._scope is not None:
            self._scope.cancel()

    async def run(self, *, resumed: bool = False) -> RunOutcome:
        """Runs the plan; its providers' connections are closed when it ends, however it ends."""
        started = time.monotonic()
        opened = RunResumed if resumed else RunStarted
        try:
            self._emit(
                opened(
                    workflow=self.plan.name,
                    inputs=self.plan.inputs,
                    steps=list(self.plan.steps),
                    overrides=self.plan.overrides.as_dict(),
                )
            )
            async with anyio.create_task_group() as group:
                self._scope = group.cancel_scope
                if self._interrupted:
                    group.cancel_scope.cancel()
                for planned in self.plan.steps.values():
                    group.start_soon(self._step_task, planned)
        except Exception as exc:  # a bug: record the run as failed, keep the traceback
            self._fatal = self._fatal or f"internal error: {type(exc).__name__}: {exc}"
            raise
        finally:
            outcome = self._finalize(started)
            with anyio.CancelScope(shield=True):  # the connections close while the records flush
                async with anyio.create_task_group() as group:
                    group.start_soon(self.pool.aclose)
                    await anyio.to_thread.run_sync(self._flush, outcome)
        return outcome

    async def _step_task(self, planned: PlannedStep, scope: Scope[StepState] | None = None) -> None:
        states = (scope or self._top).states
        state = states[planned.id]
        try:
            for need in planned.needs:
                await states[need].done.wait()
            if not self.stopping:
                await self._run_step(planned, state)
        finally:
            state.done.set()

    async def _run_step(self, planned: PlannedStep, state: StepState) -> None:
        upstream = [state.scope.states[need].status for need in planned.needs]
        if "rejected" in upstream or "skipped_rejected" in upstream:
            self._settle(
                planned, state, "skipped_rejected", error="an upstream approval was rejected"
            )
            return
        if any(status in PARKED for status in upstream):
            state.status = "blocked"
            return
        state.status = "running"
        state.started = time.monotonic()
        step = planned.step
        context = state.scope.context()
        try:
            if step.when is not None:
                when = step.when if isinstance(step.when, bool) else None
                if planned.templates.when is not None:
                    when = is_truthy(planned.templates.when.evaluate(context))
                if not when:
                    self._settle(planned, state, "skipped", error=None)
                    return
            if step.approval is not None and step.approval.required:
                decided = self.prior.decisions.get(state.path)
                if decided is None:
                    self._park(planned, state, context)
                    return
                state.decision = decided[0]
                if decided[0] != "approved":
                    self._settle(planned, state, "rejected", error=decided[1] or "rejected")
                    return
            if isinstance(planned.step, LoopStep | WorkflowStep):
                await self._run_nested_step(planned, state)
                return
            units = self._units(planned, state, context)
        except TemplateError as exc:
            self._settle(planned, state, "failed", error=f"step '{state.path}': {exc.message}")
            if not planned.continue_on_error:
                self.fail(state.path, f"step '{state.path}' failed: {exc.message}")
            return
        self._emit(StepStarted(step=state.path, kind=planned.kind, units=len(units)))
        await run_units(self, planned, state, units)
        failed = any(u is None or not u.ok for u in state.units)
        self._settle(planned, state, "failed" if failed else "succeeded")

    def _units(self, planned: PlannedStep, state: StepState, context: dict[str, Any]) -> list[Unit]:
        defaults = state.scope.defaults or self.plan.loaded.workflow.defaults
        units, state.items = step_units(planned, context, defaults)
        for unit in units:  # inside a loop or a called workflow: the step's path
            unit.step = state.path
        return units

    async def _run_nested_step(self, planned: PlannedStep, state: StepState) -> None:
        """A loop or workflow step: its steps run in a scope of their own (`rupu.workflows.nesting`);
        their units count as the step's."""
        self._emit(StepStarted(step=state.path, kind=planned.kind, units=0))
        run = run_loop if isinstance(planned.step, LoopStep) else run_call
        outcome = await run(self, planned, state.scope, state.units)
        state.result = outcome.result
        self._settle(planned, state, outcome.status, error=outcome.error)
        if outcome.status == "failed" and not planned.continue_on_error:
            self.fail(state.path, f"step '{state.path}' failed: {outcome.error}")

    def fail(self, step: str, message: str) -> None:
        if self._fatal is None and not self._interrupted:
            self._fatal, self._fatal_step = message, step
            self.dispatcher.cancel()
            if self._scope is not None:
                self._scope.cancel()

    def stop_scheduling(self, step: str, message: str) -> None:
        """Fails the run without cancelling the units in flight: their calls were within the
        budget when they were sent, and what they cost is recorded when they finish."""
        if self._fatal is None and not self._interrupted:
            self._fatal, self._fatal_step = message, step

    def _park(self, planned: PlannedStep, state: StepState, context: dict[str, Any]) -> None:
        template = planned.templates.approval
        prompt = (
            template.render(context) if template is not None else f"approve step '{state.path}'?"
        )
        state.status = "awaiting_approval"
        self.record.write_step(
            state.path, {"step": state.path, "status": "awaiting_approval", "prompt": prompt}
        )
        self._emit(ApprovalRequested(step=state.path, prompt=prompt))

    def _settle(
        self, planned: PlannedStep, state: StepState, status: str, *, error: str | None = None
    ) -> None:
        if error is None and status == "failed":
            failures = [u for u in state.units if u is not None and not u.ok]
            error = failures[0].error if failures else "not finished"
        state.status, state.error = status, error
        shown = "skipped" if status == "skipped_rejected" else status
        duration = int((time.monotonic() - state.started) * 1000) if state.started else 0
        record = step_record(planned, state.units, shown, error, state.decision, state.items)
        record.update(state.result or {})
        record["step"], record["duration_ms"] = state.path, duration
        scope = state.scope
        state.view = scope.views[planned.id] = view_of(record)
        scope.statuses[planned.id], scope.errors[planned.id] = status, error
        if scope is not self._top:  # the loop or workflow step running it counts its units
            scope.units.extend(state.units)
        self.record.write_step(state.path, record)
        self._emit(
            StepFinished(
                step=state.path,
                status=shown,
                tokens=record["tokens"],
                cost_usd=record["cost_usd"],
                duration_ms=duration,
                error=error,
            )
        )

    def _finalize(self, started: float) -> RunOutcome:
        # Innermost first, so a loop or workflow step counts the units its steps were running.
        for scope, steps in [*reversed(self._nested), (self._top, list(self.plan.steps.values()))]:
            for planned in steps:
                state = scope.states[planned.id]
                if state.status != "running":
                    continue
                fatal = self._fatal_step or ""
                if fatal == state.path:
                    self._settle(planned, state, "failed")
                elif fatal.startswith(state.path + "."):  # a loop or workflow step around it
                    self._settle(planned, state, "failed", error=self._fatal)
                else:
                    status = "interrupted" if self._interrupted else "cancelled"
                    error = self._stop_reason if self._interrupted else status
                    self._settle(planned, state, status, error=error)
        statuses = {k: s.status for k, s in self.states.items()}
        failed = [k for k, s in statuses.items() if s == "failed"]
        awaiting = [k for k, s in statuses.items() if s == "awaiting_approval"]
        if self._interrupted:
            status = "interrupted"
        elif self._fatal is not None:
            status = "failed"
        elif awaiting:
            status = "awaiting_approval"
        elif "rejected" in statuses.values():
            status = "rejected"
        elif failed:
            status = "partial"
        else:
            status = "succeeded"
        # The whole run's tokens: units reused from an earlier attempt spent theirs in that attempt.
        done = [u for s in self.states.values() for u in s.units if u is not None]
        exceeded = budget_exceeded(self.guard)
        if exceeded is not None:
            self._emit(exceeded)
        outcome = RunOutcome(
            run_id=self.record.run_id,
            status=status,
            failed=failed,
            awaiting=awaiting,
            error=self._stop_reason if self._interrupted else self._fatal,
            tokens=sum(u.tokens for u in done),
            cost_usd=add_costs([u.cost_usd for u in done]),
            duration_ms=int((time.monotonic() - started) * 1000),
            outputs=final_outputs(self.plan, self._views, lambda step: self.states[step].status),
            steps_done=sum(
                1 for s in statuses.values() if s not in ("pending", "running", "blocked")
            ),
            budget=budget_record(exceeded) if exceeded is not None else None,
        )
        self.record.write_state(outcome.state())
        self._emit(outcome.event())
        return outcome

    def _flush(self, outcome: RunOutcome) -> None:
        if self.cache is None:
            self._flush_record(outcome)
        elif problem := self.cache.write_during(lambda: self._flush_record(outcome)):
            self._log.append(RunNote(about="cache", message=problem))

    def _flush_record(self, outcome: RunOutcome) -> None:
        try:
            self.record.flush()
        except OSError as exc:
            run_id = self.record.run_id
            raise RupuError(
                f"run {run_id}: could not write its record {exc.filename or ''}: "
                f"{exc.strerror or exc}",
                hint=f"free disk space or raise the open-file limit (`ulimit -n`), then "
                f"`rupu workflow resume {run_id}`",
            ) from None
        self.record.index.record(
            self.record.run_id,
            workflow=self.plan.name,
            source=str(self.record.meta.get("source", "")),
            status=outcome.status,
            created=self.record.created,
            steps_total=len(self.plan.steps),
            steps_done=outcome.steps_done,
            failed=outcome.failed,
            tokens=outcome.tokens,
            cost_usd=outcome.cost_usd,
            error=outcome.error,
            units_done=sum(
                1
                for s in self.states.values()
                for u in s.units
                if u is not None and u.status in ("succeeded", "failed")
            ),
            units_total=sum(len(s.units) for s in self.states.values()),
        )
