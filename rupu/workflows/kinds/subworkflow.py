"""`workflow` steps: call another workflow, by name or by a path relative to the calling file, with
`inputs:` (templates over the caller's inputs and steps). The called workflow's declared `outputs:`
are read as `steps.<id>.outputs.<name>`.

This module holds the step's keys and its load-time checks; finding the called file and refusing
recursion is `rupu.workflows.calls` (it needs the workflow lookup), running it is
`rupu.workflows.nesting`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from rupu.workflows.kinds.base import StepBase
from rupu.workflows.kinds.checks import StepCheck


class WorkflowStep(StepBase):
    kind: ClassVar[str] = "workflow"

    workflow: str = Field(min_length=1)
    inputs: dict[str, Any] = Field(default_factory=dict)


def check_workflow_step(step: WorkflowStep, check: StepCheck) -> None:
    if not step.workflow.strip():
        raise check.fail(
            "workflow", "`workflow` is empty", "name a workflow, or give a path to its .yaml file"
        )
    for key in ("timeout", "retries", "cache"):
        if getattr(step, key) is not None:
            raise check.fail(
                key,
                f"`{key}` does not apply to a workflow step",
                "set it on the steps of the called workflow",
            )
