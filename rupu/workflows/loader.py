"""Loading a workflow file: YAML, the strict models, step shapes, contracts, templates and the graph.

Everything that can be checked without agents or credentials is checked here, so a broken file fails
with file:line before anything runs. (Agents, providers and models are checked in `agent_calls.py`.)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, assert_never, cast

from pydantic import ValidationError

from rupu.errors import ConfigError, did_you_mean
from rupu.schemas import check_schema
from rupu.strict import validation_to_config_error
from rupu.textfiles import read_text
from rupu.workflows.contracts import load_schema_file
from rupu.workflows.graph import WorkflowGraph
from rupu.workflows.kinds.agent import check_agent
from rupu.workflows.kinds.checks import StepCheck
from rupu.workflows.kinds.gate import check_gate
from rupu.workflows.kinds.loop import body_doc, check_loop, inner_ids, outer_reads
from rupu.workflows.kinds.matrix import check_matrix
from rupu.workflows.kinds.run import check_run
from rupu.workflows.kinds.subworkflow import check_workflow_step
from rupu.workflows.references import (
    StepTemplates,
    build_step_graph,
    check_until,
    compile_outputs,
    compile_step,
)
from rupu.workflows.spec import (
    KINDS,
    AgentStep,
    GateStep,
    LoopStep,
    MatrixStep,
    OutputContract,
    RunStep,
    Step,
    Workflow,
    WorkflowStep,
    step_kind,
)
from rupu.workflows.templates import CompiledTemplate
from rupu.yamldoc import YamlDoc, parse_yaml

_TYPE_TAGS = frozenset({"str", "bool", "int", "float", "list", "dict", "none"})
_MODEL_NAMES = frozenset(
    {"InputSpec", "Defaults", "OutputContract", "Approval", "Budget", "ParallelStep", "Workflow"}
    | {model.__name__ for model in KINDS.values()}
)
_STEP_LISTS = ("steps", "loop")
_STEP_KEYS = frozenset(key for model in KINDS.values() for key in model.step_keys())
SECRET_PATTERNS = (
    ("an Anthropic key", re.compile(r"sk-ant-[A-Za-z0-9_-]{20,}")),
    ("an OpenAI-style key", re.compile(r"\bsk-(?:proj-)?[A-Za-z0-9_-]{20,}")),
    ("a GitHub token", re.compile(r"\b(?:ghp|gho|ghu|ghs)_[A-Za-z0-9]{30,}|github_pat_\w{22,}")),
    ("a Google API key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}")),
    ("a Slack token", re.compile(r"\bxox[baprs]-[0-9A-Za-z-]{10,}")),
    ("an AWS access key", re.compile(r"\bAKIA[0-9A-Z]{16}\b")),
)


@dataclass(slots=True)
class LoadedWorkflow:
    workflow: Workflow
    doc: YamlDoc
    templates: dict[str, StepTemplates]
    schemas: dict[str, dict[str, Any] | None]
    graph: WorkflowGraph
    warnings: list[str] = field(default_factory=list)
    # The steps of each loop step, loaded like a workflow's (in a document rooted at its `loop:`).
    bodies: dict[str, LoadedWorkflow] = field(default_factory=dict)
    # The declared `outputs:` a workflow step reads as steps.<id>.outputs.<name>.
    outputs: dict[str, CompiledTemplate] = field(default_factory=dict)

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
    _check_step_keys(data.get("steps"), doc)
    try:
        workflow = Workflow.model_validate(data)
    except ValidationError as exc:
        raise _config_error(exc, doc) from None
    loaded = _load_steps(workflow, doc, root, names=frozenset(), outer=frozenset())
    loaded.outputs = compile_outputs(workflow, doc)
    loaded.warnings = _secret_warnings(doc)
    return loaded


def _load_steps(
    workflow: Workflow,
    doc: YamlDoc,
    root: Path,
    *,
    names: frozenset[str],
    outer: frozenset[str],
) -> LoadedWorkflow:
    """The checks, contracts, templates and graph of a workflow's steps, or of a loop's (`names`: what
    else their templates may read; `outer`: the steps outside the loop they may read)."""
    ids = frozenset(s.id for s in workflow.steps)
    _check_ids(workflow, doc)
    for index, step in enumerate(workflow.steps):
        check_shape(step, StepCheck(doc, index, step.id), ids | outer)
    schemas = _load_schemas(workflow, doc, root)
    templates = {s.id: compile_step(i, s, doc, names=names) for i, s in enumerate(workflow.steps)}
    bodies: dict[str, LoadedWorkflow] = {}
    for index, step in enumerate(workflow.steps):
        if isinstance(step, LoopStep):
            own = templates[step.id]
            assert own.until is not None
            outside = (ids | outer) - {step.id}
            body = _load_body(index, step, workflow, doc, root, names, outside, own.until)
            bodies[step.id] = body
            inner = inner_ids(step)
            located = [entry for i in inner for entry in body.templates[i].located]
            own.located.extend(outer_reads(["steps", index, "loop"], inner, located))
            own.located.extend(outer_reads([], inner, [(["steps", index, "until"], own.until)]))
    graph = build_step_graph(workflow, templates, doc, outer=outer)
    return LoadedWorkflow(workflow, doc, templates, schemas, graph, bodies=bodies)


def _load_body(
    index: int,
    step: LoopStep,
    workflow: Workflow,
    doc: YamlDoc,
    root: Path,
    names: frozenset[str],
    outside: frozenset[str],
    until: CompiledTemplate,
) -> LoadedWorkflow:
    """A loop's steps, loaded as a workflow whose document is the `loop:` list. `continue_on_error`
    on the loop is also its steps' default."""
    defaults = workflow.defaults
    if step.continue_on_error is not None:
        defaults = defaults.model_copy(update={"continue_on_error": step.continue_on_error})
    steps = Workflow.model_construct(
        name=f"{workflow.name}.{step.id}",
        inputs=workflow.inputs,
        defaults=defaults,
        steps=step.loop,
    )
    loop_doc = body_doc(doc, ["steps", index, "loop"])
    body = _load_steps(steps, loop_doc, root, names=names | {"loop"}, outer=outside)
    check_until(step, index, until, steps, doc, outer=outside)
    return body


def _config_error(exc: ValidationError, doc: YamlDoc) -> ConfigError:
    class Cleaned:
        def errors(self) -> list[dict[str, Any]]:
            cleaned = []
            for error in exc.errors():
                loc = _without_kind_tag(error["loc"])
                loc = tuple(
                    p
                    for p in loc
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


def _without_kind_tag(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    """pydantic names the union member it tried (`steps.0.agent.prompt`); users wrote `steps.0.prompt`
    (also inside a loop: `steps.0.loop.loop.1.agent.prompt` is `steps.0.loop.1.prompt`)."""
    return tuple(
        part
        for i, part in enumerate(loc)
        if not (
            i >= 2 and part in KINDS and isinstance(loc[i - 1], int) and loc[i - 2] in _STEP_LISTS
        )
    )


def _check_step_keys(steps: Any, doc: YamlDoc, where: tuple[str | int, ...] = ("steps",)) -> None:
    """Before the models: a key no kind has is unknown (with the nearest key); a key of another kind
    does not fit the kind that the step's kind key picked. `where`: the list's place in the file."""
    if not isinstance(steps, list):
        return
    for index, raw in enumerate(steps):
        if not isinstance(raw, dict):
            continue
        model = KINDS[step_kind(raw)]
        if model is LoopStep:
            _check_step_keys(raw.get("loop"), doc, (*where, index, "loop"))
        own = model.step_keys()
        for key in raw:
            if key in own:
                continue
            loc: list[str | int] = [*where, index, str(key)]
            dotted = ".".join(str(part) for part in loc)
            if key not in _STEP_KEYS:
                suggestion = did_you_mean(str(key), own) or did_you_mean(str(key), _STEP_KEYS)
                raise ConfigError(
                    f"unknown key '{dotted}'{suggestion}",
                    location=doc.where(loc),
                    field=dotted,
                    hint=None if suggestion else f"valid keys: {', '.join(sorted(own))}",
                )
            message, hint = model.misplaced(str(key))
            step_id = raw.get("id")
            raise ConfigError(
                f"step '{step_id}': {message}" if isinstance(step_id, str) else message,
                location=doc.where(loc),
                field=dotted,
                hint=hint,
            )


def check_shape(step: Step, check: StepCheck, ids: frozenset[str] = frozenset()) -> None:
    """`ids`: the steps the step's workflow (and, inside a loop, the workflow around it) has."""
    match step:
        case AgentStep():
            check_agent(step, check)
        case RunStep():
            check_run(step, check)
        case MatrixStep():
            check_matrix(step, check)
        case GateStep():
            check_gate(step, check)
        case LoopStep():
            check_loop(step, check, ids - {step.id})
        case WorkflowStep():
            check_workflow_step(step, check)
        case _:
            assert_never(step)


def _load_schemas(workflow: Workflow, doc: YamlDoc, root: Path) -> dict[str, dict[str, Any] | None]:
    schemas: dict[str, dict[str, Any] | None] = {}
    for index, step in enumerate(workflow.steps):
        output = step.output if isinstance(step, AgentStep | MatrixStep) else None
        entries: list[tuple[str, OutputContract | None, list[str | int]]] = [
            (step.id, output, ["steps", index, "output"])
        ]
        parallel = step.parallel if isinstance(step, AgentStep) else None
        for sub_index, sub in enumerate(parallel or []):
            loc: list[str | int] = ["steps", index, "parallel", sub_index, "output"]
            entries.append(
                (f"{step.id}/{sub.id}", sub.output or output, loc if sub.output else entries[0][2])
            )
        for key, contract, loc in entries:
            schemas[key] = _schema_of(contract, doc, root, loc)
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
