"""Step templates and what they read: compiling every template of every step (with the file:line of
syntax errors and unknown names), and turning `depends_on` plus the `steps.<id>` references into the
step graph, rejecting unknown, self, later and cyclic references before anything runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, assert_never

from rupu.errors import ConfigError, Location, did_you_mean
from rupu.workflows.graph import CycleError, WorkflowGraph, build_graph
from rupu.workflows.spec import (
    AgentStep,
    GateStep,
    LoopStep,
    MatrixStep,
    RunStep,
    Step,
    Workflow,
    WorkflowStep,
)
from rupu.workflows.templates import CompiledTemplate, TemplateError, compile_template
from rupu.yamldoc import YamlDoc

STEP_FIELDS = (
    "output",
    "json",
    "success",
    "skipped",
    "status",
    "results",
    "error",
    "sub_results",
    "decision",
    "stdout",
    "stderr",
    "exit_code",
    "outputs",
    "iterations",
    "converged",
    "last",
)
RUN_FIELDS = frozenset({"stdout", "stderr", "exit_code"})
LOOP_FIELDS = frozenset({"iterations", "converged", "last"})


@dataclass(slots=True)
class StepTemplates:
    """A step's compiled templates; `located` lists every one with its place in the file."""

    prompt: CompiledTemplate | None = None
    when: CompiledTemplate | None = None
    for_each: CompiledTemplate | list[Any] | None = None
    approval: CompiledTemplate | None = None
    subs: dict[str, CompiledTemplate] = field(default_factory=dict)
    run: CompiledTemplate | None = None
    env: dict[str, CompiledTemplate] = field(default_factory=dict)
    cwd: CompiledTemplate | None = None
    until: CompiledTemplate | None = None  # not in `located`: it reads the loop's own steps
    inputs: dict[str, CompiledTemplate] = field(default_factory=dict)
    targets: dict[str, CompiledTemplate] = field(default_factory=dict)  # matrix provider/model
    located: list[tuple[list[str | int], CompiledTemplate]] = field(default_factory=list)


def _label(doc: YamlDoc, loc: list[str | int]) -> str:
    """`step 'plan' prompt` for `["steps", 0, "prompt"]`."""
    node, _ = doc.node(loc[:2])
    step_id = "?"
    if node is not None:
        for key, value in getattr(node, "value", []):
            if getattr(key, "value", None) == "id":
                step_id = str(value.value)
    return f"step '{step_id}' " + ".".join(str(p) for p in loc[2:])


def _compile(
    doc: YamlDoc, loc: list[str | int], source: str, allowed: set[str], what: str | None = None
) -> CompiledTemplate:
    what = what or _label(doc, loc)
    try:
        compiled = compile_template(source)
    except TemplateError as exc:
        raise ConfigError(
            f"template syntax error in {what}: {exc.message}",
            location=_template_where(doc, loc, exc.lineno),
            field=what,
        ) from None
    for name in sorted(compiled.names - allowed):
        hint_names = ", ".join(sorted(allowed))
        raise ConfigError(
            f"unknown variable '{name}' in {what}{did_you_mean(name, allowed)}",
            location=doc.where(loc),
            field=what,
            hint=f"templates here can read: {hint_names}",
        )
    return compiled


def _template_where(doc: YamlDoc, loc: list[str | int], lineno: int | None) -> Location:
    return Location(doc.shown, doc.content_line(loc, lineno or 1))


def compile_step(
    index: int, step: Step, doc: YamlDoc, *, names: frozenset[str] = frozenset()
) -> StepTemplates:
    """`names`: what else the templates may read (`loop` inside a loop step)."""
    base = {"inputs", "steps", *names}
    out = StepTemplates()

    def compile_at(loc: list[str | int], source: str, allowed: set[str]) -> CompiledTemplate:
        full: list[str | int] = ["steps", index, *loc]
        compiled = _compile(doc, full, source, allowed)
        out.located.append((full, compiled))
        return compiled

    match step:
        case AgentStep():
            if step.prompt is not None:
                allowed = base | ({"item", "loop"} if step.for_each is not None else set())
                out.prompt = compile_at(["prompt"], step.prompt, allowed)
            if isinstance(step.for_each, str):
                out.for_each = compile_at(["for_each"], step.for_each, base)
            elif isinstance(step.for_each, list):
                out.for_each = [
                    compile_at(["for_each", i], item, base) if isinstance(item, str) else item
                    for i, item in enumerate(step.for_each)
                ]
            for sub_index, sub in enumerate(step.parallel or []):
                out.subs[sub.id] = compile_at(["parallel", sub_index, "prompt"], sub.prompt, base)
        case MatrixStep():
            if step.prompt is not None:
                out.prompt = compile_at(["prompt"], step.prompt, base | {"matrix"})
            for key in ("provider", "model"):  # picked per combination, at plan time
                source = getattr(step, key)
                if source is not None and "{" in source:
                    out.targets[key] = compile_at([key], source, {"matrix"})
        case RunStep():
            out.run = compile_at(["run"], step.run, base)
            out.env = {name: compile_at(["env", name], v, base) for name, v in step.env.items()}
            if step.cwd is not None:
                out.cwd = compile_at(["cwd"], step.cwd, base)
        case GateStep():
            pass
        case LoopStep():
            out.until = _compile(doc, ["steps", index, "until"], step.until, base | {"loop"})
        case WorkflowStep():
            out.inputs = {
                name: compile_at(["inputs", name], value, base)
                for name, value in step.inputs.items()
                if isinstance(value, str)
            }
        case _:
            assert_never(step)
    if isinstance(step.when, str):
        out.when = compile_at(["when"], step.when, base)
    if step.approval is not None and step.approval.prompt is not None:
        out.approval = compile_at(["approval", "prompt"], step.approval.prompt, base)
    return out


def build_step_graph(
    workflow: Workflow,
    templates: dict[str, StepTemplates],
    doc: YamlDoc,
    *,
    outer: frozenset[str] = frozenset(),
) -> WorkflowGraph:
    """`outer`: for a loop's steps, the steps outside the loop; reads of those are checked, and
    scheduled, as reads of the loop step (see `kinds.loop.outer_reads`)."""
    ids = [s.id for s in workflow.steps]
    position = {step_id: i for i, step_id in enumerate(ids)}
    edges: list[tuple[str, str]] = []
    for index, step in enumerate(workflow.steps):
        for dep_index, dep in enumerate(step.depends_on):
            if dep not in position:
                raise ConfigError(
                    f"step '{step.id}' depends on unknown step '{dep}'{did_you_mean(dep, ids)}",
                    location=doc.where(["steps", index, "depends_on", dep_index]),
                    field=f"steps.{index}.depends_on",
                    hint=f"steps: {', '.join(ids)}",
                )
            edges.append((dep, step.id))
        for loc, compiled in templates[step.id].located:
            edges.extend(
                _reference_edges(step, index, loc, compiled, workflow, position, doc, outer)
            )
    try:
        return build_graph(ids, edges)
    except CycleError as exc:
        first = exc.cycle[0]
        raise ConfigError(
            exc.message,
            location=doc.where(["steps", position[first], "depends_on"]),
            field=f"steps.{position[first]}.depends_on",
            hint="remove one of these dependencies",
        ) from None


def _reference_edges(
    step: Step,
    index: int,
    loc: list[str | int],
    compiled: CompiledTemplate,
    workflow: Workflow,
    position: dict[str, int],
    doc: YamlDoc,
    outer: frozenset[str] = frozenset(),
) -> list[tuple[str, str]]:
    what = _label(doc, loc)

    def fail(message: str, lineno: int, hint: str | None = None) -> ConfigError:
        return ConfigError(
            message, location=_template_where(doc, loc, lineno), field=what, hint=hint
        )

    for name, lineno in compiled.input_refs:
        if name not in workflow.inputs:
            declared = ", ".join(sorted(workflow.inputs)) or "none"
            raise fail(
                f"{what} reads unknown input '{name}'{did_you_mean(name, workflow.inputs)}",
                lineno,
                f"declared inputs: {declared}; declare it under `inputs:`",
            )
    if compiled.dynamic_steps is not None:
        raise fail(
            f"{what} reads `steps` without naming a step",
            compiled.dynamic_steps,
            "write steps.<id>.<field> (or steps['<id>'].<field>) so the step can be scheduled after it",
        )
    edges = []
    for ref in compiled.step_refs:
        if ref.step in outer and ref.step not in position:
            continue
        if ref.step not in position:
            raise fail(
                f"{what} reads unknown step '{ref.step}'{did_you_mean(ref.step, position)}",
                ref.lineno,
                f"steps: {', '.join(position)}",
            )
        if ref.step == step.id:
            raise fail(f"{what} reads its own step '{step.id}'", ref.lineno)
        if position[ref.step] > index and ref.step not in step.depends_on:
            raise fail(
                f"{what} reads step '{ref.step}', which is declared later (line "
                f"{doc.line(['steps', position[ref.step]])})",
                ref.lineno,
                f"move '{ref.step}' above '{step.id}', or list it in `depends_on`",
            )
        target = workflow.steps[position[ref.step]]
        _check_field(ref.field, target, lambda m, h=None, n=ref.lineno: fail(m, n, h), what)
        edges.append((ref.step, step.id))
    return edges


def _check_field(field_name: str | None, target: Step, fail: Any, what: str) -> None:
    if field_name is None:
        return
    ref = f"steps.{target.id}.{field_name}"
    if field_name not in STEP_FIELDS:
        raise fail(
            f"{what} reads unknown field '{ref}'{did_you_mean(field_name, STEP_FIELDS)}",
            f"fields: {', '.join(STEP_FIELDS)}",
        )
    if field_name == "json" and not _uses_json(target):
        raise fail(
            f"{what} reads {ref}, but step '{target.id}' has text output",
            f"give step '{target.id}' `output: json`, or read {target.id}.output",
        )
    if field_name == "sub_results" and not (
        isinstance(target, AgentStep) and target.parallel is not None
    ):
        raise fail(f"{what} reads {ref}, but '{target.id}' is not a parallel step")
    if field_name in RUN_FIELDS and not isinstance(target, RunStep):
        raise fail(
            f"{what} reads {ref}, but '{target.id}' is not a run step",
            f"read steps.{target.id}.output",
        )
    if field_name == "decision" and target.approval is None:
        raise fail(f"{what} reads {ref}, but '{target.id}' has no approval")
    if field_name in LOOP_FIELDS and not isinstance(target, LoopStep):
        raise fail(f"{what} reads {ref}, but '{target.id}' is not a loop step")
    if field_name == "outputs" and not isinstance(target, WorkflowStep):
        raise fail(f"{what} reads {ref}, but '{target.id}' is not a workflow step")


def check_until(
    step: LoopStep,
    index: int,
    until: CompiledTemplate,
    body: Workflow,
    doc: YamlDoc,
    *,
    outer: frozenset[str],
) -> None:
    """`until` may read every step of the loop (they all ran) and, like them, the steps in `outer`."""
    position = {inner.id: i for i, inner in enumerate(body.steps)}
    loc: list[str | int] = ["steps", index, "until"]
    _reference_edges(step, len(body.steps), loc, until, body, position, doc, outer)


def compile_outputs(workflow: Workflow, doc: YamlDoc) -> dict[str, CompiledTemplate]:
    """A workflow's `outputs:`: templates over its own inputs and steps, read after its steps."""
    compiled: dict[str, CompiledTemplate] = {}
    position = {step.id: i for i, step in enumerate(workflow.steps)}
    for name, source in (workflow.outputs or {}).items():
        loc: list[str | int] = ["outputs", name]
        what = f"output '{name}'"
        template = _compile(doc, loc, source, {"inputs", "steps"}, what)
        for ref in template.step_refs:
            where = _template_where(doc, loc, ref.lineno)
            if ref.step not in position:
                raise ConfigError(
                    f"{what} reads unknown step '{ref.step}'{did_you_mean(ref.step, position)}",
                    location=where,
                    hint=f"steps: {', '.join(position)}",
                )

            def fail(message: str, hint: str | None = None, at: Location = where) -> ConfigError:
                return ConfigError(message, location=at, hint=hint)

            _check_field(ref.field, workflow.steps[position[ref.step]], fail, what)
        for input_name, lineno in template.input_refs:
            if input_name not in workflow.inputs:
                raise ConfigError(
                    f"{what} reads unknown input '{input_name}'"
                    f"{did_you_mean(input_name, workflow.inputs)}",
                    location=_template_where(doc, loc, lineno),
                )
        if template.dynamic_steps is not None:
            raise ConfigError(
                f"{what} reads `steps` without naming a step",
                location=_template_where(doc, loc, template.dynamic_steps),
            )
        compiled[name] = template
    return compiled


def _uses_json(step: Step) -> bool:
    match step:
        case AgentStep():
            return step.uses_json()
        case MatrixStep():
            return step.output is not None and step.output.format == "json"
        case RunStep() | GateStep():
            return False
        case LoopStep():
            return bool(step.loop) and _uses_json(step.loop[-1])
        case WorkflowStep():
            return True
        case _:
            assert_never(step)
