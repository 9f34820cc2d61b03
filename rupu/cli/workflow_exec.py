"""Executing a run from the command line: the view, Ctrl-C handling and what is reported at the end.

First Ctrl-C (or SIGTERM): stop scheduling, cancel everything in flight, write the run record, exit
130 (143 for SIGTERM, and the records say `terminated (SIGTERM)`). A second one exits at once.
"""

# lazy imports: a command loads what it needs when it runs, so `rupu --help` stays fast
from __future__ import annotations

import os
import signal
import sys
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from rupu.workflows.engine import Execution
    from rupu.workflows.events import Observer
    from rupu.workflows.results import RunOutcome

LIVE_REFRESH_SECONDS = 0.1


def execute(execution: Execution, *, fmt: str, plain: bool) -> RunOutcome:
    """Runs `execution` with the chosen view and turns the outcome into output and an exit."""
    import anyio

    from rupu.cli.workflow_view import JsonLinesView, LiveView, PlainView

    for warning in execution.warnings:
        click.echo(f"rupu: warning: {warning}", err=True)
    live: LiveView | None = None
    observer: Observer
    if fmt == "json":
        observer = JsonLinesView()
    elif plain or not sys.stderr.isatty():
        observer = PlainView()
    else:
        live = LiveView(list(execution.plan.steps))
        observer = live
    interrupted_by: list[int] = []

    async def main() -> RunOutcome:
        from rupu.errors import RupuError

        finished: list[RunOutcome] = []
        failures: list[RupuError] = []
        async with anyio.create_task_group() as group:
            group.start_soon(_watch_signals, execution, interrupted_by)
            if live is not None:
                group.start_soon(_refresh, live)
            try:
                finished.append(await execution.run(observer))
            except RupuError as exc:  # raised here, not wrapped in the task group's ExceptionGroup
                failures.append(exc)
            finally:
                group.cancel_scope.cancel()
        if failures:
            raise failures[0]
        return finished[0]

    if live is not None:
        with live:
            outcome = anyio.run(main)
    else:
        outcome = anyio.run(main)
    report(outcome, fmt=fmt, signal_number=interrupted_by[0] if interrupted_by else None)
    return outcome


async def _watch_signals(execution: Execution, seen: list[int]) -> None:
    import anyio

    from rupu.workflows.runner import INTERRUPTED, TERMINATED

    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for number in signals:
            seen.append(number)
            terminated = seen[0] == signal.SIGTERM
            if len(seen) > 1:
                again = "terminated" if terminated else "interrupted"
                sys.stderr.write(f"\nrupu: {again} again; exiting now\n")
                sys.stderr.flush()
                os._exit(143 if terminated else 130)
            doing = "terminating (SIGTERM)" if terminated else "interrupting"
            sys.stderr.write(
                f"\nrupu: {doing}: cancelling running steps and saving the run record"
                " (Ctrl-C again to exit at once)\n"
            )
            sys.stderr.flush()
            execution.interrupt(TERMINATED if terminated else INTERRUPTED)


async def _refresh(live: object) -> None:
    import anyio

    from rupu.cli.workflow_view import LiveView

    assert isinstance(live, LiveView)
    while True:
        live.tick()
        await anyio.sleep(LIVE_REFRESH_SECONDS)


def report(outcome: RunOutcome, *, fmt: str, signal_number: int | None = None) -> None:
    from rupu.catalog.pricing import format_cost
    from rupu.errors import LimitReached, RunFailed

    run_id = outcome.run_id
    if fmt != "json":
        if outcome.status in ("succeeded", "partial"):
            _print_outputs(outcome.outputs)
        summary = (
            f"── {run_id} · {outcome.status.replace('_', ' ')} · "
            f"{outcome.duration_ms / 1000:.1f}s · {outcome.tokens} tokens"
        )
        if outcome.cost_usd is not None:
            summary += f" · {format_cost(outcome.cost_usd)}"
        elif outcome.tokens:
            summary += " · cost unknown"
        click.echo(summary, err=True)
    if outcome.status == "interrupted":
        raise _interrupted(run_id, signal_number)
    if outcome.budget is not None:
        raise LimitReached(
            str(outcome.budget["limit"]),
            f"run {run_id} stopped: {outcome.budget['message']}",
            hint=f"raise the limit, then `rupu workflow resume {run_id} --max-usd N` (or "
            "--max-tokens N) re-runs only the units that did not finish",
        )
    if outcome.status == "failed":
        raise RunFailed(
            run_id,
            f"run {run_id} failed: {outcome.error}",
            failed=outcome.failed,
            hint=f"fix the cause, then `rupu workflow resume {run_id}` re-runs only the failed and "
            "unstarted units",
        )
    if outcome.status == "rejected":
        raise RunFailed(run_id, f"run {run_id} was rejected at an approval gate", hint=None)
    if outcome.status == "partial":
        click.echo(
            f"rupu: warning: steps failed but were allowed to (continue_on_error): "
            f"{', '.join(outcome.failed)}; `rupu workflow resume {run_id}` re-runs them",
            err=True,
        )
    if outcome.status == "awaiting_approval":
        steps = ", ".join(outcome.awaiting)
        click.echo(
            f"rupu: run {run_id} is waiting for approval of: {steps}\n"
            f"  approve: rupu workflow approve {run_id}\n"
            f"  reject:  rupu workflow reject {run_id} --reason '...'",
            err=True,
        )


def _interrupted(run_id: str, signal_number: int | None) -> Exception:
    from rupu.errors import Interrupted, Terminated

    hint = f"resume it with `rupu workflow resume {run_id}`"
    if signal_number == signal.SIGTERM:
        return Terminated(f"terminated (SIGTERM); run {run_id} is saved", hint=hint)
    return Interrupted(f"interrupted; run {run_id} is saved", hint=hint)


def _print_outputs(outputs: dict[str, str]) -> None:
    if len(outputs) == 1:
        text = next(iter(outputs.values()))
        click.echo(text.rstrip("\n"))
        return
    for step, text in outputs.items():
        click.echo(f"## {step}\n{text.rstrip()}\n")
