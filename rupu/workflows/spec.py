"""The workflow file format: strict models for every struct, so an unknown or misspelt key is an error
that names the key, its file:line and the nearest valid one.

Shape rules (which keys go together) are checked in `rupu.workflows.checks`, where the error can point
at the exact key that does not fit.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from rupu.strict import StrictModel

InputType = Literal["string", "int", "number", "bool", "list"]
OutputFormat = Literal["text", "json"]
STEP_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
INPUT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
DURATION_FORMS = "seconds as a number (90) or a duration string ('500ms', '30s', '5m', '1h')"


def parse_duration(value: Any) -> Any:
    """Seconds as a float from `90`, `1.5`, `"30s"`, `"5m"`, `"1h"`, `"500ms"`."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"expected {DURATION_FORMS}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    else:
        raise ValueError(f"expected {DURATION_FORMS}")
    if seconds <= 0:
        raise ValueError(f"must be more than zero; expected {DURATION_FORMS}")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]


def _listify(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


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


class OutputContract(StrictModel):
    """`output: {format: json, schema: {...} | "path/to/schema.json"}`."""

    format: OutputFormat = "json"
    json_schema: dict[str, Any] | str | None = Field(default=None, alias="schema")


def _output_shorthand(value: Any) -> Any:
    if isinstance(value, str):
        if value not in ("text", "json"):
            raise ValueError("output must be 'text', 'json' or {format: json, schema: ...}")
        return {"format": value}
    return value


Output = Annotated[OutputContract, BeforeValidator(_output_shorthand)]


class Budget(StrictModel):
    """`budget: {max_usd, max_tokens}`: a call that could take the spend past either is not sent."""

    max_usd: float | None = Field(default=None, gt=0)
    max_tokens: int | None = Field(default=None, ge=1)


class Approval(StrictModel):
    required: bool = True
    prompt: str | None = None


class ParallelStep(StrictModel):
    """One entry of a `parallel:` list: its own agent, prompt and overrides."""

    id: str
    agent: str
    prompt: str
    provider: str | None = None
    model: str | None = None
    auth: Literal["api-key", "sso"] | None = None
    fallback: list[str] | None = None
    output: Output | None = None
    timeout: Duration | None = None
    retries: int | None = Field(default=None, ge=0, le=10)

    @field_validator("id")
    @classmethod
    def _id_shape(cls, value: str) -> str:
        return _check_id(value)


class Step(StrictModel):
    id: str
    agent: str | None = None
    prompt: str | None = None
    depends_on: Annotated[list[str], BeforeValidator(_listify)] = Field(default_factory=list)
    when: str | bool | None = None
    for_each: str | list[Any] | None = None
    parallel: list[ParallelStep] | None = None
    max_parallel: int | None = Field(default=None, ge=1)
    continue_on_error: bool | None = None
    timeout: Duration | None = None
    retries: int | None = Field(default=None, ge=0, le=10)
    provider: str | None = None
    model: str | None = None
    auth: Literal["api-key", "sso"] | None = None
    fallback: list[str] | None = None
    output: Output | None = None
    approval: Approval | None = None
    budget: Budget | None = None
    cache: bool | None = None

    @field_validator("id")
    @classmethod
    def _id_shape(cls, value: str) -> str:
        return _check_id(value)

    @property
    def kind(self) -> Literal["agent", "for_each", "parallel", "gate"]:
        if self.parallel is not None:
            return "parallel"
        if self.for_each is not None:
            return "for_each"
        if self.agent is not None:
            return "agent"
        return "gate"


class Workflow(StrictModel):
    name: str = Field(min_length=1)
    description: str | None = None
    inputs: dict[str, InputSpec] = Field(default_factory=dict)
    defaults: Defaults = Field(default_factory=Defaults)
    max_concurrency: int | None = Field(default=None, ge=1)
    budget: Budget | None = None
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


def _check_id(value: str) -> str:
    if not STEP_ID.match(value):
        raise ValueError(
            f"step id {value!r} must start with a letter and hold only letters, digits, '_' or '-'"
        )
    return value


def output_format(output: OutputContract | None) -> OutputFormat:
    return "text" if output is None else output.format
