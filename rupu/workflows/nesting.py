"""Running steps that hold steps: `loop` (its steps again and again until `until:` holds) and
`workflow` (another workflow's steps). Their steps run through the runner's own scheduling, in a
`Scope`: the step path prefix every record and event of theirs carries, and what their templates see.

Step paths: inside iteration 2 of loop `fix`, inner step `review` is `fix.2.review`; inside workflow
step `nested`, the called workflow's step `build` is `nested.build` (and they nest:
`nested.fix.2.review`). Unit records, transcripts, step records and events use the path, so resume
finds a nested unit's earlier result by its path and input hash like any other unit's.

What templates see inside iteration n of a loop:
- `steps.<inner>`: this iteration's result of an inner step, once it ran (inner steps run in their
  own dependency order); `steps.<outer>`: the steps outside the loop, as for any step;
- `loop.iteration` (1-based), `loop.max_iterations`, and `loop.previous.<inner>`: the previous
  iteration's result of each inner step (in iteration 1, empty results: output "", json none,
  status "not_run", success false).
`until:` is read after every iteration with the same names. A called workflow's steps see only its
own `inputs` and `steps`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from rupu.errors import UsageError
from rupu.workflows.events import LoopIterationFinished, LoopIterationStarted, RunEvent, add_costs
from rupu.workflows.inputs import resolve_inputs
from rupu.workflows.plan import Plan, PlannedStep
from rupu.workflows.spec import Defaults, LoopStep, WorkflowStep
from rupu.workflows.templates import TemplateError, is_truthy
from rupu.workflows.units import UnitOutcome

NOT_RUN: dict[str, Any] = {
    "output": "",
    "json": None,
    "success": False,
    "skipped": False,
    "status": "not_run",
    "results": [],
    "error": None,
}


StateT = TypeVar("StateT")


@dataclass(slots=True)
class Scope(Generic[StateT]):
    """A group of steps that run together: a workflow, one loop iteration, or a called workflow.
    `units` collects every unit of its steps (the enclosing step counts them as its own); `states`
    is the runner's state of each step, by id."""

    prefix: str
    inputs: dict[str, Any]
    views: dict[str, dict[str, Any]]
    extra: dict[str, Any] = field(default_factory=dict)
    statuses: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str | None] = field(default_factory=dict)
    units: list[UnitOutcome | None] = field(default_factory=list)
    states: dict[str, StateT] = field(default_factory=dict)
    defaults: Defaults | None = None  # the `defaults:` of the workflow its steps are in

    def path(self, step_id: str) -> str:
        return self.prefix + step_id

    def context(self) -> dict[str, Any]:
        return {"inputs": self.inputs, "steps": self.views, **self.extra}

    def first_failure(self, step_ids: Sequence[str]) -> str | None:
        for step_id in step_ids:
            if self.statuses.get(step_id) == "failed":
                error = self.errors.get(step_id) or "failed"
                return f"step '{self.path(step_id)}' failed: {error}"
        return None


class NestedRunner(Protocol):
    """What loop and workflow steps need from the runner."""

    def emit(self, event: RunEvent) -> None: ...

    async def run_nested(self, steps: Sequence[PlannedStep], scope: Scope[Any]) -> None: ...


@dataclass(slots=True)
class NestedOutcome:
    status: str
    error: str | None
    result: dict[str, Any]


async def run_loop(
    runner: NestedRunner, planned: PlannedStep, outer: Scope[Any], units: list[UnitOutcome | None]
) -> NestedOutcome:
    step = planned.step
    assert isinstance(step, LoopStep) and planned.body is not None
    until = planned.templates.until
    assert until is not None
    path = outer.path(planned.id)
    inner = list(planned.body.steps.values())
    ids = [p.id for p in inner]
    previous: dict[str, dict[str, Any]] = {step_id: dict(NOT_RUN) for step_id in ids}
    history: list[dict[str, dict[str, Any]]] = []

    def result(converged: bool) -> dict[str, Any]:
        last = history[-1] if history else previous
        final = last[ids[-1]]
        return {
            "output": final.get("output", ""),
            "json": final.get("json"),
            "results": [views[ids[-1]].get("output", "") for views in history],
            "iterations": len(history),
            "converged": converged,
            "last": last,
        }

    for iteration in range(1, step.max_iterations + 1):
        loop = {"iteration": iteration, "max_iterations": step.max_iterations, "previous": previous}
        scope: Scope[Any] = Scope(
            prefix=f"{path}.{iteration}.",
            inputs=outer.inputs,
            views=dict(outer.views),
            extra={**outer.extra, "loop": loop},
            units=units,
            defaults=planned.body.loaded.workflow.defaults,
        )
        runner.emit(LoopIterationStarted(step=path, iteration=iteration))
        before = len(units)
        await runner.run_nested(inner, scope)
        spent = [u for u in units[before:] if u is not None]
        history.append({step_id: scope.views.get(step_id, NOT_RUN) for step_id in ids})
        failure = scope.first_failure(ids)
        done = False
        if failure is None:
            try:
                done = is_truthy(until.evaluate(scope.context()))
            except TemplateError as exc:
                failure = f"until: {exc.message}"
        runner.emit(
            LoopIterationFinished(
                step=path,
                iteration=iteration,
                status="failed" if failure else "succeeded",
                until=None if failure else done,
                tokens=sum(u.tokens for u in spent),
                cost_usd=add_costs([u.cost_usd for u in spent]),
            )
        )
        if failure is not None:
            return NestedOutcome("failed", f"iteration {iteration}: {failure}", result(False))
        if done:
            return NestedOutcome("succeeded", None, result(True))
        previous = history[-1]
    if step.on_max == "continue":
        return NestedOutcome("succeeded", None, result(False))
    return NestedOutcome(
        "failed",
        f"`until` still false after {step.max_iterations} iterations (max_iterations)",
        result(False),
    )


async def run_call(
    runner: NestedRunner, planned: PlannedStep, outer: Scope[Any], units: list[UnitOutcome | None]
) -> NestedOutcome:
    step = planned.step
    assert isinstance(step, WorkflowStep) and planned.body is not None
    called = planned.body
    path = outer.path(planned.id)
    empty: dict[str, Any] = {"outputs": {}, "output": "", "json": None}
    try:
        inputs = _call_inputs(step, planned, called, outer)
    except (TemplateError, UsageError) as exc:
        return NestedOutcome("failed", f"inputs: {exc.message}", empty)
    scope: Scope[Any] = Scope(
        prefix=f"{path}.",
        inputs=inputs,
        views={},
        units=units,
        defaults=called.loaded.workflow.defaults,
    )
    inner = list(called.steps.values())
    await runner.run_nested(inner, scope)
    failure = scope.first_failure([p.id for p in inner])
    if failure is not None:
        return NestedOutcome("failed", failure, empty)
    outputs: dict[str, Any] = {}
    try:
        for name, template in called.loaded.outputs.items():
            outputs[name] = template.evaluate(scope.context())
    except TemplateError as exc:
        return NestedOutcome("failed", f"outputs.{name}: {exc.message}", empty)
    final = final_outputs(called, scope.views, scope.statuses.get)
    return NestedOutcome(
        "succeeded",
        None,
        {"outputs": outputs, "output": "\n\n".join(final.values()), "json": outputs or None},
    )


def _call_inputs(
    step: WorkflowStep, planned: PlannedStep, called: Plan, outer: Scope[Any]
) -> dict[str, Any]:
    declared = called.loaded.workflow.inputs
    context = outer.context()
    raw: dict[str, Any] = {}
    for name, value in step.inputs.items():
        template = planned.templates.inputs.get(name)
        if template is None:
            raw[name] = value
        elif declared[name].type == "string":
            raw[name] = template.render(context)
        else:
            raw[name] = template.evaluate(context)
    return resolve_inputs(declared, raw)


def final_outputs(
    plan: Plan, views: dict[str, dict[str, Any]], status: Callable[[str], str | None]
) -> dict[str, str]:
    """The outputs of the steps nothing else reads (a workflow's results), in graph order."""
    graph = plan.loaded.graph
    outputs: dict[str, str] = {}
    for step_id in graph.order:
        view = views.get(step_id)
        if graph.feeds(step_id) or view is None or status(step_id) != "succeeded":
            continue
        if view.get("output"):
            outputs[step_id] = str(view["output"])
    return outputs
