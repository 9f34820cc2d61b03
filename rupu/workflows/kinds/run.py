"""`run` steps: a shell command in the workspace, under the bash tool's permission mode and
confinement; its `stdout`, `stderr` and `exit_code` are the step's results."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from rupu.workflows.kinds.base import StepBase
from rupu.workflows.kinds.checks import StepCheck


class RunStep(StepBase):
    kind: ClassVar[str] = "run"

    run: str = Field(min_length=1)
    shell: str | None = None
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None
    allow_failure: bool = False


def check_run(step: RunStep, check: StepCheck) -> None:
    if not step.run.strip():
        raise check.fail(
            "run", "`run` is an empty command", "write the command, e.g. `run: pytest -q`"
        )
