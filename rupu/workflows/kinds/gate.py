"""Approval-only steps (gates): no work of their own; they park the run until
`rupu workflow approve|reject`."""

from __future__ import annotations

from typing import ClassVar

from rupu.workflows.kinds.base import StepBase
from rupu.workflows.kinds.checks import StepCheck

# Keys of other kinds that mean the author forgot the key that picks the kind.
_NEEDS_AGENT = {
    "prompt": ("has a prompt but no `agent`", "add `agent: NAME`"),
    "for_each": ("`for_each` needs `agent` and `prompt`", None),
    "max_parallel": ("`max_parallel` applies only to for_each and parallel steps", None),
}


class GateStep(StepBase):
    kind: ClassVar[str] = "gate"

    @classmethod
    def misplaced(cls, key: str) -> tuple[str, str | None]:
        if key in _NEEDS_AGENT:
            return _NEEDS_AGENT[key]
        return f"`{key}` applies only to steps that run an agent", None


def check_gate(step: GateStep, check: StepCheck) -> None:
    if step.approval is None:
        raise check.fail(
            "id",
            "does nothing",
            "give it `agent` + `prompt`, a `parallel` list, a `run` command, or an `approval` gate",
        )
    for key in ("timeout", "retries", "budget", "cache"):
        if getattr(step, key) is not None:
            raise check.fail(key, f"`{key}` applies only to steps that run an agent or a command")
