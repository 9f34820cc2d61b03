"""The seam between planning a run and executing its units.

The runner decides *what* runs (steps, their units, in dependency order) and records what
happened; a `UnitDispatcher` decides *where and when* each unit runs: it owns the concurrency
limits and cancellation. `LocalDispatcher` runs units as anyio tasks in this process; a
distributed dispatcher ships the same `Unit` (plain data) elsewhere and reports back through the
same `UnitReport`, so the driver stays the only writer of the run's records.

Limits are acquired in one fixed order (step, workflow, provider, descriptors) before a unit is
started, and running units never wait for anything else, so the limits cannot deadlock.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import anyio

from rupu.workflows.limits import ProviderPool, Slots, descriptor_limit
from rupu.workflows.plan import Plan
from rupu.workflows.units import Unit, UnitOutcome, UnitReport

__all__ = [
    "DispatcherFactory",
    "LocalDispatcher",
    "UnitBatch",
    "UnitDispatcher",
    "UnitExecutor",
    "UnitReport",
    "local_dispatcher",
]


@dataclass(frozen=True, slots=True)
class UnitBatch:
    """The units of one step to run (already without those reused from an earlier attempt);
    `max_parallel` is the step's own limit."""

    step: str
    units: Sequence[Unit]
    max_parallel: int | None = None


class UnitExecutor(Protocol):
    """Runs one unit in this process, filling `outcome`; never raises except for cancellation."""

    async def run(self, unit: Unit, outcome: UnitOutcome, report: UnitReport) -> None: ...


class UnitDispatcher(Protocol):
    async def dispatch(self, batch: UnitBatch, report: UnitReport) -> None:
        """Runs the units of `batch` within the limits, reporting each unit's events and outcome;
        returns when every started unit has finished. Stops starting units once
        `report.stopping`."""
        ...

    def cancel(self) -> None:
        """Cancels every unit in flight (each is still reported as finished)."""
        ...


# Builds the dispatcher of one run (`Engine.dispatcher`) from its plan, its providers and the
# in-process executor of its units; the default is `local_dispatcher`.
DispatcherFactory = Callable[[Plan, ProviderPool, UnitExecutor], UnitDispatcher]


class LocalDispatcher:
    """Runs units as anyio tasks of the calling task, within the workflow's `max_concurrency`,
    each step's `max_parallel`, each provider's limit and the process's open-file budget."""

    def __init__(
        self, pool: ProviderPool, executor: UnitExecutor, *, max_concurrency: int | None = None
    ) -> None:
        self.pool = pool
        self.executor = executor
        self._workflow_limit = anyio.Semaphore(max_concurrency) if max_concurrency else None
        self._descriptors = descriptor_limit()
        self._scopes: set[anyio.CancelScope] = set()
        self._cancelled = False

    def cancel(self) -> None:
        self._cancelled = True
        for scope in self._scopes:
            scope.cancel()

    async def dispatch(self, batch: UnitBatch, report: UnitReport) -> None:
        with anyio.CancelScope() as scope:
            if self._cancelled:
                scope.cancel()
            self._scopes.add(scope)
            try:
                await self._dispatch(batch, report)
            finally:
                self._scopes.discard(scope)

    async def _dispatch(self, batch: UnitBatch, report: UnitReport) -> None:
        units = batch.units
        if len(units) == 1:  # no task group needed for a single unit
            slots = Slots()
            await slots.acquire(
                self._workflow_limit,
                self._provider_limit(units[0]),
                self._descriptors,
            )
            await self._run(units[0], slots, report)
            return
        step_limit = anyio.Semaphore(batch.max_parallel) if batch.max_parallel else None
        async with anyio.create_task_group() as group:
            for unit in units:
                if report.stopping:
                    break
                slots = Slots()
                await slots.acquire(
                    step_limit,
                    self._workflow_limit,
                    self._provider_limit(unit),
                    self._descriptors,
                )
                group.start_soon(self._run, unit, slots, report)

    def _provider_limit(self, unit: Unit) -> anyio.Semaphore | None:
        return None if unit.provider is None else self.pool.limit(unit.provider)

    async def _run(self, unit: Unit, slots: Slots, report: UnitReport) -> None:
        if report.stopping:
            slots.release()
            return
        outcome = UnitOutcome(unit.index, "failed")
        try:
            await self.executor.run(unit, outcome, report)
        finally:
            slots.release()
            report.finished(unit, outcome)


def local_dispatcher(plan: Plan, pool: ProviderPool, executor: UnitExecutor) -> LocalDispatcher:
    """Runs the units of `plan` in this process, within its `max_concurrency`."""
    return LocalDispatcher(pool, executor, max_concurrency=plan.max_concurrency)
