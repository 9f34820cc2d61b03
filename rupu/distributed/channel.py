"""Sending units to one worker in batches: every unit handed over in the same turn of the event
loop goes in one actor call, and the worker's news for all of them comes back in shared messages.

One actor call per unit would cost the driver a few milliseconds of Ray's own work each; a batch of
hundreds costs about the same as one. Each unit still has its own inbox (events, then its end), and
a dead worker ends every unit of its batches with `WorkerLost`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from rupu.distributed.fleet import Worker
from rupu.distributed.worker import Finished
from rupu.workflows.events import RunEvent
from rupu.workflows.units import Unit


@dataclass(frozen=True, slots=True)
class WorkerLost:
    """The unit's batch ended before the unit did: its worker (or node) stopped (`dead`), or Ray
    failed the call (the unit fails; the worker goes on)."""

    reason: str
    dead: bool = True


Inbox = asyncio.Queue[RunEvent | Finished | WorkerLost]


class Channel:
    """The batches of one run to one worker."""

    def __init__(self, ray: Any, worker: Worker, run_id: str) -> None:
        self.ray = ray
        self.worker = worker
        self.run_id = run_id
        self._outbox: list[tuple[Unit, Inbox]] = []
        self._consumers: set[asyncio.Task[None]] = set()

    def send(self, unit: Unit) -> Inbox:
        """Queues `unit` for the next batch (sent once the current turn of the loop ends)."""
        inbox: Inbox = asyncio.Queue()
        if not self._outbox:
            asyncio.get_running_loop().call_soon(self._flush)
        self._outbox.append((unit, inbox))
        return inbox

    def cancel(self, unit: Unit) -> None:
        queued = [
            entry
            for entry in self._outbox
            if (entry[0].step, entry[0].index) == (unit.step, unit.index)
        ]
        if queued:  # not sent yet: it never will be
            self._outbox.remove(queued[0])
            return
        self.worker.handle.cancel.remote(self.run_id, unit.step, unit.index)

    def _flush(self) -> None:
        batch, self._outbox = self._outbox, []
        if not batch:
            return
        stream = self.worker.stream.remote(self.run_id, [unit for unit, _ in batch])
        consumer = asyncio.ensure_future(  # noqa: RUF006 (kept in _consumers until done)
            self._consume(stream, [inbox for _, inbox in batch])
        )
        self._consumers.add(consumer)
        consumer.add_done_callback(self._consumers.discard)

    async def _consume(self, stream: Any, inboxes: list[Inbox]) -> None:
        ended = [False] * len(inboxes)
        dead = False
        try:
            async for ref in stream:
                for n, item in await ref:
                    inboxes[n].put_nowait(item)
                    if isinstance(item, Finished):
                        ended[n] = True
            reason = "the worker ended the batch early"
        except self.ray.exceptions.RayActorError as exc:
            reason = f"the Ray worker on {self.worker.node} stopped: {type(exc).__name__}"
            dead = True
        except asyncio.CancelledError:
            reason = "the driver stopped"
        except Exception as exc:  # a Ray system error: these units fail, the run goes on
            reason = f"Ray: {type(exc).__name__}: {exc}"
        for inbox, done in zip(inboxes, ended, strict=True):
            if not done:
                inbox.put_nowait(WorkerLost(reason, dead))
