"""The worker side: a Ray async actor that runs many units concurrently on its own event loop.

Providers arrive once per run as shipped routes (`rupu.distributed.shipping`), with brokered
credentials; units arrive as plain data (agent files travel inside them, nothing is re-read here).
A unit's events stream back to the driver as they happen, its transcript lines with its outcome:
the worker writes no record.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import orjson

from rupu.distributed.shipping import ProviderKey, Shipped, key_of, rebuild
from rupu.providers.base import Provider
from rupu.routing.target import RunTarget
from rupu.transcripts import TranscriptWriter
from rupu.workflows.events import RunEvent, UnitProgress
from rupu.workflows.units import ToolboxOpener, Unit, UnitOutcome, UnitRunner

# Builds the tools of agent runs on a worker (None: units run without tools); shipped once.
ToolsFactory = Callable[[], ToolboxOpener]
PROGRESS_SECONDS = 0.25  # running token counts are sent at most this often per unit


class BufferedTranscript(TranscriptWriter):
    """The lines of one unit's transcript, kept until the unit ends (the driver writes them)."""

    def __init__(self) -> None:  # no file: the driver is the only writer
        self.path = Path("transcript.jsonl")
        self.lines: list[bytes] = []

    def write(self, kind: str, /, **data: Any) -> None:
        line = orjson.dumps({"type": kind, "ts": round(time.time(), 3), "data": data}, default=str)
        self.lines.append(line + b"\n")

    def close(self) -> None:
        pass


@dataclass(slots=True)
class _Transcripts:
    opened: dict[tuple[str, int], BufferedTranscript] = field(default_factory=dict)

    def transcript(self, step: str, unit: int) -> TranscriptWriter:
        found = self.opened[(step, unit)] = BufferedTranscript()
        return found


@dataclass(slots=True)
class _Providers:
    built: dict[ProviderKey, tuple[Provider, str]]

    def get(self, target: RunTarget) -> tuple[Provider, str]:
        return self.built[key_of(target)]


class _Relay:
    """The worker's `UnitReport`: events go to the stream back to the driver."""

    __slots__ = ("_last", "queue")

    def __init__(self) -> None:
        self.queue: asyncio.Queue[RunEvent] = asyncio.Queue()
        self._last = 0.0

    @property
    def stopping(self) -> bool:
        return False

    def interrupted(self) -> str | None:
        return None

    def event(self, event: RunEvent) -> None:
        if isinstance(event, UnitProgress):
            now = time.monotonic()
            if now - self._last < PROGRESS_SECONDS:
                return
            self._last = now
        self.queue.put_nowait(event)

    def finished(self, unit: Unit, outcome: UnitOutcome) -> None:
        pass


@dataclass(frozen=True, slots=True)
class Finished:
    """The last message of a unit's stream."""

    outcome: UnitOutcome
    transcript: bytes
    node: str
    events: list[RunEvent]  # the unit's events not sent yet


class UnitWorker:
    """The worker actor's body (wrapped with `ray.remote` by the fleet)."""

    def __init__(self, tools: ToolsFactory | None = None) -> None:
        self._tools = tools
        self._toolbox: ToolboxOpener | None = None
        self._runs: dict[str, _Providers] = {}
        self.node = _node_name()

    def place(self, workspace: str | None) -> dict[str, Any]:
        """Where this worker runs, and whether it sees the workspace (a readable directory)."""
        import ray  # lazy: only ever called inside a Ray worker

        sees = workspace is None or (Path(workspace).is_dir() and os.access(workspace, os.R_OK))
        return {
            "node": self.node,
            "node_id": ray.get_runtime_context().get_node_id(),
            "pid": os.getpid(),
            "workspace": sees,
        }

    def load(self, run_id: str, shipped: dict[ProviderKey, Shipped]) -> int:
        """The providers of a run (built here: connection pools are per process)."""
        built = {key: (rebuild(value), value.credential) for key, value in shipped.items()}
        self._runs[run_id] = _Providers(built)
        return len(built)

    async def unload(self, run_id: str) -> None:
        providers = self._runs.pop(run_id, None)
        if providers is not None:
            for provider, _ in providers.built.values():
                await provider.aclose()

    def _opener(self) -> ToolboxOpener | None:
        if self._tools is None:
            return None
        if self._toolbox is None:
            self._toolbox = self._tools()
        return self._toolbox

    async def run(self, run_id: str, unit: Unit) -> AsyncIterator[list[RunEvent] | Finished]:
        """Runs one unit, yielding its events in batches as they happen, then `Finished`."""
        transcripts = _Transcripts()
        runner = UnitRunner(
            run_id, transcripts, self._runs[run_id], anyio.sleep, toolbox=self._opener()
        )
        relay = _Relay()
        outcome = UnitOutcome(unit.index, "failed")
        task = asyncio.ensure_future(runner.run(unit, outcome, relay))
        try:
            while not task.done():
                waiting = asyncio.ensure_future(relay.queue.get())
                await asyncio.wait({task, waiting}, return_when=asyncio.FIRST_COMPLETED)
                if not waiting.done():
                    waiting.cancel()
                    break
                if task.done():  # the last events go with the result: one message, not two
                    relay.queue.put_nowait(waiting.result())
                    break
                yield [waiting.result(), *_drain(relay.queue)]
            task.result()
            transcript = transcripts.opened.get((unit.step, unit.index))
            lines = b"".join(transcript.lines) if transcript is not None else b""
            yield Finished(outcome, lines, self.node, _drain(relay.queue))
        finally:
            task.cancel()


def _drain(queue: asyncio.Queue[RunEvent]) -> list[RunEvent]:
    found = []
    while not queue.empty():
        found.append(queue.get_nowait())
    return found


def _node_name() -> str:
    import ray  # lazy: only ever called inside a Ray worker

    context = ray.get_runtime_context()
    ip = ray.util.get_node_ip_address()  # type: ignore[no-untyped-call]
    return f"{ip}/{context.get_node_id()[:8]}"
