"""`RayDispatcher`: the `UnitDispatcher` that runs agent units on a Ray cluster.

The limits stay on the driver: units pass through one `LocalDispatcher` (workflow
`max_concurrency`, step `max_parallel`, per-provider limits) before they are sent, so they hold for
the whole cluster; budgets are the driver's one ledger (workers ask it through the broker). A unit
goes to the least busy live worker, in a batch with the units that were ready at the same moment
(`rupu.distributed.channel`); its events come back as they happen and the driver records them, so
the run's records are those of a local run (plus a `unit_placed` event per unit). A unit whose
worker dies is sent once more to a live worker; a cancelled unit is cancelled on its worker. `run`
steps' commands and agents with sub-agents run on the driver.
"""

from __future__ import annotations

import dataclasses
from typing import cast

import anyio

from rupu.distributed.broker import BrokeredGuard, CredentialPump
from rupu.distributed.channel import Channel, WorkerLost
from rupu.distributed.fleet import Fleet, Worker
from rupu.distributed.shipping import ProviderKey, Shipped, key_of, price_table, ship
from rupu.distributed.worker import Finished
from rupu.workflows.agent_calls import AgentCall
from rupu.workflows.dispatch import DispatcherFactory, LocalDispatcher, UnitBatch, UnitExecutor
from rupu.workflows.events import UnitPlaced
from rupu.workflows.kinds.run import CommandCall
from rupu.workflows.limits import ProviderPool
from rupu.workflows.plan import Plan
from rupu.workflows.store import RunRecord
from rupu.workflows.templates import CompiledTemplate
from rupu.workflows.units import Unit, UnitOutcome, UnitReport, UnitRunner

_COPIED = ("status", "output", "json", "error", "tokens", "cost_usd", "duration_ms", "attempts")


class RemoteUnits:
    """The `UnitExecutor` that sends a unit to a worker and relays what it reports."""

    def __init__(
        self,
        fleet: Fleet,
        record: RunRecord,
        shipped: dict[ProviderKey, Shipped],
        local: UnitExecutor,
    ) -> None:
        self.fleet = fleet
        self.record = record
        self.shipped = shipped
        self.local = local
        runner = local if isinstance(local, UnitRunner) else None
        self.prices = price_table(runner.price_of if runner else None, shipped)
        self.guard = BrokeredGuard(fleet.broker) if runner and runner.guard else None
        self._room: anyio.Semaphore | None = None
        self._channels: dict[int, Channel] = {}

    async def run(self, unit: Unit, outcome: UnitOutcome, report: UnitReport) -> None:
        if on_driver(unit):
            await self.local.run(unit, outcome, report)
            return
        if self._room is None:
            self._room = anyio.Semaphore(self.fleet.capacity)
        async with self._room:
            for attempt in (1, 2):
                worker = self.fleet.choose()
                if worker is None:
                    outcome.status, outcome.error = "failed", "every Ray worker of the run died"
                    return
                if await self._on(worker, unit, outcome, report, redispatched=attempt > 1):
                    return
            outcome.status = "failed"

    async def _on(
        self,
        worker: Worker,
        unit: Unit,
        outcome: UnitOutcome,
        report: UnitReport,
        *,
        redispatched: bool,
    ) -> bool:
        """Runs `unit` on `worker`; False when the worker died (the unit may go elsewhere)."""
        worker.busy += 1
        channel: Channel | None = None
        try:
            await self._load(worker)
            channel = self._channel(worker)
            inbox = channel.send(portable(unit))
            report.event(
                UnitPlaced(
                    step=unit.step, unit=unit.index, node=worker.node, redispatched=redispatched
                )
            )
            while True:
                item = await inbox.get()
                if isinstance(item, Finished):
                    self._finish(unit, outcome, item)
                    return True
                if isinstance(item, WorkerLost):
                    outcome.error = item.reason
                    if not item.dead:
                        outcome.status = "failed"
                        return True
                    worker.alive = False
                    return False
                report.event(item)
        except anyio.get_cancelled_exc_class():
            if channel is not None:
                channel.cancel(unit)
            reason = report.interrupted()
            outcome.status = "interrupted" if reason else "cancelled"
            outcome.error = reason or "cancelled"
            raise
        except self.fleet.ray.exceptions.RayActorError as exc:  # loading the run's providers
            worker.alive = False
            outcome.error = f"the Ray worker on {worker.node} stopped: {type(exc).__name__}"
            return False
        finally:
            worker.busy -= 1

    def _channel(self, worker: Worker) -> Channel:
        found = self._channels.get(id(worker))
        if found is None:
            found = self._channels[id(worker)] = Channel(self.fleet.ray, worker, self.record.run_id)
        return found

    async def _load(self, worker: Worker) -> None:
        run_id = self.record.run_id
        ref = worker.loaded.get(run_id)
        if ref is True:
            return
        if ref is None:
            ref = worker.loaded[run_id] = worker.handle.load.remote(
                run_id, self.shipped, self.prices, self.guard
            )
        await ref
        worker.loaded[run_id] = True

    def _finish(self, unit: Unit, outcome: UnitOutcome, finished: Finished) -> None:
        for name in _COPIED:
            setattr(outcome, name, getattr(finished.outcome, name))
        if finished.transcript:
            target = self.record.transcript(unit.step, unit.index)
            self.record.writer.close(str(target.path), finished.transcript)


def on_driver(unit: Unit) -> bool:
    """A `run` step's command, and an agent that dispatches to sub-agents (their credentials and
    tools are prepared on the driver), run on the driver."""
    call = unit.call
    return isinstance(call, CommandCall) or bool(call.agent.frontmatter.agents)


def portable(unit: Unit) -> Unit:
    """The unit as a worker gets it: its prompt is rendered, so the call's compiled template
    (which holds code objects) stays on the driver."""
    call = unit.call
    if not isinstance(call, AgentCall):
        return unit
    return dataclasses.replace(unit, call=dataclasses.replace(call, prompt=_RENDERED))


_RENDERED = cast(CompiledTemplate, None)


class RayDispatcher:
    def __init__(self, fleet: Fleet, inner: LocalDispatcher, remote: RemoteUnits) -> None:
        self.fleet = fleet
        self.inner = inner
        self.remote = remote
        runner = remote.local if isinstance(remote.local, UnitRunner) else None
        self.pump = CredentialPump(fleet.broker, fleet.sources, runner.guard if runner else None)

    def cancel(self) -> None:
        self.inner.cancel()

    async def dispatch(self, batch: UnitBatch, report: UnitReport) -> None:
        async with anyio.create_task_group() as group:
            group.start_soon(self.pump.serve)
            try:
                await self.inner.dispatch(batch, report)
            finally:
                group.cancel_scope.cancel()


def ray_dispatcher(fleet: Fleet) -> DispatcherFactory:
    """The dispatcher factory of the runs on `fleet` (the engine's `dispatcher`)."""

    def build(plan: Plan, pool: ProviderPool, executor: UnitExecutor) -> RayDispatcher:
        # The in-process executor of the run knows its record: the driver writes every line.
        assert isinstance(executor, UnitRunner) and isinstance(executor.record, RunRecord)
        routing = pool.config.config.routing
        shipped: dict[ProviderKey, Shipped] = {}
        for target in plan.targets:
            provider, credential = pool.get(target)
            shipped[key_of(target)] = ship(provider, credential, routing, fleet.register)
        remote = RemoteUnits(fleet, executor.record, shipped, executor)
        inner = LocalDispatcher(pool, remote, max_concurrency=plan.max_concurrency)
        return RayDispatcher(fleet, inner, remote)

    return build
