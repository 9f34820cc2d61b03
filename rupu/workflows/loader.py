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

from rupu.errors import ConfigError
from rupu.schemas import check_schema
from rupu.strict import validation_to_config_error
from rupu.textfiles import read_text
from rupu.workflows.contracts import load_schema_file
from rupu.workflows.graph import WorkflowGraph
from rupu.workflows.references import StepTemplates, build_step_graph, compile_step
from rupu.workflows.spec import OutputContract, Step, Workflow
from rupu.yamldoc import YamlDoc, parse_yaml

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
    templates = {s.id: compile_step(i, s, doc) for i, s in enumerate(workflow.steps)}
    graph = build_step_graph(workflow, templates, doc)
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
