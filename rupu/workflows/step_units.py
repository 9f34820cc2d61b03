"""The units of a step, built when the step starts (its templates rendered with what the steps it
reads produced): one per agent call, `for_each` item, `parallel` entry or `matrix` combination, or
the one command of a `run` step. Pure: nothing runs here."""

from __future__ import annotations

from typing import Any, assert_never

from rupu.workflows.agent_calls import AgentCall
from rupu.workflows.kinds.run import CommandCall, CommandSpec
from rupu.workflows.plan import PlannedStep
from rupu.workflows.spec import (
    AgentStep,
    Defaults,
    GateStep,
    LoopStep,
    MatrixStep,
    RunStep,
    WorkflowStep,
)
from rupu.workflows.templates import TemplateError, items_from
from rupu.workflows.units import Unit, input_hash

Items = list[Any] | None  # what the step record lists as `items` (for_each items, combinations)


def step_units(
    planned: PlannedStep, context: dict[str, Any], defaults: Defaults
) -> tuple[list[Unit], Items]:
    """Raises `TemplateError` (naming the unit) when a template cannot be rendered."""
    step = planned.step
    match step:
        case AgentStep():
            return _agent_units(planned, step, context)
        case MatrixStep():
            return _matrix_units(planned, step, context), step.combinations()
        case RunStep():
            return [_command_unit(planned, step, context, defaults)], None
        case GateStep():
            return [], None
        case LoopStep() | WorkflowStep():
            raise AssertionError(f"{step.kind} steps run steps, not units")
        case _:
            assert_never(step)


def _unit(
    planned: PlannedStep, index: int, call: AgentCall | CommandCall, prompt: str, item: Any
) -> Unit:
    return Unit(planned.id, index, call, prompt, item, input_hash(call, prompt))


def _agent_units(
    planned: PlannedStep, step: AgentStep, context: dict[str, Any]
) -> tuple[list[Unit], Items]:
    if step.parallel is not None:
        units = [
            _unit(planned, i, call, call.prompt.render(context), None)
            for i, call in enumerate(planned.calls)
        ]
        return units, None
    call = planned.calls[0]
    if step.for_each is None:
        return [_unit(planned, 0, call, call.prompt.render(context), None)], None
    source = planned.templates.for_each
    if isinstance(source, list):
        raw: Any = [s.evaluate(context) if hasattr(s, "evaluate") else s for s in source]
    else:
        assert source is not None
        raw = source.evaluate(context)
    items = items_from(raw)
    units = []
    length = len(items)
    for index, item in enumerate(items):
        loop = {
            "index": index + 1,
            "index0": index,
            "first": index == 0,
            "last": index == length - 1,
            "length": length,
        }
        try:
            # Inside a loop step, `loop` also keeps the iteration's names.
            fan_out = {**context.get("loop", {}), **loop}
            prompt = call.prompt.render({**context, "item": item, "loop": fan_out})
        except TemplateError as exc:
            raise TemplateError(f"unit {index} (item {item!r}): prompt: {exc.message}") from None
        units.append(_unit(planned, index, call, prompt, item))
    return units, items


def _matrix_units(planned: PlannedStep, step: MatrixStep, context: dict[str, Any]) -> list[Unit]:
    units = []
    combinations = step.combinations()
    for index, (call, combination) in enumerate(zip(planned.calls, combinations, strict=True)):
        try:
            prompt = call.prompt.render({**context, "matrix": combination})
        except TemplateError as exc:
            raise TemplateError(
                f"unit {index} (matrix {combination!r}): prompt: {exc.message}"
            ) from None
        units.append(_unit(planned, index, call, prompt, combination))
    return units


def _command_unit(
    planned: PlannedStep, step: RunStep, context: dict[str, Any], defaults: Defaults
) -> Unit:
    templates = planned.templates
    assert templates.run is not None
    spec = CommandSpec(
        command=templates.run.render(context),
        shell=step.shell,
        env={name: t.render(context) for name, t in templates.env.items()},
        cwd=templates.cwd.render(context) if templates.cwd is not None else None,
        allow_failure=step.allow_failure,
    )
    retries = step.retries if step.retries is not None else defaults.retries
    call = CommandCall(planned.id, spec, step.timeout or defaults.timeout, retries)
    return _unit(planned, 0, call, spec.command, None)
