"""`run` steps: a shell command in the workspace, under the bash tool's permission mode, confinement
and scrubbed environment; its `stdout`, `stderr` and `exit_code` are the step's results.

The command passes the same gate as the bash tool's commands: `bypass` runs it, `readonly` refuses
it, and `ask` (workflows never prompt) runs it only when it matches a `[tools.bash] allow` prefix.
It runs in its own process group, without stdin, with rupu's environment minus every credential
plus the step's `env`, in the workspace root or a `cwd` inside it. A project's workflow with a `run`
step needs the project's trust (`command_findings`). `run_command.execute` runs it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import ClassVar

from pydantic import Field

from rupu.agents.trust_gate import Finding, in_project
from rupu.errors import Location
from rupu.paths import Paths
from rupu.tools.base import one_line
from rupu.workflows.kinds.base import StepBase
from rupu.workflows.kinds.checks import StepCheck
from rupu.yamldoc import YamlDoc


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
    for name in step.env:
        if not name or "=" in name or "\0" in name:
            raise check.fail_at(["env", name], f"`env` name {name!r} is not a variable name")


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """What one `run` unit executes, its templates rendered (plain data)."""

    command: str
    shell: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None
    allow_failure: bool = False

    def material(self) -> list[object]:
        """What the unit's result depends on (for resume and the step cache)."""
        return ["run", self.command, self.shell, sorted(self.env.items()), self.cwd]


@dataclass(frozen=True, slots=True)
class CommandCall:
    """What one `run` unit executes (plain data, like an agent unit's `AgentCall`)."""

    key: str
    spec: CommandSpec
    timeout: float | None
    retries: int
    sub: str | None = None  # never set: a run step has one unit

    def material(self) -> list[object]:
        return self.spec.material()


@dataclass(slots=True)
class CommandOutcome:
    exit_code: int | None
    stdout: str
    stderr: str
    duration_ms: int
    timed_out: bool = False
    flooded: bool = False


def result_of(outcome: CommandOutcome) -> dict[str, object]:
    """What templates read as `steps.<id>.stdout`, `.stderr` and `.exit_code`."""
    return {"stdout": outcome.stdout, "stderr": outcome.stderr, "exit_code": outcome.exit_code}


def failure_of(outcome: CommandOutcome, *, allow_failure: bool) -> str | None:
    """Why the unit failed, or None: a non-zero exit fails it unless `allow_failure`."""
    if outcome.flooded:
        return "the command printed too much output and was killed ([tools.bash] kill_after_bytes)"
    if outcome.exit_code is None:
        return "the command was killed"
    if outcome.exit_code == 0 or allow_failure:
        return None
    tail = outcome.stderr.strip().splitlines()[-1:] or outcome.stdout.strip().splitlines()[-1:]
    last = f": {one_line(tail[0], 160)}" if tail else ""
    return f"the command exited with code {outcome.exit_code}{last}"


def command_findings(
    steps: Iterable[tuple[int, StepBase]], doc: YamlDoc, paths: Paths
) -> list[Finding]:
    """A project workflow's `run` steps run programs: each needs the project's trust."""
    if not in_project(paths, doc.path):
        return []
    return [
        Finding(
            doc.path,
            Location(doc.shown, doc.line(["steps", index, "run"])),
            f"workflow step '{step.id}' runs a command (`run: {one_line(step.run, 60)}`)",
            key=f"steps.{index}.run",
        )
        for index, step in steps
        if isinstance(step, RunStep)
    ]
