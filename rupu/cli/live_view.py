"""The live table `rupu workflow run` draws on a terminal: each step with its state, units done of
all (and, for a fan-out under way, an estimate of the time left), elapsed time, tokens counting up
while units stream, cost once any is known, and a failed unit's reason inline. On a narrow terminal
the table drops elapsed time and the where/detail column to keep one line per row."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TextIO

from rupu.workflows.events import (
    ApprovalRequested,
    Observer,
    RunEvent,
    RunFinished,
    RunNote,
    StepFinished,
    StepStarted,
    UnitCached,
    UnitFinished,
    UnitProgress,
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
    "cached": "✓",
}
MAX_UNIT_ROWS = 8


NARROW = 80  # columns: below this the table keeps state, units, tokens and cost only


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
            case RunNote():
                self.console.print(f"rupu: warning: {event.message}", markup=False)
            case StepStarted() if (row := self._row_for(event.step)) is not None:
                row.status, row.kind, row.started = "running", event.kind, now
                row.total = event.units
            case UnitStarted() if (row := self.rows.get(event.step)) is not None:
                label = event.sub or (
                    f"[{event.unit}] {event.item}" if event.item is not None else row.step
                )
                where = unit_where(event)
                row.units[event.unit] = UnitRow(str(label)[:40], where=where)
                row.where = row.where or where
            case UnitProgress() if (row := self.rows.get(event.step)) is not None:
                if event.unit in row.units:
                    row.units[event.unit].tokens = event.tokens
                    row.units[event.unit].cost_usd = event.cost_usd
            case UnitFinished() | UnitReused() | UnitCached() if (
                row := self.rows.get(event.step)
            ) is not None:
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

    def _unit_done(
        self, row: StepRow, event: UnitFinished | UnitReused | UnitCached, now: float
    ) -> None:
        match event:
            case UnitReused():
                status = "reused"
            case UnitCached():
                status = "cached"
            case UnitFinished():
                status = event.status
        found = row.units.get(event.unit) or UnitRow(str(event.unit))
        found.status, found.ended = status, now
        found.tokens = event.tokens or found.tokens
        found.cost_usd = event.cost_usd if event.cost_usd is not None else found.cost_usd
        found.error = event.error if isinstance(event, UnitFinished) else None
        row.done += 1
        row.tokens += found.tokens
        if found.cost_usd is not None:
            row.cost_usd = (row.cost_usd or 0.0) + found.cost_usd
        if status not in ("succeeded", "reused", "cached"):
            row.failed += 1
            row.units[event.unit] = found
        else:
            row.units.pop(event.unit, None)

    def render(self) -> RenderableType:
        """Steps with their running (and failed) units; tokens count up as units stream, and a
        COST column (per step and unit) and the total appear once any cost is known."""
        from rich.table import Table

        now = time.monotonic()
        narrow = self.console.width < NARROW
        spent = {step: _row_spend(row) for step, row in self.rows.items()}
        priced = any(cost is not None for _, cost in spent.values())
        tokens = sum(t for t, _ in spent.values())
        total = f"{tokens} tokens" if tokens else ""
        if priced:
            total += f" · {format_usd(sum(c or 0.0 for _, c in spent.values()))}"
        caption = " · ".join(part for part in (self.note, total) if part)
        table = Table(
            box=None,
            pad_edge=False,
            show_header=True,
            header_style="bold",
            caption=caption or None,
            caption_justify="left",
        )
        columns = ["", "STEP", "STATE", "UNITS"] + ["ELAPSED"] * (not narrow) + ["TOKENS"]
        columns += ["COST"] * priced + ["WHERE / DETAIL"] * (not narrow)
        rows: list[list[str]] = []
        for row in self.rows.values():
            row_tokens, row_cost = spent[row.step]
            detail = row.error or (row.where if row.total == 1 else "")
            cells = [SYMBOLS.get(row.status, "·"), row.step, row.status.replace("_", " ")]
            cells += [_units(row, now)] + [_elapsed(row.started, row.ended, now)] * (not narrow)
            cells += [str(row_tokens) if row_tokens else ""] + [format_usd(row_cost)] * priced
            rows.append([*cells, *[detail[:120]] * (not narrow)])
            if row.total > 1:
                shown = sorted(row.units.items())[:MAX_UNIT_ROWS]
                for _, unit in shown:
                    cells = ["", f"  {unit.label}", unit.status, ""]
                    cells += [_elapsed(unit.started, unit.ended, now)] * (not narrow)
                    cells += [str(unit.tokens) if unit.tokens else ""]
                    cells += [format_usd(unit.cost_usd)] * priced
                    rows.append([*cells, *[(unit.error or unit.where)[:120]] * (not narrow)])
                hidden = len(row.units) - len(shown)
                if hidden > 0:
                    rows.append(["", f"  … {hidden} more", *[""] * (len(columns) - 2)])
        # Every column but the detail keeps its full width: only the detail is cut to fit.
        for index, column in enumerate(columns):
            widest = max([len(column), *(len(r[index]) for r in rows)])
            last = column == "WHERE / DETAIL"
            table.add_column(
                column, overflow="ellipsis", no_wrap=True, min_width=None if last else widest
            )
        for cells in rows:
            table.add_row(*cells)
        return table


def _units(row: StepRow, now: float) -> str:
    """`done/total` for a fan-out, with the time left while it runs (from the pace so far)."""
    if row.total <= 1:
        return ""
    shown = f"{row.done}/{row.total}"
    if row.status == "running" and row.started is not None and 0 < row.done < row.total:
        left = (now - row.started) / row.done * (row.total - row.done)
        shown += f" ~{_duration(left)} left"
    return shown


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f}s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


def _row_spend(row: StepRow) -> tuple[int, float | None]:
    """A step's tokens and cost so far: its finished units plus what running units streamed."""
    tokens, cost = row.tokens, row.cost_usd
    for unit in row.units.values():
        if unit.ended is None:
            tokens += unit.tokens
            if unit.cost_usd is not None:
                cost = (cost or 0.0) + unit.cost_usd
    return tokens, cost


def format_usd(cost: float | None) -> str:
    return "" if cost is None else f"${cost:.4f}"


def _elapsed(started: float | None, ended: float | None, now: float) -> str:
    if started is None:
        return ""
    return f"{(ended or now) - started:.1f}s"


def unit_where(event: UnitStarted) -> str:
    """Where a unit runs: `provider · model`, or `$ command` for a `run` step."""
    if event.command is not None:
        return f"$ {event.command}"
    return f"{event.provider} · {event.model}{' fast' if event.fast else ''}"
