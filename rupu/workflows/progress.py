"""How far a run got, read from its folder alone: the units that finished (`units.jsonl`), the units
each started step planned (`step_started` in `events.jsonl`) and the tokens the finished units spent.

This is what `rupu workflow runs` and `show-run` report for a run whose process died (SIGKILL, power
loss) before it could write its final state, and what rebuilds `index.sqlite` from the run folders.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rupu.workflows.events import StepStarted, read_run_events
from rupu.workflows.recordfile import read_events

FINISHED = frozenset({"succeeded", "failed"})


@dataclass(slots=True)
class StepProgress:
    planned: int | None = None  # None: the step never started
    finished: int = 0
    succeeded: int = 0
    tokens: int = 0


@dataclass(slots=True)
class RunProgress:
    steps: dict[str, StepProgress] = field(default_factory=dict)

    @property
    def units_done(self) -> int:
        return sum(s.finished for s in self.steps.values())

    @property
    def units_total(self) -> int:
        return sum(max(s.planned or 0, s.finished) for s in self.steps.values())

    @property
    def steps_done(self) -> int:
        """Steps every planned unit of which finished."""
        return sum(
            1 for s in self.steps.values() if s.planned is not None and s.finished >= s.planned
        )

    @property
    def tokens(self) -> int:
        return sum(s.tokens for s in self.steps.values())

    def step(self, name: str) -> StepProgress:
        return self.steps.setdefault(name, StepProgress())


def latest_units(directory: Path) -> dict[tuple[str, int], dict[str, Any]]:
    """The latest record of every unit in `units.jsonl`; torn or corrupt lines are skipped."""
    found: dict[tuple[str, int], dict[str, Any]] = {}
    for record in read_events(directory / "units.jsonl", key="step"):
        unit = record.get("unit", 0)
        if type(unit) is int:
            found[(str(record["step"]), unit)] = record
    return found


def read_progress(directory: Path) -> RunProgress:
    progress = RunProgress()
    for event in read_run_events(directory / "events.jsonl"):
        if isinstance(event, StepStarted):
            progress.step(event.step).planned = event.units
    for (step, _), record in latest_units(directory).items():
        status = record.get("status")
        if status not in FINISHED:
            continue
        found = progress.step(step)
        found.finished += 1
        found.succeeded += status == "succeeded"
        tokens = record.get("tokens")
        found.tokens += tokens if type(tokens) is int else 0
    return progress
