"""Binding a loaded workflow to agents, providers and inputs: the last checks before any token.

Every step is planned with the agent calls it makes (`rupu.workflows.agent_calls`: each agent
found, its provider, model and auth mode resolved), its dependencies and limits, and, for loop and
workflow steps, the steps they hold (planned as a workflow of their own). Any problem is a
`ConfigError` at the step's file:line.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, assert_never

from rupu.agents.trust_gate import Finding
from rupu.config import LoadedConfig
from rupu.errors import ConfigError, Location, did_you_mean
from rupu.paths import Paths
from rupu.routing.fast import fan_out_warning
from rupu.routing.target import RunTarget
from rupu.workflows.agent_calls import AgentCall, Overrides, step_calls
from rupu.workflows.calls import CallSite, Copies, check_call_inputs, resolve_called
from rupu.workflows.inputs import resolve_inputs
from rupu.workflows.kinds.run import command_findings
from rupu.workflows.loader import LoadedWorkflow
from rupu.workflows.lookup import WorkflowAgents, root_for
from rupu.workflows.references import StepTemplates
from rupu.workflows.spec import (
    AgentStep,
    GateStep,
    LoopStep,
    MatrixStep,
    RunStep,
    Step,
    WorkflowStep,
)


@dataclass(slots=True)
class PlannedStep:
    step: Step
    index: int
    templates: StepTemplates
    calls: list[AgentCall]
    needs: list[str]
    continue_on_error: bool
    max_parallel: int | None
    # The steps a loop step repeats, or the workflow a workflow step calls, planned like a workflow.
    body: Plan | None = None

    @property
    def id(self) -> str:
        return self.step.id

    @property
    def kind(self) -> str:
        """The step's kind as records and events name it (`for_each`, `parallel` for agent steps)."""
        return self.step.shape

    @property
    def fans_out(self) -> bool:
        """Whether the step's results are a list, one per unit (for_each, parallel, matrix)."""
        return self.kind in ("for_each", "parallel", "matrix")


@dataclass(slots=True)
class Plan:
    loaded: LoadedWorkflow
    steps: dict[str, PlannedStep]
    inputs: dict[str, Any]
    overrides: Overrides
    max_concurrency: int | None
    targets: list[RunTarget] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # said once when the run starts (fast mode)

    @property
    def name(self) -> str:
        return self.loaded.name

    def all_calls(self) -> Iterator[AgentCall]:
        """Every agent call of the plan, including those of loop steps and called workflows."""
        for planned in self.steps.values():
            yield from planned.calls
            if planned.body is not None:
                yield from planned.body.all_calls()


def trust_findings(plan: Plan, paths: Paths) -> list[Finding]:
    """What the plan's workflow file does that needs the project's trust (its `run` steps),
    including the steps of its loops and of the workflows it calls."""
    steps = ((p.index, p.step) for p in plan.steps.values())
    found = command_findings(steps, plan.loaded.doc, paths)
    for planned in plan.steps.values():
        if planned.body is not None:
            found.extend(trust_findings(planned.body, paths))
    return found


def build_plan(
    loaded: LoadedWorkflow,
    agents: WorkflowAgents,
    config: LoadedConfig,
    *,
    inputs: Mapping[str, Any] | None,
    overrides: Overrides | None = None,
    chain: tuple[CallSite, ...] = (),
    copies: Copies | None = None,
) -> Plan:
    """`inputs=None` plans without checking inputs (for `rupu workflow show`, and the steps of loops
    and called workflows, whose inputs are known only when they run). `chain`: the calls that lead
    to this workflow, to refuse recursion; `copies`: the called workflows' files as a resumed run
    first read them."""
    overrides = overrides or Overrides()
    workflow = loaded.workflow
    defaults = workflow.defaults
    typed_inputs = resolve_inputs(workflow.inputs, inputs) if inputs is not None else {}
    steps: dict[str, PlannedStep] = {}
    targets: dict[tuple[str, str | None], RunTarget] = {}
    for index, step in enumerate(workflow.steps):
        calls = step_calls(loaded, index, step, agents, config, overrides)
        body = _body(loaded, index, step, agents, config, overrides, chain, copies)
        for target in [c.target for c in calls] + (body.targets if body is not None else []):
            targets.setdefault((target.provider, target.auth), target)
        steps[step.id] = PlannedStep(
            step=step,
            index=index,
            templates=loaded.templates[step.id],
            calls=calls,
            needs=loaded.graph.needs(step.id),
            continue_on_error=(
                step.continue_on_error
                if step.continue_on_error is not None
                else defaults.continue_on_error
            ),
            max_parallel=_max_parallel(step) or defaults.max_parallel,
            body=body,
        )
    _check_output_reads(loaded, steps)
    return Plan(
        loaded,
        steps,
        typed_inputs,
        overrides,
        workflow.max_concurrency,
        list(targets.values()),
        fast_notes(steps),
    )


def fast_notes(steps: Mapping[str, PlannedStep]) -> list[str]:
    """Why fast mode did not apply where it was asked for (once per provider), and one warning
    (for the first such step) when fast mode multiplies over a fan-out."""
    notes: dict[str, str] = {}
    fanned: str | None = None
    for planned in steps.values():
        for call in planned.calls:
            if call.fast_refused is not None:
                notes.setdefault(call.target.provider, call.fast_refused)
        if planned.fans_out and any(c.fast for c in planned.calls):
            fanned = fanned or planned.id
    return [*notes.values(), *([fan_out_warning(fanned)] if fanned else [])]


def _body(
    loaded: LoadedWorkflow,
    index: int,
    step: Step,
    agents: WorkflowAgents,
    config: LoadedConfig,
    overrides: Overrides,
    chain: tuple[CallSite, ...],
    copies: Copies | None,
) -> Plan | None:
    match step:
        case LoopStep():
            body = loaded.bodies[step.id]
            return build_plan(
                body, agents, config, inputs=None, overrides=overrides, chain=chain, copies=copies
            )
        case WorkflowStep():
            loc: list[str | int] = ["steps", index]
            called, sites = resolve_called(step, loc, loaded, agents.paths, chain, copies)
            check_call_inputs(step, loc, loaded, called)
            for inner in called.workflow.steps:
                if inner.approval is not None and inner.approval.required:
                    raise ConfigError(
                        f"step '{step.id}': workflow '{called.name}' has an approval step "
                        f"'{inner.id}'; a called workflow cannot wait for approval",
                        location=loaded.doc.where([*loc, "workflow"]),
                        hint="run that workflow on its own, or move the approval into this one",
                    )
            own_agents = WorkflowAgents(
                agents.paths, called.path.parent, root_for(called.path, agents.paths)
            )
            return build_plan(
                called,
                own_agents,
                config,
                inputs=None,
                overrides=overrides,
                chain=sites,
                copies=copies,
            )
        case AgentStep() | RunStep() | MatrixStep() | GateStep():
            return None
        case _:
            assert_never(step)


def _check_output_reads(loaded: LoadedWorkflow, steps: dict[str, PlannedStep]) -> None:
    """`steps.<id>.outputs.<name>` must name an output the called workflow declares."""
    doc = loaded.doc
    for planned in steps.values():
        for loc, compiled in planned.templates.located:
            for ref in compiled.step_refs:
                target = steps.get(ref.step)
                if ref.field != "outputs" or ref.key is None or target is None:
                    continue
                if target.body is None or not isinstance(target.step, WorkflowStep):
                    continue
                declared = target.body.loaded.outputs
                if ref.key in declared:
                    continue
                raise ConfigError(
                    f"step '{planned.id}' reads steps.{ref.step}.outputs.{ref.key}, but workflow "
                    f"'{target.body.name}' declares no output '{ref.key}'"
                    f"{did_you_mean(ref.key, declared)}",
                    location=Location(doc.shown, doc.content_line(loc, ref.lineno)),
                    hint=f"its outputs: {', '.join(declared) or 'none'} (declared under `outputs:`)",
                )


def _max_parallel(step: Step) -> int | None:
    match step:
        case AgentStep() | MatrixStep():
            return step.max_parallel
        case RunStep() | GateStep() | LoopStep() | WorkflowStep():
            return None
        case _:
            assert_never(step)
