"""The agent calls a step makes: for every agent step, `parallel` entry and matrix combination, the
agent is found and its provider, model and auth mode resolved, with command-line overrides
(`Overrides`) beating the step's, which beat the agent's; fast mode and the JSON contract are
settled here too. Any problem is a `ConfigError` at the step's file:line.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, assert_never

from rupu.agents.spec import AgentSpec
from rupu.auth.adc import AuthChoice
from rupu.config import LoadedConfig
from rupu.errors import ConfigError, Location
from rupu.routing.fast import FAST_TIER, fast_refusal
from rupu.routing.target import RunTarget, resolve_target
from rupu.workflows.loader import LoadedWorkflow
from rupu.workflows.lookup import WorkflowAgents
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


def step_calls(
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
    return [
        _whole_step_call(
            loaded, index, step, agents, config, overrides, provider=step.provider, model=step.model
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
    templates = loaded.templates[step.id]
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
            _whole_step_call(
                loaded,
                index,
                step,
                agents,
                config,
                overrides,
                provider=provider,
                model=model,
                label=f"step '{step.id}' combination {number}",
                target_loc=entry_loc,
            )
        )
    return calls


def _whole_step_call(
    loaded: LoadedWorkflow,
    index: int,
    step: AgentStep | MatrixStep,
    agents: WorkflowAgents,
    config: LoadedConfig,
    overrides: Overrides,
    *,
    provider: str | None,
    model: str | None,
    label: str | None = None,
    target_loc: list[str | int] | None = None,
) -> AgentCall:
    """The call of a step's own agent and prompt (not a `parallel` sub-agent's) on this route."""
    templates = loaded.templates[step.id]
    assert step.agent is not None and templates.prompt is not None  # checked at load
    return _call(
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
        timeout=step.timeout or loaded.workflow.defaults.timeout,
        retries=_first(step.retries, loaded.workflow.defaults.retries),
        agents=agents,
        config=config,
        overrides=overrides,
        label=label,
        target_loc=target_loc,
    )


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
