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

from rupu.agents.budget import SpendGuard
from rupu.distributed.shipping import PriceTable, ProviderKey, Shipped, key_of, rebuild
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
    prices: PriceTable | None = None
    guard: SpendGuard | None = None

    def get(self, target: RunTarget) -> tuple[Provider, str]:
        return self.built[key_of(target)]


class _Relay:
    """The worker's `UnitReport` of one unit: its events go into the batch's news."""

    __slots__ = ("_last", "n", "news")

    def __init__(self, n: int, news: asyncio.Queue[Message]) -> None:
        self.n = n
        self.news = news
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
        self.news.put_nowait((self.n, event))

    def finished(self, unit: Unit, outcome: UnitOutcome) -> None:
        pass


@dataclass(frozen=True, slots=True)
class Finished:
    """A unit's end: its outcome and transcript lines."""

    outcome: UnitOutcome
    transcript: bytes
    node: str


# What a batch reports: (the unit's position in the batch, one of its events or its end).
Message = tuple[int, "RunEvent | Finished"]


class UnitWorker:
    """The worker actor's body (wrapped with `ray.remote` by the fleet)."""

    def __init__(self, tools: ToolsFactory | None = None) -> None:
        self._tools = tools
        self._toolbox: ToolboxOpener | None = None
        self._runs: dict[str, _Providers] = {}
        self._inflight: dict[tuple[str, str, int], asyncio.Future[None]] = {}
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

    def load(
        self,
        run_id: str,
        shipped: dict[ProviderKey, Shipped],
        prices: PriceTable | None = None,
        guard: SpendGuard | None = None,
    ) -> int:
        """The providers of a run (built here: connection pools are per process), the prices of
        its models and the guard of its budgets (the driver's, through the broker)."""
        built = {key: (rebuild(value), value.credential) for key, value in shipped.items()}
        self._runs[run_id] = _Providers(built, prices, guard)
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

    async def run(self, run_id: str, units: list[Unit]) -> AsyncIterator[list[Message]]:
        """Runs a batch of units concurrently, yielding what they report as it happens: lists of
        (position in `units`, events or `Finished`), several units' news in one message."""
        news: asyncio.Queue[Message] = asyncio.Queue()
        tasks = [
            asyncio.ensure_future(self._unit(run_id, n, unit, news)) for n, unit in enumerate(units)
        ]
        for unit, task in zip(units, tasks, strict=True):
            self._inflight[(run_id, unit.step, unit.index)] = task
        remaining = len(units)
        try:
            while remaining:
                batch = [await news.get()]
                while not news.empty():
                    batch.append(news.get_nowait())
                remaining -= sum(1 for _, item in batch if isinstance(item, Finished))
                yield batch
        finally:
            for unit, task in zip(units, tasks, strict=True):
                task.cancel()
                self._inflight.pop((run_id, unit.step, unit.index), None)

    def cancel(self, run_id: str, step: str, index: int) -> None:
        """Cancels one unit in flight (Ctrl-C, fail-fast on the driver)."""
        task = self._inflight.get((run_id, step, index))
        if task is not None:
            task.cancel()

    async def _unit(self, run_id: str, n: int, unit: Unit, news: asyncio.Queue[Message]) -> None:
        transcripts = _Transcripts()
        run = self._runs[run_id]
        runner = UnitRunner(
            run_id,
            transcripts,
            run,
            anyio.sleep,
            toolbox=self._opener(),
            price_of=run.prices,
            guard=run.guard,
        )
        outcome = UnitOutcome(unit.index, "failed")
        try:
            await runner.run(unit, outcome, _Relay(n, news))
        except asyncio.CancelledError:
            outcome.status, outcome.error = "cancelled", outcome.error or "cancelled"
        except Exception as exc:  # a bug: the unit fails, the worker and its other units go on
            outcome.status, outcome.error = "failed", f"internal error: {type(exc).__name__}: {exc}"
        transcript = transcripts.opened.get((unit.step, unit.index))
        lines = b"".join(transcript.lines) if transcript is not None else b""
        news.put_nowait((n, Finished(outcome, lines, self.node)))


def _node_name() -> str:
    import ray  # lazy: only ever called inside a Ray worker

    context = ray.get_runtime_context()
    ip = ray.util.get_node_ip_address()  # type: ignore[no-untyped-call]
    return f"{ip}/{context.get_node_id()[:8]}"
