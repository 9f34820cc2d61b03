"""`agent` steps: one agent call, one per `for_each` item, or one per `parallel` entry."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from rupu.strict import StrictModel
from rupu.workflows.kinds.base import Duration, Output, StepBase, check_id
from rupu.workflows.kinds.checks import StepCheck

AgentShape = Literal["agent", "for_each", "parallel"]
AuthChoice = Literal["api-key", "sso", "adc"]


class ParallelStep(StrictModel):
    """One entry of a `parallel:` list: its own agent, prompt and overrides."""

    id: str
    agent: str
    prompt: str
    provider: str | None = None
    model: str | None = None
    auth: AuthChoice | None = None
    fallback: list[str] | None = None
    fast: bool | None = None
    output: Output | None = None
    timeout: Duration | None = None
    retries: int | None = Field(default=None, ge=0, le=10)

    @field_validator("id")
    @classmethod
    def _id_shape(cls, value: str) -> str:
        return check_id(value)


class AgentTargetKeys(StepBase):
    """The keys that say which agent runs where (shared with `matrix` steps)."""

    agent: str | None = None
    prompt: str | None = None
    max_parallel: int | None = Field(default=None, ge=1)
    provider: str | None = None
    model: str | None = None
    auth: AuthChoice | None = None
    fallback: list[str] | None = None
    fast: bool | None = None  # OpenAI's priority tier (rupu.routing.fast); beats the agent's
    output: Output | None = None


class AgentStep(AgentTargetKeys):
    kind: ClassVar[str] = "agent"

    for_each: str | list[Any] | None = None
    parallel: list[ParallelStep] | None = None

    @property
    def shape(self) -> AgentShape:
        if self.parallel is not None:
            return "parallel"
        if self.for_each is not None:
            return "for_each"
        return "agent"

    def uses_json(self) -> bool:
        """Whether any unit of the step answers in JSON (so `steps.<id>.json` is readable)."""
        outputs = [self.output, *(s.output for s in self.parallel or [])]
        return any(o is not None and o.format == "json" for o in outputs)


def check_agent(step: AgentStep, check: StepCheck) -> None:
    if step.parallel is not None:
        for key in ("agent", "prompt", "for_each"):
            if getattr(step, key) is not None:
                raise check.fail(
                    key,
                    f"a `parallel` step cannot also have `{key}`",
                    "give each parallel entry its own agent and prompt",
                )
        if not step.parallel:
            raise check.fail(
                "parallel", "`parallel` lists no entries", "add {id, agent, prompt} entries"
            )
        subs: set[str] = set()
        for sub_index, sub in enumerate(step.parallel):
            if sub.id in subs:
                raise check.fail_at(
                    ["parallel", sub_index, "id"],
                    f"duplicate parallel id '{sub.id}' in step '{step.id}'",
                    "give every parallel entry its own id",
                    prefixed=False,
                )
            subs.add(sub.id)
        return
    if step.agent is None and step.prompt is None:
        raise check.fail("for_each", "`for_each` needs `agent` and `prompt`")
    check_agent_call(step, check)
    if step.max_parallel is not None and step.for_each is None:
        raise check.fail(
            "max_parallel", "`max_parallel` applies only to for_each and parallel steps"
        )


def check_agent_call(step: AgentTargetKeys, check: StepCheck) -> None:
    if step.agent is None and step.prompt is not None:
        raise check.fail("prompt", "has a prompt but no `agent`", "add `agent: NAME`")
    if step.agent is not None and step.prompt is None:
        raise check.fail("agent", "has an agent but no `prompt`", "add `prompt: ...`")
    if step.agent is None:
        raise check.fail("id", "names no `agent`", "add `agent: NAME` and `prompt: ...`")
