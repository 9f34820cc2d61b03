"""Text and JSON for `rupu workflow show` (a workflow's plan and graph) and `show-run` (a run)."""

# lazy imports: a command loads what it needs when it runs, so `rupu --help` stays fast
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any, assert_never

import click

from rupu.workflows.agent_calls import AgentCall
from rupu.workflows.plan import Plan, PlannedStep
from rupu.workflows.provenance import Origin
from rupu.workflows.spec import (
    AgentStep,
    Budget,
    GateStep,
    LoopStep,
    MatrixStep,
    RunStep,
    Step,
    WorkflowStep,
)
from rupu.workflows.store import RunLock, RunRecord

Origins = dict[tuple[str, str | None], dict[str, Origin]]

SYMBOLS = {
    "succeeded": "✓",
    "failed": "✗",
    "skipped": "-",
    "cancelled": "⊘",
    "interrupted": "⊘",
    "awaiting_approval": "?",
    "rejected": "✗",
    "not started": "·",
}


def _calls(planned: PlannedStep, origins: Origins) -> list[dict[str, Any]]:
    step = planned.step
    combinations = step.combinations() if isinstance(step, MatrixStep) else None
    return [
        {
            "origins": {
                key: origin.as_dict()
                for key, origin in origins.get((planned.id, call.sub), {}).items()
            },
            "key": call.key,
            "sub": call.sub,
            "agent": call.agent.name,
            "provider": call.target.provider,
            "model": call.target.model,
            "auth": call.target.auth,
            "output": call.output,
            **({"matrix": combinations[number]} if combinations is not None else {}),
        }
        for number, call in enumerate(planned.calls)
    ]


def describe_plan(
    plan: Plan, origins: Origins | None = None, needs_trust: list[str] | None = None
) -> dict[str, Any]:
    loaded = plan.loaded
    graph = loaded.graph
    return {
        "name": plan.name,
        "description": loaded.workflow.description,
        "path": str(loaded.path),
        "inputs": {
            name: spec.model_dump(exclude_none=True)
            for name, spec in loaded.workflow.inputs.items()
        },
        "max_concurrency": plan.max_concurrency,
        "budget": _budget(loaded.workflow.budget),
        "steps": [
            {
                "id": p.id,
                "kind": p.kind,
                "needs": p.needs,
                "calls": _calls(p, origins or {}),
                "continue_on_error": p.continue_on_error,
                "max_parallel": p.max_parallel,
                "approval": p.step.approval is not None,
                "when": p.step.when,
                "budget": _budget(p.step.budget),
                "cache": p.step.cache,
                **_kind_keys(p.step),
            }
            for p in plan.steps.values()
        ],
        "stages": graph.stages(),
        "edges": [list(e) for e in graph.edges()],
        "needs_trust": needs_trust or [],
    }


def print_plan(
    plan: Plan, origins: Origins | None = None, needs_trust: list[str] | None = None
) -> None:
    loaded = plan.loaded
    workflow = loaded.workflow
    title = f"workflow {plan.name}"
    click.echo(title + (f": {workflow.description}" if workflow.description else ""))
    click.echo(f"file: {loaded.path}")
    if workflow.budget is not None:
        limit = _limit(workflow.budget.max_usd, workflow.budget.max_tokens)
        click.echo(f"budget: {limit} for the whole run")
    if workflow.inputs:
        click.echo("inputs:")
        for name, spec in workflow.inputs.items():
            facts = [spec.type, "required" if spec.required else f"default {spec.default!r}"]
            if spec.enum:
                facts.append("one of " + ", ".join(map(str, spec.enum)))
            note = f"  {spec.description}" if spec.description else ""
            click.echo(f"  {name} ({', '.join(facts)}){note}")
    click.echo("stages:")
    width = max(len(s) for s in plan.steps)
    for number, stage in enumerate(loaded.graph.stages(), 1):
        for position, step_id in enumerate(stage):
            planned = plan.steps[step_id]
            lead = f"{number:>2}." if position == 0 else "   "
            click.echo(f"  {lead} {step_id.ljust(width)}  {_shape(planned)}")
            for index, (label, call) in enumerate(subs := _sub_calls(planned)):
                branch = "└" if index == len(subs) - 1 else "├"
                click.echo(
                    f"        {' ' * width}  {branch} {label}: {call.agent.name} on "
                    f"{call.target.provider} · {call.target.model}"
                )
            _print_body(planned, f"        {' ' * width}  ")
    edges = loaded.graph.edges()
    if edges:
        click.echo("graph:")
        for step_id in loaded.graph.order:
            feeds = loaded.graph.feeds(step_id)
            if feeds:
                click.echo(f"  {step_id} ──▶ {', '.join(feeds)}")
    _print_origins(plan, origins or {})
    for line in needs_trust or []:
        click.echo(f"needs trust: {line}")


def _print_body(planned: PlannedStep, indent: str) -> None:
    """The steps of a loop or a called workflow, below it, in dependency order."""
    body = planned.body
    if body is None:
        return
    order = [step_id for stage in body.loaded.graph.stages() for step_id in stage]
    width = max(len(step_id) for step_id in order)
    for index, step_id in enumerate(order):
        branch = "└" if index == len(order) - 1 else "├"
        inner = body.steps[step_id]
        click.echo(f"{indent}{branch} {step_id.ljust(width)}  {_shape(inner)}")
        _print_body(inner, indent + ("  " if branch == "└" else "│ "))


def _print_origins(plan: Plan, origins: Origins) -> None:
    """Where each step's agent, provider and model came from."""
    if not origins:
        return
    click.echo("settings:")
    for planned in plan.steps.values():
        for call in planned.calls:
            found = origins.get((planned.id, call.sub))
            if found is None:
                continue
            name = planned.id + (f"/{call.sub}" if call.sub else "")
            click.echo(f"  {name}")
            values = {
                "agent": call.agent.name,
                "provider": call.target.provider,
                "model": call.target.model,
            }
            for key, origin in found.items():
                click.echo(f"    {key} {values[key]}  ({origin.describe()})")


def _sub_calls(planned: PlannedStep) -> list[tuple[str, AgentCall]]:
    """The calls `show` lists under a step: parallel entries by id, matrix combinations by value."""
    step = planned.step
    if isinstance(step, MatrixStep):
        combinations = step.combinations()
        return [
            (" ".join(f"{k}={v}" for k, v in combination.items()), call)
            for combination, call in zip(combinations, planned.calls, strict=True)
        ]
    if planned.kind == "parallel":
        return [(call.sub or "", call) for call in planned.calls]
    return []


def _kind_keys(step: Step) -> dict[str, Any]:
    """What `--format json` shows of a step's own kind (`for_each` stays for agent steps)."""
    match step:
        case AgentStep():
            return {"for_each": step.for_each}
        case RunStep():
            return {"run": step.run, "allow_failure": step.allow_failure, "cwd": step.cwd}
        case MatrixStep():
            return {"matrix": step.matrix}
        case GateStep():
            return {}
        case LoopStep():
            inner = [s.id for s in step.loop]
            return {"loop": inner, "until": step.until, "max_iterations": step.max_iterations}
        case WorkflowStep():
            return {"workflow": step.workflow, "inputs": step.inputs}
        case _:
            assert_never(step)


def _shape(planned: PlannedStep) -> str:
    step = planned.step
    extras = []
    if step.when is not None:
        extras.append("when …")
    if step.approval is not None:
        extras.append("approval")
    if planned.continue_on_error:
        extras.append("continue_on_error")
    if planned.max_parallel:
        extras.append(f"max_parallel {planned.max_parallel}")
    if planned.calls and planned.calls[0].output == "json" and planned.kind != "parallel":
        extras.append("output json")
    if step.budget is not None:
        extras.append(f"budget {_limit(step.budget.max_usd, step.budget.max_tokens)}")
    if step.cache is not None:
        extras.append("cache" if step.cache else "no cache")
    suffix = f"  [{', '.join(extras)}]" if extras else ""
    match step:
        case AgentStep():
            if step.parallel is not None:
                return f"parallel ×{len(step.parallel)}{suffix}"
            call = planned.calls[0]
            where = f"{call.agent.name} on {call.target.provider} · {call.target.model}"
            if step.for_each is not None:
                return f"for_each → {where}{suffix}"
            return f"{where}{suffix}"
        case RunStep():
            flags = " (allow_failure)" if step.allow_failure else ""
            return f"run: {_one_line(step.run)}{flags}{suffix}"
        case MatrixStep():
            names = " × ".join(f"{name} ({len(values)})" for name, values in step.matrix.items())
            return f"matrix ×{step.size()}: {names}{suffix}"
        case GateStep():
            return f"approval gate{suffix}"
        case LoopStep():
            inner = " → ".join(s.id for s in step.loop)
            return f"loop: {inner}, at most {step.max_iterations}× until …{suffix}"
        case WorkflowStep():
            called = planned.body.name if planned.body is not None else step.workflow
            return f"workflow {called} ({step.workflow}){suffix}"
        case _:
            assert_never(step)


def _one_line(command: str, limit: int = 60) -> str:
    first = command.strip().splitlines()[0] if command.strip() else ""
    more = first != command.strip()
    if len(first) > limit:
        first, more = first[: limit - 1], True
    return first + ("…" if more else "")


def describe_run(record: RunRecord) -> dict[str, Any]:
    from rupu.workflows.progress import read_progress

    meta = record.meta
    state = record.read_state()
    status = str(state.get("status"))
    progress = read_progress(record.directory)
    dead = status == "running" and not RunLock(record.directory / "lock").held_elsewhere()
    if dead:  # its process died before writing a final state: the folder says how far it got
        status = "interrupted"
        state = {**state, "status": status, "tokens": progress.tokens}
    units_by_step: dict[str, list[dict[str, Any]]] = defaultdict(list)
    recorded = record.read_units()  # in the order units first finished
    for step in dict.fromkeys(step for step, _ in recorded):
        units_by_step[step] = []
    for (step, _), unit in sorted(recorded.items()):
        units_by_step[step].append(unit)
    steps = []
    for step_id in meta.get("steps") or []:
        found = record.read_step(step_id)
        counted = progress.steps.get(step_id)
        if found is None:
            started = counted is not None and counted.planned is not None
            found = {
                "step": step_id,
                "status": ("interrupted" if dead else "running") if started else "not started",
            }
        found["step"] = step_id
        found.pop("results", None)
        found.pop("sub_results", None)
        found["units_planned"] = counted.planned if counted is not None else None
        found["units_finished"] = counted.finished if counted is not None else 0
        found["unit_records"] = _unit_records(units_by_step.get(step_id, []))
        steps.append(found)
        steps.extend(_nested_steps(record, step_id, units_by_step))
    return {
        "run_id": record.run_id,
        "workflow": meta.get("workflow"),
        "source": meta.get("source"),
        "created": meta.get("created"),
        "inputs": meta.get("inputs"),
        "overrides": meta.get("overrides"),
        "status": status,
        "state": state,
        "units_done": progress.units_done,
        "units_total": progress.units_total,
        "directory": str(record.directory),
        "steps": steps,
    }


def _unit_records(units: list[dict[str, Any]]) -> list[dict[str, Any]]:
    keys = (
        "unit",
        "sub",
        "item",
        "status",
        "error",
        "tokens",
        "cost_usd",
        "service_tier",
        "cached",
        "transcript",
    )
    return [{k: u.get(k) for k in keys} for u in units]


def _nested_steps(
    record: RunRecord, step_id: str, units_by_step: dict[str, list[dict[str, Any]]]
) -> list[dict[str, Any]]:
    """The recorded steps inside a loop or workflow step (`fix.2.review`, `nested.build`), in the
    order their first units finished (a step before the steps inside it)."""
    first = {path: i for i, path in enumerate(units_by_step)}

    def order(path: str) -> tuple[int, int]:
        inside = [i for s, i in first.items() if s == path or s.startswith(path + ".")]
        return min(inside, default=len(first)), path.count(".")

    found_paths = (p.stem for p in (record.directory / "steps").glob(f"{step_id}.*.json"))
    paths = sorted(found_paths, key=order)
    found = []
    for path in paths:
        step = record.read_step(path) or {"status": "unknown"}
        for bulky in ("results", "sub_results", "last"):
            step.pop(bulky, None)
        step["step"] = path
        step["unit_records"] = _unit_records(units_by_step.get(path, []))
        found.append(step)
    return found


def print_run(summary: dict[str, Any]) -> None:
    state = summary["state"]
    started = dt.datetime.fromtimestamp(float(summary["created"])).strftime("%Y-%m-%d %H:%M:%S")
    click.echo(f"run {summary['run_id']}: workflow {summary['workflow']} ({summary['source']})")
    click.echo(
        f"status: {summary['status'].replace('_', ' ')} · started {started} · "
        f"{(state.get('duration_ms') or 0) / 1000:.1f}s · {state.get('tokens', 0)} tokens · "
        f"{_cost(state)} · {summary['units_done']}/{summary['units_total']} units finished"
    )
    if summary["inputs"]:
        click.echo("inputs: " + ", ".join(f"{k}={v!r}" for k, v in summary["inputs"].items()))
    overrides = {k: v for k, v in (summary["overrides"] or {}).items() if v}
    if overrides:
        click.echo("overrides: " + ", ".join(f"{k}={v}" for k, v in overrides.items()))
    click.echo("steps:")
    width = max([len(s["step"]) for s in summary["steps"]] or [4])
    for step in summary["steps"]:
        status = str(step.get("status"))
        units = step.get("unit_records") or []
        ok = sum(1 for u in units if u["status"] == "succeeded")
        planned = max(step.get("units_planned") or 0, len(units))
        count = f"{ok}/{planned} units ok" if planned > 1 else ""
        cached = sum(1 for u in units if u.get("cached"))
        if cached:
            count += f" ({cached} cached)" if planned > 1 else "cached"
        line = (
            f"  {SYMBOLS.get(status, '·')} {step['step'].ljust(width)}  {status.replace('_', ' ')}"
        )
        spent = f"{step.get('tokens') or 0} tokens · {_cost(step)}" if "tokens" in step else ""
        click.echo(f"{line}  {count}  {spent}".rstrip())
        for unit in units:
            if unit["status"] != "succeeded":
                label = unit.get("sub") or f"unit {unit['unit']}"
                click.echo(f"      {label}: {unit['status']}: {unit.get('error')}")
        if step.get("error") and not units:
            click.echo(f"      {step['error']}")
        if status == "awaiting_approval" and step.get("prompt"):
            click.echo(f"      waiting for approval: {step['prompt']}")
    if state.get("error"):
        click.echo(f"error: {state['error']}")
    if state.get("budget_reached"):
        click.echo(f"budget: {state['budget_reached'].get('message')}")
    click.echo(f"record: {summary['directory']}")
    next_step = {
        "failed": f"rupu workflow resume {summary['run_id']}",
        "interrupted": f"rupu workflow resume {summary['run_id']}",
        "partial": f"rupu workflow resume {summary['run_id']}",
        "awaiting_approval": f"rupu workflow approve|reject {summary['run_id']}",
    }.get(summary["status"])
    if next_step:
        click.echo(f"next: {next_step}")


def _cost(record: dict[str, Any]) -> str:
    """A record's `cost_usd` for people: `$0.0123`, or `cost unknown` (an unpriced model)."""
    from rupu.catalog.pricing import format_cost

    if "cost_usd" not in record:
        return "cost not recorded"
    value = record["cost_usd"]
    return format_cost(value) if value is not None else "cost unknown"


def _budget(budget: Budget | None) -> dict[str, Any] | None:
    return budget.model_dump() if budget is not None else None


def _limit(max_usd: float | None, max_tokens: int | None) -> str:
    """`$2.50 · 100,000 tokens`: a budget's limits for people."""
    parts = [
        f"${max_usd:,.2f}" if max_usd is not None else "",
        f"{max_tokens:,} tokens" if max_tokens else "",
    ]
    return " · ".join(part for part in parts if part)
