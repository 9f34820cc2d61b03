"""What `rupu workflow run` shows while a run goes: a live table on a terminal (rich), one line per
event with `--plain` (or when stderr is not a terminal), or the run's events as JSON lines on stdout
with `--format json`."""

from __future__ import annotations

import sys
import time
from typing import TextIO, assert_never

from rupu.cli.live_view import SYMBOLS, LiveView, format_usd, unit_where
from rupu.workflows.events import (
    ApprovalDecided,
    ApprovalRequested,
    BudgetExceeded,
    ContractRetried,
    LoopIterationFinished,
    LoopIterationStarted,
    Observer,
    RunEvent,
    RunFinished,
    RunNote,
    RunResumed,
    RunStarted,
    StepFinished,
    StepStarted,
    UnitCached,
    UnitFinished,
    UnitPlaced,
    UnitProgress,
    UnitRetried,
    UnitReused,
    UnitStarted,
)

__all__ = ["JsonLinesView", "LiveView", "PlainView"]


class JsonLinesView(Observer):
    """Every logged event, as it happens, one JSON object a line."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout

    def event(self, event: RunEvent) -> None:
        if isinstance(event, UnitProgress):  # the log's events only, as `events.jsonl` has them
            return
        self.out.write(event.to_json().decode() + "\n")
        self.out.flush()


class PlainView(Observer):
    """One line per step and unit transition, for logs and pipes."""

    def __init__(self, err: TextIO | None = None) -> None:
        self.err = err or sys.stderr
        self._fan_out: dict[str, bool] = {}

    def _say(self, text: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        self.err.write(f"{stamp} {text}\n")
        self.err.flush()

    def event(self, event: RunEvent) -> None:
        match event:
            case StepStarted(step=step, kind=kind, units=units):
                self._fan_out[step] = kind in ("for_each", "parallel", "matrix")
                self._say(f"▸ {step} started ({kind}, {units} unit{'s' * (units != 1)})")
            case UnitStarted():
                item = f" item {event.item!r}" if event.item is not None else ""
                name = self._name(event.step, event.unit, event.sub)
                on = "" if event.command is not None else "on "
                self._say(f"  {name} running {on}{unit_where(event)}{item}")
            case UnitFinished() if self._fan_out.get(event.step):
                name = self._name(event.step, event.unit, event.sub)
                detail = f": {event.error}" if event.error else ""
                took = f" in {event.duration_ms / 1000:.1f}s"
                self._say(
                    f"  {name} {event.status}{took}, {_spend(event.tokens, event.cost_usd)}{detail}"
                )
            case UnitReused():
                self._say(
                    f"  {self._name(event.step, event.unit, None)} reused from the earlier attempt"
                )
            case UnitCached():
                name = self._name(event.step, event.unit, event.sub)
                self._say(f"  {name} cached: reused from run {event.cached_from}, no cost")
            case RunNote():
                self.err.write(f"rupu: warning: {event.message}\n")
                self.err.flush()
            case UnitRetried():
                name = self._name(event.step, event.unit, None)
                self._say(
                    f"  {name} retrying (attempt {event.attempt}) in {event.delay}s: {event.error}"
                )
            case ContractRetried():
                name = self._name(event.step, event.unit, None)
                errors = "; ".join(event.errors)
                self._say(f"  {name} output does not fit its JSON contract, asking again: {errors}")
            case StepFinished():
                symbol = SYMBOLS.get(event.status, "·")
                detail = f": {event.error}" if event.error else ""
                self._say(
                    f"{symbol} {event.step} {event.status} in {event.duration_ms / 1000:.1f}s, "
                    f"{_spend(event.tokens, event.cost_usd)}{detail}"
                )
            case ApprovalRequested():
                self._say(f"? {event.step} waits for approval: {event.prompt}")
            case RunStarted() | RunResumed():
                verb = "resumed" if isinstance(event, RunResumed) else "started"
                self._say(f"run {event.run_id} {verb}: workflow {event.workflow}")
            case LoopIterationStarted():
                self._say(f"↻ {event.step} iteration {event.iteration}")
            case LoopIterationFinished():
                ended = "until holds" if event.until else f"{event.status}"
                self._say(
                    f"↻ {event.step} iteration {event.iteration} {ended}, "
                    f"{_spend(event.tokens, event.cost_usd)}"
                )
            case UnitPlaced() | UnitFinished() | UnitProgress() | ApprovalDecided() | RunFinished():
                self._placed(event)
            case BudgetExceeded():
                pass  # the run's error says it when the run ends
            case _:
                assert_never(event)

    def _placed(self, event: RunEvent) -> None:
        """Only a unit sent again after its worker stopped is worth a line of these."""
        if isinstance(event, UnitPlaced) and event.redispatched:
            name = self._name(event.step, event.unit, None)
            self._say(f"  {name} sent again to {event.node} (its worker stopped)")

    def _name(self, step: str, unit: int, sub: str | None) -> str:
        if sub:
            return f"{step}/{sub}"
        if self._fan_out.get(step):
            return f"{step}[{unit}]"
        return step


def _spend(tokens: int, cost_usd: float | None) -> str:
    """`1234 tokens`, with `· $0.0123` when the cost is known."""
    cost = f" · {format_usd(cost_usd)}" if cost_usd is not None else ""
    return f"{tokens} tokens{cost}"
