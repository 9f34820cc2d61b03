"""The workflow file format: strict models for every struct, so an unknown or misspelt key is an error
that names the key, its file:line and the nearest valid one.

A step is a tagged union of kinds (`rupu.workflows.kinds`), told apart by the key that picks the
kind (`KIND_KEYS`); code that handles steps dispatches with `match` and `assert_never`. Which keys go
together within a kind is checked in the kind's module, where the error can point at the exact key.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Discriminator, Field, Tag, field_validator, model_validator

from rupu.strict import StrictModel
from rupu.workflows.kinds.agent import AgentStep, ParallelStep
from rupu.workflows.kinds.base import (
    DURATION_FORMS,
    STEP_ID,
    Approval,
    Budget,
    Duration,
    Output,
    OutputContract,
    OutputFormat,
    StepBase,
    output_format,
    parse_duration,
)
from rupu.workflows.kinds.gate import GateStep
from rupu.workflows.kinds.matrix import MatrixStep
from rupu.workflows.kinds.run import RunStep
from rupu.workflows.kinds.subworkflow import WorkflowStep

__all__ = [
    "DURATION_FORMS",
    "KINDS",
    "KIND_KEYS",
    "STEP_ID",
    "AgentStep",
    "Approval",
    "Budget",
    "Defaults",
    "Duration",
    "GateStep",
    "InputSpec",
    "LoopStep",
    "MatrixStep",
    "Output",
    "OutputContract",
    "OutputFormat",
    "ParallelStep",
    "RunStep",
    "Step",
    "StepBase",
    "Workflow",
    "WorkflowStep",
    "output_format",
    "parse_duration",
    "step_kind",
]

InputType = Literal["string", "int", "number", "bool", "list"]
INPUT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# The key that picks a step's kind, first match wins; a step with none of them is a gate.
KIND_KEYS: tuple[tuple[str, str], ...] = (
    ("loop", "loop"),
    ("workflow", "workflow"),
    ("matrix", "matrix"),
    ("run", "run"),
    ("parallel", "agent"),
    ("for_each", "agent"),
    ("agent", "agent"),
)


def step_kind(value: Any) -> str:
    """The kind of a step as written (a mapping) or as a model."""
    if isinstance(value, StepBase):
        return value.kind
    if isinstance(value, dict):
        return next((kind for key, kind in KIND_KEYS if key in value), "gate")
    return "agent"  # not a mapping: the agent model says what a step should be


class LoopStep(StepBase):
    """`loop` steps: `loop:` lists steps run again and again until `until:` holds, at most
    `max_iterations` times (`rupu.workflows.nesting` runs them). Defined here rather than in
    `kinds/` because its steps are `Step`s."""

    kind: ClassVar[str] = "loop"

    loop: list[Step]
    until: str
    max_iterations: int = Field(ge=1, le=1000)
    on_max: Literal["fail", "continue"] = "fail"


Step = Annotated[
    Annotated[AgentStep, Tag("agent")]
    | Annotated[RunStep, Tag("run")]
    | Annotated[MatrixStep, Tag("matrix")]
    | Annotated[GateStep, Tag("gate")]
    | Annotated[LoopStep, Tag("loop")]
    | Annotated[WorkflowStep, Tag("workflow")],
    Discriminator(step_kind),
]
"""Every kind of step; dispatch with `match step: case AgentStep(): ... case _: assert_never(step)`."""
LoopStep.model_rebuild()

KINDS: dict[str, type[StepBase]] = {
    "agent": AgentStep,
    "run": RunStep,
    "matrix": MatrixStep,
    "gate": GateStep,
    "loop": LoopStep,
    "workflow": WorkflowStep,
}


_TYPE_NAMES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "int": (int,),
    "number": (int, float),
    "bool": (bool,),
    "list": (list,),
}


def check_value(kind: InputType, value: Any, *, what: str) -> None:
    """Raises `ValueError` when a YAML value (default, enum entry) does not have the declared type."""
    allowed = _TYPE_NAMES[kind]
    is_bool = isinstance(value, bool)
    if not isinstance(value, allowed) or (is_bool and kind != "bool"):
        raise ValueError(f"{what} {value!r} is not a {kind}")


class InputSpec(StrictModel):
    type: InputType = "string"
    required: bool = False
    default: Any = None
    enum: list[Any] | None = None
    description: str | None = None

    @model_validator(mode="after")
    def _default_fits(self) -> InputSpec:
        if self.enum is not None:
            if not self.enum:
                raise ValueError("enum must list at least one value")
            for choice in self.enum:
                check_value(self.type, choice, what="enum value")
        if self.default is not None:
            check_value(self.type, self.default, what="default")
            if self.enum is not None and self.default not in self.enum:
                raise ValueError(f"default {self.default!r} is not one of the enum values")
        return self


class Defaults(StrictModel):
    continue_on_error: bool = False
    max_parallel: int | None = Field(default=None, ge=1)
    timeout: Duration | None = None
    retries: int = Field(default=0, ge=0, le=10)


class Workflow(StrictModel):
    name: str = Field(min_length=1)
    description: str | None = None
    inputs: dict[str, InputSpec] = Field(default_factory=dict)
    defaults: Defaults = Field(default_factory=Defaults)
    max_concurrency: int | None = Field(default=None, ge=1)
    budget: Budget | None = None
    outputs: dict[str, str] | None = None
    steps: list[Step] = Field(min_length=1)

    @field_validator("inputs")
    @classmethod
    def _input_names(cls, value: dict[str, InputSpec]) -> dict[str, InputSpec]:
        for name in value:
            if not INPUT_NAME.match(name):
                raise ValueError(
                    f"input name {name!r} must be an identifier (letters, digits, _), "
                    "so templates can use inputs.<name>"
                )
        return value
