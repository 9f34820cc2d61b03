"""Shape errors of one step (which keys go together), pointing at the key's file:line."""

from __future__ import annotations

from dataclasses import dataclass

from rupu.errors import ConfigError
from rupu.yamldoc import YamlDoc


@dataclass(frozen=True, slots=True)
class StepCheck:
    """Builds the errors of step number `index` (id `step_id`) of a workflow file."""

    doc: YamlDoc
    index: int
    step_id: str

    def fail(self, key: str, message: str, hint: str | None = None) -> ConfigError:
        return self.fail_at([key], message, hint)

    def fail_at(
        self, loc: list[str | int], message: str, hint: str | None = None, *, prefixed: bool = True
    ) -> ConfigError:
        full: list[str | int] = ["steps", self.index, *loc]
        return ConfigError(
            f"step '{self.step_id}': {message}" if prefixed else message,
            location=self.doc.where(full),
            field=".".join(str(p) for p in full),
            hint=hint,
        )
