"""What every step kind shares: the common keys (`id`, `depends_on`, `when`, `continue_on_error`,
`timeout`, `retries`, `approval`, `budget`, `cache`) and the value types they and the kinds use."""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BeforeValidator, Field, field_validator

from rupu.strict import StrictModel

OutputFormat = Literal["text", "json"]
STEP_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
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


def listify(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def check_id(value: str) -> str:
    if not STEP_ID.match(value):
        raise ValueError(
            f"step id {value!r} must start with a letter and hold only letters, digits, '_' or '-'"
        )
    return value


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


class Approval(StrictModel):
    required: bool = True
    prompt: str | None = None


class Budget(StrictModel):
    """`budget: {max_usd, max_tokens}` on a workflow or a step (enforced by the spend guard)."""

    max_usd: float | None = Field(default=None, gt=0)
    max_tokens: int | None = Field(default=None, ge=1)


class StepBase(StrictModel):
    """The keys every kind of step has. `kind` names the kind in errors, records and `show`."""

    kind: ClassVar[str]

    id: str
    depends_on: Annotated[list[str], BeforeValidator(listify)] = Field(default_factory=list)
    when: str | bool | None = None
    continue_on_error: bool | None = None
    timeout: Duration | None = None
    retries: int | None = Field(default=None, ge=0, le=10)
    approval: Approval | None = None
    budget: Budget | None = None
    cache: bool | None = None

    @field_validator("id")
    @classmethod
    def _id_shape(cls, value: str) -> str:
        return check_id(value)

    @classmethod
    def step_keys(cls) -> list[str]:
        """The keys a step of this kind may have, as users write them."""
        return [f.alias or name for name, f in cls.model_fields.items()]

    @classmethod
    def misplaced(cls, key: str) -> tuple[str, str | None]:
        """The error (message, hint) for `key`, a key of another kind, on a step of this kind."""
        return (
            f"`{key}` does not apply to {cls.kind} steps",
            f"{cls.kind} steps take: {', '.join(sorted(cls.step_keys()))}",
        )

    @property
    def shape(self) -> str:
        """What the step records as its `kind` (an agent step says for_each or parallel)."""
        return self.kind


def output_format(output: OutputContract | None) -> OutputFormat:
    return "text" if output is None else output.format
