"""Finding the workflow a `workflow:` step calls, refusing recursion, and checking the inputs it passes.

A name is looked up like `rupu workflow run NAME` (project `.rupu/workflows/`, then
`$RUPU_HOME/workflows/`); anything ending in `.yaml`/`.yml` or holding a `/` is a path relative to the
calling file, which must stay inside the project (like an agent path). A call that leads back to a
workflow already being called (directly or through others) is an error naming the whole chain, each
hop with the file:line of its `workflow:` key.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from rupu.errors import ConfigError, Location, UsageError, did_you_mean
from rupu.paths import Paths
from rupu.workflows.inputs import check_typed, coerce
from rupu.workflows.kinds.subworkflow import WorkflowStep
from rupu.workflows.loader import LoadedWorkflow, load_workflow, parse_workflow
from rupu.workflows.lookup import SUFFIXES, load_reference, root_for


@dataclass(frozen=True, slots=True)
class CallSite:
    """One hop of a chain of calls: the calling workflow and where its `workflow:` key is."""

    name: str
    path: Path
    line: int | None

    def __str__(self) -> str:
        return f"{self.name} ({self.path}:{self.line})"


@dataclass(frozen=True, slots=True)
class CalledCopy:
    """A called workflow's file as the run first read it (kept in the run record; resume plans
    with this copy, as it does with the calling workflow's own)."""

    caller: str  # the calling workflow's file
    reference: str  # the step's `workflow:` value
    path: str  # the called workflow's file
    text: str


Copies = Mapping[tuple[str, str], CalledCopy]  # by (caller, reference)


def resolve_called(
    step: WorkflowStep,
    loc: list[str | int],
    caller: LoadedWorkflow,
    paths: Paths,
    chain: tuple[CallSite, ...],
    copies: Copies | None = None,
) -> tuple[LoadedWorkflow, tuple[CallSite, ...]]:
    """The called workflow and the chain of calls that leads into it (for the calls it makes)."""
    where = caller.doc.where([*loc, "workflow"])
    copy = (copies or {}).get((str(caller.path), step.workflow))
    try:
        if copy is not None:
            path = Path(copy.path)
            called = parse_workflow(copy.text, path, root=root_for(path, paths))
        else:
            called = _find(step.workflow, caller.path, paths)
    except ConfigError as exc:
        if exc.location is not None:
            raise
        raise ConfigError(
            f"step '{step.id}': {exc.message}", location=where, field=exc.field, hint=exc.hint
        ) from None
    sites = (*chain, CallSite(caller.name, caller.path, where.line))
    target = called.path.resolve()
    files = [site.path.resolve() for site in sites]
    if target in files:
        cycle = sites[files.index(target) :]
        hops = " -> ".join(str(site) for site in cycle)
        raise ConfigError(
            f"workflow recursion: {hops} -> {called.name}",
            location=Location(str(cycle[0].path), cycle[0].line),
            field=f"{'.'.join(str(p) for p in loc)}.workflow",
            hint="a workflow cannot call itself, directly or through the workflows it calls",
        )
    return called, sites


def _find(reference: str, caller: Path, paths: Paths) -> LoadedWorkflow:
    if not (reference.endswith(SUFFIXES) or "/" in reference):
        return load_reference(reference, paths)
    root = root_for(caller, paths)
    candidate = Path(os.path.normpath(caller.parent / reference))
    if Path(reference).is_absolute() or not candidate.resolve().is_relative_to(root.resolve()):
        raise ConfigError(
            f"workflow path '{reference}' leaves {root}",
            field="workflow",
            hint="name the workflow, or give a path inside the project relative to this file",
        )
    if not candidate.is_file():
        raise ConfigError(
            f"workflow file not found: {reference}",
            field="workflow",
            hint="paths are relative to the calling workflow's file",
        )
    return load_workflow(candidate, root=root_for(candidate, paths))


def check_call_inputs(
    step: WorkflowStep, loc: list[str | int], caller: LoadedWorkflow, called: LoadedWorkflow
) -> None:
    """Unknown and missing inputs, and values that are not templates but have the wrong type."""
    declared = called.workflow.inputs
    doc = caller.doc
    for name, value in step.inputs.items():
        where = doc.where([*loc, "inputs", name])
        if name not in declared:
            known = ", ".join(sorted(declared)) or "none"
            raise ConfigError(
                f"step '{step.id}': workflow '{called.name}' has no input "
                f"'{name}'{did_you_mean(name, declared)}",
                location=where,
                hint=f"its inputs: {known}",
            )
        if isinstance(value, str) and "{" in value:
            continue  # a template: checked once rendered
        try:
            if isinstance(value, str):
                coerce(name, declared[name], value)
            else:
                check_typed(name, declared[name], value)
        except UsageError as exc:
            raise ConfigError(
                f"step '{step.id}': {exc.message}", location=where, hint="give a value of that type"
            ) from None
    for name, spec in declared.items():
        if name not in step.inputs and spec.required and spec.default is None:
            raise ConfigError(
                f"step '{step.id}': workflow '{called.name}' needs input '{name}'"
                + (f" ({spec.description})" if spec.description else ""),
                location=doc.where([*loc, "workflow"]),
                hint=f"add `{name}: ...` under the step's `inputs:`",
            )
