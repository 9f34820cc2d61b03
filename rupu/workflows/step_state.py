"""What the runner keeps of each step (`StepState`), and where a step's unit results come from:
reused from an earlier attempt of the run (`Prior`, on resume, when a unit succeeded with the same
inputs), taken from the step cache, or run by the dispatcher and recorded as each finishes
(`StepReport`), on disk before anything that waited for it starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import anyio

from rupu.agents.budget import LocalSpendGuard
from rupu.workflows.cache import RunCache
from rupu.workflows.dispatch import UnitBatch, UnitDispatcher
from rupu.workflows.events import (
    ApprovalDecided,
    RunEvent,
    RunNote,
    UnitCached,
    UnitFinished,
    UnitReused,
    read_run_events,
)
from rupu.workflows.nesting import Scope
from rupu.workflows.plan import PlannedStep
from rupu.workflows.store import RunRecord
from rupu.workflows.units import Unit, UnitOutcome, unit_record


@dataclass(slots=True)
class StepState:
    path: str  # the step's id, or inside loops and called workflows its path (`fix.2.review`)
    scope: Scope[StepState]  # the steps it runs with, and what its templates see
    status: str = "pending"
    units: list[UnitOutcome | None] = field(default_factory=list)
    view: dict[str, Any] | None = None
    started: float = 0.0
    items: list[Any] | None = None
    decision: str | None = None
    error: str | None = None
    result: dict[str, Any] | None = None  # a loop or workflow step's own fields (`iterations`, ...)
    done: anyio.Event = field(default_factory=anyio.Event)


@dataclass(slots=True)
class Prior:
    """What an earlier attempt of this run left: unit results and approval decisions."""

    decisions: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    units: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def load(cls, record: RunRecord) -> Prior:
        prior = cls(units=record.read_units())
        for event in read_run_events(record.directory / "events.jsonl"):
            if isinstance(event, ApprovalDecided):
                prior.decisions[event.step] = (event.decision, event.reason)
        return prior

    def unit(self, step: str, index: int) -> dict[str, Any] | None:
        return self.units.get((step, index))


class StepRunner(Protocol):
    """What a step's units need from the runner (`rupu.workflows.runner.WorkflowRunner`)."""

    record: RunRecord
    prior: Prior
    cache: RunCache | None
    guard: LocalSpendGuard | None
    dispatcher: UnitDispatcher

    @property
    def stopping(self) -> bool: ...

    def interrupted(self) -> str | None: ...

    def emit(self, event: RunEvent) -> None: ...

    def fail(self, step: str, message: str) -> None: ...

    def stop_scheduling(self, step: str, message: str) -> None: ...


async def run_units(
    runner: StepRunner, planned: PlannedStep, state: StepState, units: list[Unit]
) -> None:
    state.units = [None] * len(units)
    pending = [unit for unit in units if not _reuse(runner, state, unit)]
    pending = _from_cache(runner, planned, state, pending)
    if not pending:
        return
    batch = UnitBatch(state.path, pending, planned.max_parallel)
    await runner.dispatcher.dispatch(batch, StepReport(runner, planned, state))


def _reuse(runner: StepRunner, state: StepState, unit: Unit) -> bool:
    """Takes an earlier attempt's result when it succeeded with the same inputs."""
    prior = runner.prior.unit(unit.step, unit.index)
    if (
        prior is None
        or prior.get("status") != "succeeded"
        or prior.get("input_hash") != unit.input_hash
    ):
        return False
    outcome = state.units[unit.index] = UnitOutcome.from_record(prior)
    runner.emit(
        UnitReused(
            step=unit.step, unit=unit.index, tokens=outcome.tokens, cost_usd=outcome.cost_usd
        )
    )
    return True


def _from_cache(
    runner: StepRunner, planned: PlannedStep, state: StepState, units: list[Unit]
) -> list[Unit]:
    """Takes the results of units an earlier run computed (step cache); returns the rest."""
    if runner.cache is None or not units:
        return units
    hits, left, note = runner.cache.take(planned.step.cache, units)
    if note is not None:
        runner.emit(RunNote(about="cache", message=note))
    for outcome in hits:
        state.units[outcome.index] = outcome
        runner.record.append_unit(outcome.record)
        record = outcome.record
        runner.emit(
            UnitCached(
                step=planned.id,
                unit=outcome.index,
                sub=record["sub"],
                cached_from=record["cached_from"],
            )
        )
    return left


class StepReport:
    """Where the dispatcher reports one step's units (the `UnitReport` of the runner)."""

    __slots__ = ("planned", "runner", "state")

    def __init__(self, runner: StepRunner, planned: PlannedStep, state: StepState) -> None:
        self.runner, self.planned, self.state = runner, planned, state

    @property
    def stopping(self) -> bool:
        return self.runner.stopping

    def interrupted(self) -> str | None:
        return self.runner.interrupted()

    def event(self, event: RunEvent) -> None:
        self.runner.emit(event)

    def finished(self, unit: Unit, outcome: UnitOutcome) -> None:
        """Records a finished unit: on disk before anything that waited for it starts."""
        runner, planned = self.runner, self.planned
        self.state.units[unit.index] = outcome
        outcome.record = unit_record(
            unit, outcome, runner.record.transcript_name(unit.step, unit.index)
        )
        runner.record.append_unit(outcome.record)
        runner.emit(
            UnitFinished(
                step=unit.step,
                unit=unit.index,
                sub=unit.call.sub,
                status=outcome.status,
                tokens=outcome.tokens,
                cost_usd=outcome.cost_usd,
                duration_ms=outcome.duration_ms,
                error=outcome.error,
            )
        )
        if runner.cache is not None:
            runner.cache.remember(unit, outcome, runner.record.run_id)
        tripped = runner.guard.tripped if runner.guard is not None else None
        if tripped is not None:  # a spend limit stops the whole run, continue_on_error or not
            runner.stop_scheduling(tripped.step or planned.id, tripped.one_line())
        elif not outcome.ok and not planned.continue_on_error:
            where = f" (item {unit.item!r})" if unit.item is not None else ""
            runner.fail(unit.step, f"{unit.label}{where} failed: {outcome.error}")
