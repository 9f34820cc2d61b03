"""Loading a workflow file: YAML, the strict models, step shapes, contracts, templates and the graph.

Everything that can be checked without agents or credentials is checked here, so a broken file fails
with file:line before anything runs. (Agents, providers and models are checked in `plan.py`.)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from pydantic import ValidationError

from rupu.errors import ConfigError, did_you_mean
from rupu.strict import validation_to_config_error
from rupu.workflows.contracts import check_schema, load_schema_file
from rupu.workflows.graph import CycleError, WorkflowGraph, build_graph
from rupu.workflows.spec import OutputContract, Step, Workflow
from rupu.workflows.templates import CompiledTemplate, TemplateError, compile_template
from rupu.workflows.yamldoc import YamlDoc, parse_yaml, read_text

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
)
_TYPE_TAGS = frozenset({"str", "bool", "int", "float", "list", "dict", "none"})
_MODEL_NAMES = frozenset(
    {"InputSpec", "Defaults", "OutputContract", "Approval", "ParallelStep", "Step", "Workflow"}
)
SECRET_PATTERNS = (
    ("an Anthropic key", re.compile(r"sk-ant-[A-Za-z0-9_-]{20,}")),
    ("an OpenAI-style key", re.compile(r"\bsk-(?:proj-)?[A-Za-z0-9_-]{20,}")),
    ("a GitHub token", re.compile(r"\b(?:ghp|gho|ghu|ghs)_[A-Za-z0-9]{30,}|github_pat_\w{22,}")),
    ("a Google API key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}")),
    ("a Slack token", re.compile(r"\bxox[baprs]-[0-9A-Za-z-]{10,}")),
    ("an AWS access key", re.compile(r"\bAKIA[0-9A-Z]{16}\b")),
)


@dataclass(slots=True)
class StepTemplates:
    prompt: CompiledTemplate | None = None
    when: CompiledTemplate | None = None
    for_each: CompiledTemplate | list[Any] | None = None
    approval: CompiledTemplate | None = None
    subs: dict[str, CompiledTemplate] = field(default_factory=dict)


@dataclass(slots=True)
class LoadedWorkflow:
    workflow: Workflow
    doc: YamlDoc
    templates: dict[str, StepTemplates]
    schemas: dict[str, dict[str, Any] | None]
    graph: WorkflowGraph
    warnings: list[str] = field(default_factory=list)

    @property
    def path(self) -> Path:
        return self.doc.path

    @property
    def name(self) -> str:
        return self.workflow.name

    def step(self, step_id: str) -> Step:
        return next(s for s in self.workflow.steps if s.id == step_id)

    def index(self, step_id: str) -> int:
        return next(i for i, s in enumerate(self.workflow.steps) if s.id == step_id)


def load_workflow(path: Path, *, root: Path | None = None) -> LoadedWorkflow:
    """`root` bounds the files a workflow may name (schema files); default: its own directory."""
    text = read_text(path, what="workflow file")
    return parse_workflow(text, path, root=root or path.parent)


def parse_workflow(text: str, path: Path, *, root: Path) -> LoadedWorkflow:
    data, doc = parse_yaml(path, text)
    if not isinstance(data, dict):
        raise ConfigError(
            "a workflow file is a YAML mapping with at least `name:` and `steps:`",
            location=doc.where([]),
        )
    if data.get("steps") == []:
        raise ConfigError(
            "the workflow has no steps",
            location=doc.where(["steps"]),
            hint="add a step under steps:",
        )
    try:
        workflow = Workflow.model_validate(data)
    except ValidationError as exc:
        raise _config_error(exc, doc) from None
    _check_ids(workflow, doc)
    for index, step in enumerate(workflow.steps):
        _check_shape(index, step, doc)
    schemas = _load_schemas(workflow, doc, root)
    templates = {s.id: _compile_step(i, s, doc) for i, s in enumerate(workflow.steps)}
    graph = _build_graph(workflow, templates, doc)
    return LoadedWorkflow(workflow, doc, templates, schemas, graph, _secret_warnings(doc))


def _config_error(exc: ValidationError, doc: YamlDoc) -> ConfigError:
    class Cleaned:
        def errors(self) -> list[dict[str, Any]]:
            cleaned = []
            for error in exc.errors():
                loc = tuple(
                    p
                    for p in error["loc"]
                    if not (
                        isinstance(p, str)
                        and ("[" in p or p in _TYPE_TAGS or p in _MODEL_NAMES or "-" in p[:9])
                        and p not in ("depends_on",)
                    )
                )
                cleaned.append({**error, "loc": loc})
            return cleaned

    error = validation_to_config_error(
        cast(ValidationError, Cleaned()), Workflow, path=doc.shown, find_line=doc.line
    )
    error.message = error.message.replace("Value error, ", "")
    error.args = (error.message,)
    return error


def _check_ids(workflow: Workflow, doc: YamlDoc) -> None:
    seen: dict[str, int] = {}
    for index, step in enumerate(workflow.steps):
        if step.id in seen:
            first = doc.line(["steps", seen[step.id], "id"])
            raise ConfigError(
                f"duplicate step id '{step.id}' (first used at line {first})",
                location=doc.where(["steps", index, "id"]),
                field=f"steps.{index}.id",
                hint="give every step its own id",
            )
        seen[step.id] = index
        subs: set[str] = set()
        for sub_index, sub in enumerate(step.parallel or []):
            if sub.id in subs:
                raise ConfigError(
                    f"duplicate parallel id '{sub.id}' in step '{step.id}'",
                    location=doc.where(["steps", index, "parallel", sub_index, "id"]),
                    hint="give every parallel entry its own id",
                )
            subs.add(sub.id)


def _check_shape(index: int, step: Step, doc: YamlDoc) -> None:
    def fail(key: str, message: str, hint: str | None = None) -> ConfigError:
        return ConfigError(
            f"step '{step.id}': {message}",
            location=doc.where(["steps", index, key]),
            field=f"steps.{index}.{key}",
            hint=hint,
        )

    if step.parallel is not None:
        for key in ("agent", "prompt", "for_each"):
            if getattr(step, key) is not None:
                raise fail(
                    key,
                    f"a `parallel` step cannot also have `{key}`",
                    "give each parallel entry its own agent and prompt",
                )
        if not step.parallel:
            raise fail("parallel", "`parallel` lists no entries", "add {id, agent, prompt} entries")
        return
    if step.agent is None and step.prompt is not None:
        raise fail("prompt", "has a prompt but no `agent`", "add `agent: NAME`")
    if step.agent is not None and step.prompt is None:
        raise fail("agent", "has an agent but no `prompt`", "add `prompt: ...`")
    if step.agent is None:
        if step.for_each is not None:
            raise fail("for_each", "`for_each` needs `agent` and `prompt`")
        if step.approval is None:
            raise fail(
                "id",
                "does nothing",
                "give it `agent` + `prompt`, a `parallel` list, or an `approval` gate",
            )
        for key in ("provider", "model", "auth", "output", "timeout", "retries"):
            if getattr(step, key) is not None:
                raise fail(key, f"`{key}` applies only to steps that run an agent")
    if step.max_parallel is not None and step.for_each is None:
        raise fail("max_parallel", "`max_parallel` applies only to for_each and parallel steps")


def _load_schemas(workflow: Workflow, doc: YamlDoc, root: Path) -> dict[str, dict[str, Any] | None]:
    schemas: dict[str, dict[str, Any] | None] = {}
    for index, step in enumerate(workflow.steps):
        entries: list[tuple[str, OutputContract | None, list[str | int]]] = [
            (step.id, step.output, ["steps", index, "output"])
        ]
        for sub_index, sub in enumerate(step.parallel or []):
            output = sub.output or step.output
            loc: list[str | int] = ["steps", index, "parallel", sub_index, "output"]
            entries.append((f"{step.id}/{sub.id}", output, loc if sub.output else entries[0][2]))
        for key, output, loc in entries:
            schemas[key] = _schema_of(output, doc, root, loc)
    return schemas


def _schema_of(
    output: OutputContract | None, doc: YamlDoc, root: Path, loc: list[str | int]
) -> dict[str, Any] | None:
    if output is None or output.json_schema is None:
        return None
    where = doc.where([*loc, "schema"])
    dotted = ".".join(str(p) for p in loc) + ".schema"
    if output.format != "json":
        raise ConfigError("a schema needs `format: json`", location=where, field=dotted)
    if isinstance(output.json_schema, str):
        return load_schema_file(
            output.json_schema, base=doc.path.parent, root=root, location=where, field=dotted
        )
    return check_schema(output.json_schema, location=where, field=dotted)


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
    doc: YamlDoc, loc: list[str | int], source: str, allowed: set[str]
) -> CompiledTemplate:
    what = _label(doc, loc)
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


def _template_where(doc: YamlDoc, loc: list[str | int], lineno: int | None) -> Any:
    from rupu.errors import Location

    return Location(doc.shown, doc.content_line(loc, lineno or 1))


def _compile_step(index: int, step: Step, doc: YamlDoc) -> StepTemplates:
    base = {"inputs", "steps"}
    loc: list[str | int] = ["steps", index]
    out = StepTemplates()
    if step.prompt is not None:
        allowed = base | ({"item", "loop"} if step.for_each is not None else set())
        out.prompt = _compile(doc, [*loc, "prompt"], step.prompt, allowed)
    if isinstance(step.when, str):
        out.when = _compile(doc, [*loc, "when"], step.when, base)
    if isinstance(step.for_each, str):
        out.for_each = _compile(doc, [*loc, "for_each"], step.for_each, base)
    elif isinstance(step.for_each, list):
        out.for_each = [
            _compile(doc, [*loc, "for_each", i], item, base) if isinstance(item, str) else item
            for i, item in enumerate(step.for_each)
        ]
    if step.approval is not None and step.approval.prompt is not None:
        out.approval = _compile(doc, [*loc, "approval", "prompt"], step.approval.prompt, base)
    for sub_index, sub in enumerate(step.parallel or []):
        sub_loc: list[str | int] = [*loc, "parallel", sub_index, "prompt"]
        out.subs[sub.id] = _compile(doc, sub_loc, sub.prompt, base)
    return out


def templates_with_locations(
    index: int, templates: StepTemplates
) -> list[tuple[list[str | int], CompiledTemplate]]:
    loc: list[str | int] = ["steps", index]
    found: list[tuple[list[str | int], CompiledTemplate]] = []
    for key in ("prompt", "when", "approval"):
        compiled = getattr(templates, key)
        if compiled is not None:
            found.append(([*loc, key] if key != "approval" else [*loc, key, "prompt"], compiled))
    if isinstance(templates.for_each, CompiledTemplate):
        found.append(([*loc, "for_each"], templates.for_each))
    elif isinstance(templates.for_each, list):
        for i, item in enumerate(templates.for_each):
            if isinstance(item, CompiledTemplate):
                found.append(([*loc, "for_each", i], item))
    for sub_index, compiled in enumerate(templates.subs.values()):
        found.append(([*loc, "parallel", sub_index, "prompt"], compiled))
    return found


def _build_graph(
    workflow: Workflow, templates: dict[str, StepTemplates], doc: YamlDoc
) -> WorkflowGraph:
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
        for loc, compiled in templates_with_locations(index, templates[step.id]):
            edges.extend(_reference_edges(step, index, loc, compiled, workflow, position, doc))
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
    json_anywhere = (target.output is not None and target.output.format == "json") or any(
        s.output is not None and s.output.format == "json" for s in target.parallel or []
    )
    if field_name == "json" and not json_anywhere:
        raise fail(
            f"{what} reads {ref}, but step '{target.id}' has text output",
            f"give step '{target.id}' `output: json`, or read {target.id}.output",
        )
    if field_name == "sub_results" and target.parallel is None:
        raise fail(f"{what} reads {ref}, but '{target.id}' is not a parallel step")
    if field_name == "decision" and target.approval is None:
        raise fail(f"{what} reads {ref}, but '{target.id}' has no approval")


def _secret_warnings(doc: YamlDoc) -> list[str]:
    warnings = []
    for number, line in enumerate(doc.text.splitlines(), 1):
        for label, pattern in SECRET_PATTERNS:
            if pattern.search(line):
                warnings.append(
                    f"{doc.shown}:{number}: this looks like {label}; keep secrets out of workflow "
                    "files (set an environment variable or run `rupu auth login`)"
                )
                break
    return warnings
