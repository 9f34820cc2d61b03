"""What `rupu workflow run` shows, fed typed events: `--format json` prints exactly the logged
events, `--plain` one line per transition, and the live table counts tokens up while a unit streams
and shows cost per step and in total once it is known."""

from __future__ import annotations

import io
import os
from pathlib import Path

from rupu.cli.workflow_view import LiveView, PlainView
from rupu.workflows.events import (
    RunFinished,
    StepFinished,
    StepStarted,
    UnitFinished,
    UnitProgress,
    UnitStarted,
    event_from_json,
    read_run_events,
)
from tests.conftest import REPO_ROOT, Workspace, run_rupu


def test_format_json_prints_the_typed_events_of_the_run_record(workspace: Workspace) -> None:
    result = run_rupu(
        "workflow",
        "run",
        str(REPO_ROOT / "workflows" / "fanout.yaml"),
        "--provider",
        "mock",
        "--format",
        "json",
    )
    assert result.code == 0, result.stderr
    printed = [event_from_json(line) for line in result.stdout.splitlines()]
    assert None not in printed
    first = printed[0]
    assert first is not None
    runs = Path(os.environ["RUPU_HOME"]) / "runs"
    assert printed == list(read_run_events(runs / first.run_id / "events.jsonl"))
    last = printed[-1]
    assert isinstance(last, RunFinished) and last.status == "succeeded"
    assert last.tokens == sum(e.tokens for e in printed if isinstance(e, UnitFinished))


def test_plain_view_says_tokens_and_cost_when_known() -> None:
    err = io.StringIO()
    view = PlainView(err)
    view.event(StepStarted(step="fan", kind="for_each", units=2))
    view.event(UnitStarted(step="fan", unit=1, item="b", provider="mock", model="echo"))
    view.event(UnitProgress(step="fan", unit=1, tokens=7))
    view.event(
        UnitFinished(
            step="fan", unit=1, status="succeeded", tokens=9, cost_usd=0.0021, duration_ms=1500
        )
    )
    view.event(StepFinished(step="fan", status="succeeded", tokens=9, duration_ms=2000))
    lines = [line.split(" ", 1)[1] for line in err.getvalue().splitlines()]
    assert lines == [
        "▸ fan started (for_each, 2 units)",
        "  fan[1] running on mock · echo item 'b'",
        "  fan[1] succeeded in 1.5s, 9 tokens · $0.0021",
        "✓ fan succeeded in 2.0s, 9 tokens",
    ]


def rendered(view: LiveView) -> str:
    out = io.StringIO()
    view.console.file = out
    view.console.width = 160
    view.console.print(view.render())
    return out.getvalue()


def test_live_view_counts_tokens_up_and_adds_cost_per_step_and_in_total() -> None:
    view = LiveView(["draft", "fan"], err=io.StringIO())
    view.event(StepStarted(step="fan", kind="for_each", units=2))
    view.event(UnitStarted(step="fan", unit=0, item="a", provider="mock", model="echo"))
    view.event(UnitStarted(step="fan", unit=1, item="b", provider="mock", model="echo"))
    view.event(UnitProgress(step="fan", unit=0, tokens=120))
    view.event(UnitProgress(step="fan", unit=1, tokens=30))
    screen = rendered(view)
    assert "COST" not in screen  # nothing priced yet
    assert "150" in screen and "120" in screen
    view.event(UnitProgress(step="fan", unit=0, tokens=400))
    assert "430" in rendered(view)  # counting up while the unit streams

    view.event(UnitProgress(step="fan", unit=1, tokens=50, cost_usd=0.01))
    screen = rendered(view)
    assert "COST" in screen and "$0.0100" in screen
    view.event(UnitFinished(step="fan", unit=0, status="succeeded", tokens=500, cost_usd=0.02))
    view.event(UnitFinished(step="fan", unit=1, status="succeeded", tokens=60, cost_usd=0.015))
    view.event(StepFinished(step="fan", status="succeeded", tokens=560, cost_usd=0.035))
    view.event(RunFinished(status="succeeded", tokens=560, cost_usd=0.035))
    screen = rendered(view)
    fan = next(line for line in screen.splitlines() if " fan " in line)
    assert "560" in fan and "$0.0350" in fan
    assert "run succeeded · 560 tokens · $0.0350" in screen
