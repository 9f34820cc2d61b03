"""`matrix` steps: one agent call per combination of named lists (`matrix: {model: [...], style:
[...]}`), each binding `matrix.<name>`; `provider:model` entries of a list named `model` pick the
unit's provider and model."""

from __future__ import annotations

import itertools
from typing import Any, ClassVar

from pydantic import Field, field_validator

from rupu.workflows.kinds.agent import AgentTargetKeys, check_agent_call
from rupu.workflows.kinds.checks import StepCheck

MATRIX_NAME_FORM = "letters, digits and _, starting with a letter or _"
_MAX_COMBINATIONS = 10_000


class MatrixStep(AgentTargetKeys):
    kind: ClassVar[str] = "matrix"

    matrix: dict[str, list[Any]] = Field(min_length=1)

    @field_validator("matrix")
    @classmethod
    def _names_and_lists(cls, value: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for name, entries in value.items():
            if not name.isidentifier():
                raise ValueError(f"matrix name {name!r} must be an identifier ({MATRIX_NAME_FORM})")
            if not entries:
                raise ValueError(f"matrix list {name!r} is empty")
        return value

    def combinations(self) -> list[dict[str, Any]]:
        """Every combination, the first list varying slowest (declared order)."""
        names = list(self.matrix)
        return [
            dict(zip(names, values, strict=True))
            for values in itertools.product(*(self.matrix[n] for n in names))
        ]

    def size(self) -> int:
        total = 1
        for entries in self.matrix.values():
            total *= len(entries)
        return total


def check_matrix(step: MatrixStep, check: StepCheck) -> None:
    check_agent_call(step, check)
    for number, entry in enumerate(step.matrix.get("model", [])):
        if not isinstance(entry, str) or not entry.strip():
            raise check.fail_at(
                ["matrix", "model", number],
                f"matrix model entry {entry!r} is not a model name",
                "write `provider:model` (e.g. openai:gpt-5) or a model name",
            )
    if step.size() > _MAX_COMBINATIONS:
        raise check.fail(
            "matrix",
            f"the matrix has {step.size()} combinations (more than {_MAX_COMBINATIONS})",
            "shorten its lists",
        )
