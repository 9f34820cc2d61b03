"""Running the command of one `run` unit through the bash tool's permission gate, workspace,
scrubbed environment and redaction (`rupu.tools`)."""

from __future__ import annotations

import math
import shutil
import time

from rupu.tools.base import one_line
from rupu.tools.failure import ToolFailure
from rupu.tools.permissions import PermissionRequest
from rupu.tools.setup import ToolSetup, open_toolbox
from rupu.tools.shell import run_command, shell_argv
from rupu.transcripts import TranscriptWriter
from rupu.workflows.kinds.run import CommandOutcome, CommandSpec


class CommandRefused(Exception):
    """The command was not started (permission, cwd, shell); retrying cannot help."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


async def execute(
    spec: CommandSpec, setup: ToolSetup, *, label: str, transcript: TranscriptWriter | None = None
) -> CommandOutcome:
    """Runs the command of one `run` unit through the bash tool's gate, workspace and environment.
    Output is redacted of every known secret and capped like the bash tool's."""
    async with open_toolbox(setup, agent=label, patterns=["bash"]) as box:
        if box is None:  # cannot happen: the bash tool is always built in
            raise CommandRefused("the bash tool is not available")
        summary = f"run {one_line(box.redact(spec.command))}"
        verdict = await box.gate.check(
            PermissionRequest("the command", "command", summary, label), command=spec.command
        )
        if not verdict.allowed:
            raise CommandRefused(_refusal(box.gate.mode, box.gate.source))
        try:
            cwd = box.workspace.resolve(spec.cwd) if spec.cwd else box.workspace.root
        except ToolFailure as exc:
            raise CommandRefused(f"cwd: {exc.message}") from None
        if not cwd.is_dir():
            raise CommandRefused(f"cwd {spec.cwd!r} is not a directory in the workspace")
        argv = _argv(spec)
        settings = box.settings.bash
        started = time.monotonic()
        result = await run_command(
            argv,
            cwd=str(cwd),
            env={**box.scrubbed_env(), **spec.env},
            timeout=math.inf,  # the unit's `timeout` cancels it (and kills the group)
            limit=settings.output_limit,
            kill_after_bytes=settings.kill_after_bytes,
        )
        outcome = CommandOutcome(
            exit_code=result.exit_code,
            stdout=box.redact(result.stdout.text()),
            stderr=box.redact(result.stderr.text()),
            duration_ms=int((time.monotonic() - started) * 1000),
            timed_out=result.timed_out,
            flooded=result.flooded,
        )
        if transcript is not None:
            transcript.write(
                "command_run",
                argv=[box.redact(a) for a in argv],
                cwd=str(cwd),
                exit_code=outcome.exit_code,
                stdout=outcome.stdout,
                stderr=outcome.stderr,
                output_flood=outcome.flooded,
                duration_ms=outcome.duration_ms,
            )
        return outcome


def _refusal(mode: str, source: str) -> str:
    where = f"permission mode {mode} (from {source})"
    if mode == "readonly":
        return f"the command was not run: {where} denies commands; pass --mode bypass to run it"
    return (
        f"the command was not run: in {where} a workflow runs only commands matching a "
        "[tools.bash] allow prefix (and holding no ; & | $ ` < > ( ) \\ or newline); pass "
        "--mode bypass, or add its prefix to [tools.bash] allow"
    )


def _argv(spec: CommandSpec) -> list[str]:
    if spec.shell is None:
        return shell_argv(spec.command)
    found = shutil.which(spec.shell)
    if found is None:
        raise CommandRefused(f"shell {spec.shell!r} was not found on PATH")
    return [found, "-c", spec.command]
