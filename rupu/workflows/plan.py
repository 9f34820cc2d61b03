"""Binding a loaded workflow to agents, providers and inputs: the last checks before any token.

For every step (and every `parallel` entry) the agent is found and its provider, model and auth
mode resolved, with command-line overrides beating the step's, which beat the agent's. Any problem
is a `ConfigError` at the step's file:line.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, assert_never

from rupu.agents.spec import AgentSpec
from rupu.agents.trust_gate import Finding
from rupu.auth.adc import AuthChoice
from rupu.config import LoadedConfig
from rupu.errors import ConfigError, Location, did_you_mean
from rupu.paths import Paths
from rupu.routing.fast import FAST_TIER, fan_out_warning, fast_refusal
from rupu.routing.target import RunTarget, resolve_target
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
    OutputFormat,
    RunStep,
    Step,
    WorkflowStep,
)
from rupu.workflows.templates import CompiledTemplate, TemplateError


@dataclass(frozen=True, slots=True)
class Overrides:
    """`--provider` / `--model` / `--fallback` / `--fast` for every step of a run."""

    provider: str | None = None
    model: str | None = None
    fallbacks: tuple[str, ...] = ()
    fast: bool = False

    def as_dict(self) -> dict[str, str | list[str] | bool | None]:
        return {
            "provider": self.provider,
            "model": self.model,
            "fallbacks": list(self.fallbacks),
            "fast": self.fast,
        }


@dataclass(frozen=True, slots=True)
class AgentCall:
    """What one unit of a step runs: the agent, where, with which prompt template and contract."""

    key: str
    sub: str | None
    agent: AgentSpec
    target: RunTarget
    prompt: CompiledTemplate
    output: OutputFormat
    schema: dict[str, Any] | None
    timeout: float | None
    retries: int
    fast: bool = False  # sent OpenAI's priority tier (fast mode; rupu.routing.fast)
    fast_refused: str | None = None  # fast mode was asked for where it does not apply: why


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
        calls = _calls(loaded, index, step, agents, config, overrides)
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


def _calls(
    loaded: LoadedWorkflow,
    index: int,
    step: Step,
    agents: WorkflowAgents,
    config: LoadedConfig,
    overrides: Overrides,
) -> list[AgentCall]:
    match step:
        case AgentStep():
            return _agent_calls(loaded, index, step, agents, config, overrides)
        case MatrixStep():
            return _matrix_calls(loaded, index, step, agents, config, overrides)
        case RunStep() | GateStep() | LoopStep() | WorkflowStep():
            return []
        case _:
            assert_never(step)


def _agent_calls(
    loaded: LoadedWorkflow,
    index: int,
    step: AgentStep,
    agents: WorkflowAgents,
    config: LoadedConfig,
    overrides: Overrides,
) -> list[AgentCall]:
    defaults = loaded.workflow.defaults
    templates = loaded.templates[step.id]
    base: list[str | int] = ["steps", index]
    if step.parallel is not None:
        calls = []
        for sub_index, sub in enumerate(step.parallel):
            loc: list[str | int] = [*base, "parallel", sub_index]
            output = sub.output or step.output
            calls.append(
                _call(
                    loaded,
                    loc,
                    key=f"{step.id}/{sub.id}",
                    sub=sub.id,
                    agent_name=sub.agent,
                    provider=sub.provider or step.provider,
                    model=sub.model or step.model,
                    auth=sub.auth or step.auth,
                    fallback=sub.fallback if sub.fallback is not None else step.fallback,
                    fast=sub.fast if sub.fast is not None else step.fast,
                    prompt=templates.subs[sub.id],
                    output=output.format if output else "text",
                    timeout=sub.timeout or step.timeout or defaults.timeout,
                    retries=_first(sub.retries, step.retries, defaults.retries),
                    agents=agents,
                    config=config,
                    overrides=overrides,
                )
            )
        return calls
    assert step.agent is not None and templates.prompt is not None  # checked at load
    return [
        _call(
            loaded,
            base,
            key=step.id,
            sub=None,
            agent_name=step.agent,
            provider=step.provider,
            model=step.model,
            auth=step.auth,
            fallback=step.fallback,
            fast=step.fast,
            prompt=templates.prompt,
            output=step.output.format if step.output else "text",
            timeout=step.timeout or defaults.timeout,
            retries=_first(step.retries, defaults.retries),
            agents=agents,
            config=config,
            overrides=overrides,
        )
    ]


def matrix_target(value: Any) -> tuple[str | None, str | None]:
    """(provider, model) a matrix `model` entry picks: `provider:model` both, a bare name the model."""
    text = str(value).strip()
    if ":" in text:
        provider, _, model = text.partition(":")
        return provider.strip() or None, model.strip() or None
    return None, text or None


def _matrix_calls(
    loaded: LoadedWorkflow,
    index: int,
    step: MatrixStep,
    agents: WorkflowAgents,
    config: LoadedConfig,
    overrides: Overrides,
) -> list[AgentCall]:
    """One call per combination; an entry of the list named `model` sets the call's provider and
    model as the step's own `provider`/`model` would (so --provider/--model still beat it)."""
    defaults = loaded.workflow.defaults
    templates = loaded.templates[step.id]
    assert step.agent is not None and templates.prompt is not None  # checked at load
    models = step.matrix.get("model")
    calls = []
    for number, combination in enumerate(step.combinations()):
        try:
            provider, model = _matrix_keys(step, templates, combination)
        except TemplateError as exc:
            raise ConfigError(
                f"step '{step.id}' combination {number}: {exc.message}",
                location=loaded.doc.where(["steps", index, "matrix"]),
            ) from None
        entry_loc: list[str | int] | None = None
        if models is not None:
            provider, model = matrix_target(combination["model"])
            provider = provider or step.provider
            entry_loc = ["steps", index, "matrix", "model", models.index(combination["model"])]
        calls.append(
            _call(
                loaded,
                ["steps", index],
                key=step.id,
                sub=None,
                agent_name=step.agent,
                provider=provider,
                model=model,
                auth=step.auth,
                fallback=step.fallback,
                fast=step.fast,
                prompt=templates.prompt,
                output=step.output.format if step.output else "text",
                timeout=step.timeout or defaults.timeout,
                retries=_first(step.retries, defaults.retries),
                agents=agents,
                config=config,
                overrides=overrides,
                label=f"step '{step.id}' combination {number}",
                target_loc=entry_loc,
            )
        )
    return calls


def _matrix_keys(
    step: MatrixStep, templates: StepTemplates, combination: dict[str, Any]
) -> tuple[str | None, str | None]:
    """The step's `provider`/`model` for one combination: templates read `matrix.<name>`, and a
    `provider:model` value of `model` sets both."""
    rendered = {
        key: templates.targets[key].render({"matrix": combination}).strip() or None
        for key in templates.targets
    }
    provider = rendered.get("provider", step.provider)
    model = rendered.get("model", step.model)
    if "model" in templates.targets and model is not None and ":" in model:
        chosen, model = matrix_target(model)
        provider = chosen or provider
    return provider, model


def _first(*values: int | None) -> int:
    return next((v for v in values if v is not None), 0)


def _call(
    loaded: LoadedWorkflow,
    loc: list[str | int],
    *,
    key: str,
    sub: str | None,
    agent_name: str,
    provider: str | None,
    model: str | None,
    auth: AuthChoice | None,
    fallback: list[str] | None,
    prompt: CompiledTemplate,
    output: OutputFormat,
    timeout: float | None,
    retries: int,
    agents: WorkflowAgents,
    config: LoadedConfig,
    overrides: Overrides,
    label: str | None = None,
    target_loc: list[str | int] | None = None,
    fast: bool | None = None,
) -> AgentCall:
    doc = loaded.doc
    label = label or f"step '{key}'"
    try:
        agent = agents.find(agent_name)
    except ConfigError as exc:
        raise _relocated(exc, doc.where([*loc, "agent"]), label) from None
    own_provider = provider or agent.frontmatter.provider or config.config.default_provider
    chosen_provider = overrides.provider or provider
    switched = overrides.provider is not None and overrides.provider != own_provider
    chosen_model = overrides.model or (None if switched else model)
    try:
        target = resolve_target(
            agent,
            config,
            provider=chosen_provider,
            model=chosen_model,
            auth=auth,
        )
    except ConfigError as exc:
        key_name = exc.field if exc.field in ("provider", "model") else "agent"
        node_loc = [*loc, key_name] if doc.node([*loc, key_name])[0] is not None else loc
        if target_loc is not None and key_name != "agent":
            node_loc = target_loc
        raise _relocated(exc, doc.where(node_loc), label) from None
    # Fallback chain: --fallback, then the step's, then the agent's (unless the provider was switched).
    chain = (
        overrides.fallbacks or fallback or ([] if switched else agent.frontmatter.fallback or [])
    )
    target = dataclasses.replace(target, fallbacks=tuple(chain))
    schema = loaded.schemas.get(key)
    # Fast mode: --fast, then the step's `fast:`, then the agent's.
    wanted = overrides.fast or (fast if fast is not None else bool(agent.frontmatter.fast))
    refused = None
    if wanted:
        base_url = config.provider(target.provider).base_url
        refused = fast_refusal(target.provider, target.kind, base_url)
        if refused is None:  # the agent loop sends the frontmatter's tier with every request
            front = agent.frontmatter.model_copy(update={"service_tier": FAST_TIER})
            agent = agent.model_copy(update={"frontmatter": front})
    return AgentCall(
        key=key,
        sub=sub,
        agent=_asking_for(agent, output, schema),
        target=target,
        prompt=prompt,
        output=output,
        schema=schema,
        timeout=timeout,
        retries=retries,
        fast=wanted and refused is None,
        fast_refused=refused,
    )


def _relocated(exc: ConfigError, location: Location, prefix: str) -> ConfigError:
    if exc.location is not None:
        return exc
    return ConfigError(
        f"{prefix}: {exc.message}", location=location, field=exc.field, hint=exc.hint
    )


def _asking_for(agent: AgentSpec, output: OutputFormat, schema: dict[str, Any] | None) -> AgentSpec:
    """The agent asked for JSON (with the step's schema) when the step's output is json."""
    if output != "json":
        return agent
    front = agent.frontmatter.model_copy(update={"output_format": "json", "output_schema": schema})
    return agent.model_copy(update={"frontmatter": front})
