"""What `rupu workflow run` shows while a run goes: a live table on a terminal (rich), one line per
event with `--plain` (or when stderr is not a terminal), or the run's events as JSON lines on stdout
with `--format json`."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

import orjson

from rupu.workflows.results import Observer

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
# Run-wide notes (a budget that cannot be enforced, a step cache that cannot be read).
NOTES = frozenset({"budget_note", "cache_note"})


def _cost(event: dict[str, Any]) -> str:
    from rupu.catalog.pricing import format_cost

    if "cost_usd" not in event:
        return ""
    value = event["cost_usd"]
    return ", " + (format_cost(value) if value is not None else "cost unknown")


MAX_UNIT_ROWS = 8


class JsonLinesView(Observer):
    """Every logged event, as it happens, one JSON object a line."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout

    def event(self, event: dict[str, Any]) -> None:
        self.out.write(orjson.dumps(event, default=str).decode() + "\n")
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

    def event(self, event: dict[str, Any]) -> None:
        kind, step = event["type"], event.get("step")
        name = self._name(step, event)
        if kind == "step_started":
            self._fan_out[str(step)] = event.get("kind") in ("for_each", "parallel")
            units = event.get("units", 0)
            self._say(f"▸ {step} started ({event.get('kind')}, {units} unit{'s' * (units != 1)})")
        elif kind == "unit_started":
            item = f" item {event['item']!r}" if event.get("item") is not None else ""
            self._say(f"  {name} running on {event.get('provider')} · {event.get('model')}{item}")
        elif kind == "unit_finished" and self._fan_out.get(str(step)):
            status = event.get("status")
            detail = f": {event['error']}" if event.get("error") else ""
            took = (
                f" in {event.get('duration_ms', 0) / 1000:.1f}s" if "duration_ms" in event else ""
            )
            self._say(
                f"  {name} {status}{took}, {event.get('tokens', 0)} tokens{_cost(event)}{detail}"
            )
        elif kind == "unit_reused":
            self._say(f"  {name} reused from the earlier attempt")
        elif kind == "unit_cached":
            self._say(f"  {name} cached: reused from run {event.get('cached_from')}, no cost")
        elif kind in NOTES:
            self.err.write(f"rupu: warning: {event.get('message')}\n")
        elif kind == "unit_retry":
            self._say(
                f"  {name} retrying (attempt {event.get('attempt')}) in {event.get('delay')}s: {event.get('error')}"
            )
        elif kind == "contract_retry":
            errors = "; ".join(event.get("errors") or [])
            self._say(f"  {name} output does not fit its JSON contract, asking again: {errors}")
        elif kind == "step_finished":
            symbol = SYMBOLS.get(str(event.get("status")), "·")
            detail = f": {event['error']}" if event.get("error") else ""
            self._say(
                f"{symbol} {step} {event.get('status')} in {event.get('duration_ms', 0) / 1000:.1f}s, "
                f"{event.get('tokens', 0)} tokens{_cost(event)}{detail}"
            )
        elif kind == "approval_requested":
            self._say(f"? {step} waits for approval: {event.get('prompt')}")
        elif kind in ("run_started", "run_resumed"):
            verb = "resumed" if kind == "run_resumed" else "started"
            self._say(f"run {event.get('run_id')} {verb}: workflow {event.get('workflow')}")

    def _name(self, step: Any, event: dict[str, Any]) -> str:
        if event.get("sub"):
            return f"{step}/{event['sub']}"
        if self._fan_out.get(str(step)):
            return f"{step}[{event.get('unit', 0)}]"
        return str(step)


@dataclass(slots=True)
class UnitRow:
    label: str
    status: str = "running"
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None
    tokens: int = 0
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
    total: int = 0
    done: int = 0
    failed: int = 0
    error: str | None = None
    where: str = ""
    units: dict[int, UnitRow] = field(default_factory=dict)
    cost: str = ""


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

    def usage(self, step: str, unit: int, tokens: int) -> None:
        row = self.rows.get(step)
        if row is not None and unit in row.units:
            row.units[unit].tokens = tokens

    def event(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        row = self.rows.get(str(event.get("step")))
        now = time.monotonic()
        if kind in NOTES:
            self.console.print(f"rupu: warning: {event.get('message')}", markup=False)
        if row is None:
            if kind == "run_finished":
                self.note = f"run {event.get('status')} · {_cost(event).lstrip(', ')}"
            return
        unit = int(event.get("unit", 0))
        if kind == "step_started":
            row.status, row.kind, row.started = "running", str(event.get("kind")), now
            row.total = int(event.get("units", 0))
        elif kind == "unit_started":
            label = event.get("sub") or (
                f"[{unit}] {event['item']}" if event.get("item") is not None else row.step
            )
            where = f"{event.get('provider')} · {event.get('model')}"
            row.units[unit] = UnitRow(str(label)[:40], where=where)
            row.where = row.where or where
        elif kind in ("unit_finished", "unit_reused", "unit_cached"):
            self._unit_done(row, unit, event, now)
        elif kind == "step_finished":
            row.status, row.ended = str(event.get("status")), now
            row.tokens, row.error = int(event.get("tokens") or 0), event.get("error")
            row.cost = _cost(event).lstrip(", ")
            row.started = row.started or now
        elif kind == "approval_requested":
            row.status, row.error = "awaiting_approval", event.get("prompt")

    def _unit_done(self, row: StepRow, unit: int, event: dict[str, Any], now: float) -> None:
        status = {"unit_reused": "reused", "unit_cached": "cached"}.get(
            event["type"], str(event.get("status"))
        )
        found = row.units.get(unit) or UnitRow(str(unit))
        found.status, found.ended = status, now
        found.tokens = int(event.get("tokens") or found.tokens)
        found.error = event.get("error")
        row.done += 1
        row.tokens += found.tokens
        if status not in ("succeeded", "reused", "cached"):
            row.failed += 1
            row.units[unit] = found
        else:
            row.units.pop(unit, None)

    def render(self) -> RenderableType:
        from rich.table import Table

        table = Table(
            box=None,
            pad_edge=False,
            show_header=True,
            header_style="bold",
            caption=self.note or None,
            caption_justify="left",
        )
        for column in ("", "STEP", "STATE", "UNITS", "ELAPSED", "TOKENS", "COST", "WHERE / DETAIL"):
            table.add_column(column, overflow="ellipsis", no_wrap=True)
        now = time.monotonic()
        for row in self.rows.values():
            elapsed = _elapsed(row.started, row.ended, now)
            units = f"{row.done}/{row.total}" if row.total > 1 else ""
            live_tokens = row.tokens + sum(u.tokens for u in row.units.values() if u.ended is None)
            detail = row.error or (row.where if row.total == 1 else "")
            table.add_row(
                SYMBOLS.get(row.status, "·"),
                row.step,
                row.status.replace("_", " "),
                units,
                elapsed,
                str(live_tokens) if live_tokens else "",
                row.cost,
                detail[:80],
            )
            if row.total > 1:
                shown = sorted(row.units.items())[:MAX_UNIT_ROWS]
                for _, unit in shown:
                    table.add_row(
                        "",
                        f"  {unit.label}",
                        unit.status,
                        "",
                        _elapsed(unit.started, unit.ended, now),
                        str(unit.tokens) if unit.tokens else "",
                        "",
                        (unit.error or unit.where)[:80],
                    )
                hidden = len(row.units) - len(shown)
                if hidden > 0:
                    table.add_row("", f"  … {hidden} more", "", "", "", "", "", "")
        return table


def _elapsed(started: float | None, ended: float | None, now: float) -> str:
    if started is None:
        return ""
    return f"{(ended or now) - started:.1f}s"
