"""What `rupu workflow run` shows while a run goes: a live table on a terminal (rich), one line per
event with `--plain` (or when stderr is not a terminal), or the run's events as JSON lines on stdout
with `--format json`."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TextIO, assert_never

from rupu.workflows.events import (
    ApprovalDecided,
    ApprovalRequested,
    ContractRetried,
    LoopIterationFinished,
    LoopIterationStarted,
    Observer,
    RunEvent,
    RunFinished,
    RunResumed,
    RunStarted,
    StepFinished,
    StepStarted,
    UnitFinished,
    UnitPlaced,
    UnitProgress,
    UnitRetried,
    UnitReused,
    UnitStarted,
)

if TYPE_CHECKING:
    from rich.console import RenderableType
    from rich.live import Live

SYMBOLS = {
    "pending": "·",
    "waiting": "·",
    "running": "▸",
    "succeeded": "✓",
    "failed": "✗",
    "skipped": "-",
    "cancelled": "⊘",
    "interrupted": "⊘",
    "awaiting_approval": "?",
    "rejected": "✗",
    "reused": "✓",
}
MAX_UNIT_ROWS = 8


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
                self._say(f"  {name} running {on}{_where(event)}{item}")
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
            case UnitPlaced():
                if event.redispatched:
                    name = self._name(event.step, event.unit, None)
                    self._say(f"  {name} sent again to {event.node} (its worker stopped)")
            case UnitFinished() | UnitProgress() | ApprovalDecided() | RunFinished():
                pass
            case _:
                assert_never(event)

    def _name(self, step: str, unit: int, sub: str | None) -> str:
        if sub:
            return f"{step}/{sub}"
        if self._fan_out.get(step):
            return f"{step}[{unit}]"
        return step


def _spend(tokens: int, cost_usd: float | None) -> str:
    """`1234 tokens`, with `· $0.0123` when the cost is known."""
    cost = f" · {_usd(cost_usd)}" if cost_usd is not None else ""
    return f"{tokens} tokens{cost}"


@dataclass(slots=True)
class UnitRow:
    label: str
    status: str = "running"
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None
    tokens: int = 0
    cost_usd: float | None = None
    where: str = ""
    error: str | None = None


@dataclass(slots=True)
class StepRow:
    step: str
    status: str = "waiting"
    kind: str = ""
    started: float | None = None
    ended: float | None = None
    tokens: int = 0
    cost_usd: float | None = None
    total: int = 0
    done: int = 0
    failed: int = 0
    error: str | None = None
    where: str = ""
    units: dict[int, UnitRow] = field(default_factory=dict)


class LiveView(Observer):
    """A rich table of steps and their active units, redrawn by `tick()` on the event loop."""

    def __init__(self, steps: list[str], err: TextIO | None = None) -> None:
        from rich.console import Console

        self.console = Console(file=err or sys.stderr)
        self.rows = {step: StepRow(step) for step in steps}
        self.live: Live | None = None
        self.note = ""

    def __enter__(self) -> LiveView:
        from rich.live import Live

        self.live = Live(self.render(), console=self.console, auto_refresh=False, transient=False)
        self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.update(self.render(), refresh=True)
            self.live.__exit__(None, None, None)

    def tick(self) -> None:
        if self.live is not None:
            self.live.update(self.render(), refresh=True)

    def event(self, event: RunEvent) -> None:
        now = time.monotonic()
        match event:
            case RunFinished():
                self.note = f"run {event.status}"
            case StepStarted() if (row := self._row_for(event.step)) is not None:
                row.status, row.kind, row.started = "running", event.kind, now
                row.total = event.units
            case UnitStarted() if (row := self.rows.get(event.step)) is not None:
                label = event.sub or (
                    f"[{event.unit}] {event.item}" if event.item is not None else row.step
                )
                where = _where(event)
                row.units[event.unit] = UnitRow(str(label)[:40], where=where)
                row.where = row.where or where
            case UnitProgress() if (row := self.rows.get(event.step)) is not None:
                if event.unit in row.units:
                    row.units[event.unit].tokens = event.tokens
                    row.units[event.unit].cost_usd = event.cost_usd
            case UnitFinished() | UnitReused() if (row := self.rows.get(event.step)) is not None:
                self._unit_done(row, event, now)
            case StepFinished() if (row := self.rows.get(event.step)) is not None:
                row.status, row.ended = event.status, now
                row.tokens, row.error = event.tokens, event.error
                row.cost_usd = event.cost_usd
                row.started = row.started or now
            case ApprovalRequested() if (row := self.rows.get(event.step)) is not None:
                row.status, row.error = "awaiting_approval", event.prompt
            case _:
                pass

    def _row_for(self, step: str) -> StepRow | None:
        """The row of a step; a step inside a loop or a called workflow (`fix.2.review`) gets its
        own row when it starts, below the rows of the step it is in."""
        row = self.rows.get(step)
        top = step.split(".", 1)[0]
        if row is not None or top == step or top not in self.rows:
            return row
        row = StepRow(step)
        entries = list(self.rows.items())
        last = max(i for i, (k, _) in enumerate(entries) if k == top or k.startswith(top + "."))
        entries.insert(last + 1, (step, row))
        self.rows = dict(entries)
        return row

    def _unit_done(self, row: StepRow, event: UnitFinished | UnitReused, now: float) -> None:
        status = "reused" if isinstance(event, UnitReused) else event.status
        found = row.units.get(event.unit) or UnitRow(str(event.unit))
        found.status, found.ended = status, now
        found.tokens = event.tokens or found.tokens
        found.cost_usd = event.cost_usd if event.cost_usd is not None else found.cost_usd
        found.error = None if isinstance(event, UnitReused) else event.error
        row.done += 1
        row.tokens += found.tokens
        if found.cost_usd is not None:
            row.cost_usd = (row.cost_usd or 0.0) + found.cost_usd
        if status not in ("succeeded", "reused"):
            row.failed += 1
            row.units[event.unit] = found
        else:
            row.units.pop(event.unit, None)

    def render(self) -> RenderableType:
        """Steps with their running (and failed) units; tokens count up as units stream, and a
        COST column (per step and unit) and the total appear once any cost is known."""
        from rich.table import Table

        now = time.monotonic()
        spent = {step: _row_spend(row) for step, row in self.rows.items()}
        priced = any(cost is not None for _, cost in spent.values())
        tokens = sum(t for t, _ in spent.values())
        total = f"{tokens} tokens" if tokens else ""
        if priced:
            total += f" · {_usd(sum(c or 0.0 for _, c in spent.values()))}"
        caption = " · ".join(part for part in (self.note, total) if part)
        table = Table(
            box=None,
            pad_edge=False,
            show_header=True,
            header_style="bold",
            caption=caption or None,
            caption_justify="left",
        )
        columns = ["", "STEP", "STATE", "UNITS", "ELAPSED", "TOKENS"]
        columns += ["COST"] * priced + ["WHERE / DETAIL"]
        for column in columns:
            table.add_column(column, overflow="ellipsis", no_wrap=True)
        for row in self.rows.values():
            row_tokens, row_cost = spent[row.step]
            units = f"{row.done}/{row.total}" if row.total > 1 else ""
            detail = row.error or (row.where if row.total == 1 else "")
            cells = [
                SYMBOLS.get(row.status, "·"),
                row.step,
                row.status.replace("_", " "),
                units,
                _elapsed(row.started, row.ended, now),
                str(row_tokens) if row_tokens else "",
            ]
            cells += [_usd(row_cost)] * priced + [detail[:80]]
            table.add_row(*cells)
            if row.total > 1:
                shown = sorted(row.units.items())[:MAX_UNIT_ROWS]
                for _, unit in shown:
                    cells = [
                        "",
                        f"  {unit.label}",
                        unit.status,
                        "",
                        _elapsed(unit.started, unit.ended, now),
                        str(unit.tokens) if unit.tokens else "",
                    ]
                    cells += [_usd(unit.cost_usd)] * priced + [(unit.error or unit.where)[:80]]
                    table.add_row(*cells)
                hidden = len(row.units) - len(shown)
                if hidden > 0:
                    table.add_row("", f"  … {hidden} more", *[""] * (len(columns) - 2))
        return table


def _row_spend(row: StepRow) -> tuple[int, float | None]:
    """A step's tokens and cost so far: its finished units plus what running units streamed."""
    tokens, cost = row.tokens, row.cost_usd
    for unit in row.units.values():
        if unit.ended is None:
            tokens += unit.tokens
            if unit.cost_usd is not None:
                cost = (cost or 0.0) + unit.cost_usd
    return tokens, cost


def _usd(cost: float | None) -> str:
    return "" if cost is None else f"${cost:.4f}"


def _elapsed(started: float | None, ended: float | None, now: float) -> str:
    if started is None:
        return ""
    return f"{(ended or now) - started:.1f}s"


def _where(event: UnitStarted) -> str:
    """Where a unit runs: `provider · model`, or `$ command` for a `run` step."""
    if event.command is not None:
        return f"$ {event.command}"
    return f"{event.provider} · {event.model}{' fast' if event.fast else ''}"
