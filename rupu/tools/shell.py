"""The `bash` tool: one shell command in the workspace, in its own process group.

The command gets the scrubbed environment (no credentials), no stdin, and a timeout; when it runs out
(or the command ends, leaving background jobs behind) the whole process group is killed, so nothing
the model started outlives the call. Output is drained continuously but only the first and last part
of each stream is kept, so a command printing a gigabyte costs bounded memory.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from typing import Any

from rupu.tools.base import BuiltinTool, ToolContext, schema
from rupu.tools.failure import ToolFailure

KILL_GRACE_SECONDS = 1.0
DRAIN_GRACE_SECONDS = 2.0
READ_CHUNK = 65536
PARTIAL_LIMIT = 512
_KEY_END = re.compile(r"-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----")
_BASE64_LINES = re.compile(r"\s*(?:[A-Za-z0-9+/=]+\r?\n)*")


class CappedBuffer:
    """Keeps the first `head` and the last `tail` bytes written, and counts the rest."""

    __slots__ = ("_head", "_tail", "head_limit", "tail_limit", "total")

    def __init__(self, limit: int) -> None:
        self.head_limit = limit // 2
        self.tail_limit = limit - self.head_limit
        self._head = bytearray()
        self._tail = bytearray()
        self.total = 0

    def write(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.head_limit - len(self._head)
        if room > 0:
            self._head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            self._tail += chunk
            if len(self._tail) > self.tail_limit:
                del self._tail[: len(self._tail) - self.tail_limit]

    def text(self) -> str:
        kept = len(self._head) + len(self._tail)
        head = self._head.decode("utf-8", "replace")
        if kept >= self.total:
            return head + self._tail.decode("utf-8", "replace")
        head, tail = cut_cleanly(head, self._tail.decode("utf-8", "replace"))
        omitted = self.total - len(head.encode()) - len(tail.encode())
        marker = f"\n[rupu: {omitted} bytes of output omitted here]\n"
        return head + marker + tail


def cut_cleanly(head: str, tail: str) -> tuple[str, str]:
    """The kept start and end of a stream without the pieces of a word or key cut in two where
    output was left out: such a piece matches neither the key's value nor its shape, so redaction
    could not mask it. A private key whose start was left out goes up to its END line."""
    end = len(head)
    while end > 0 and len(head) - end < PARTIAL_LIMIT and not head[end - 1].isspace():
        end -= 1
    start = 0
    while start < len(tail) and start < PARTIAL_LIMIT and not tail[start].isspace():
        start += 1
    tail = tail[start:]
    key_end = _KEY_END.search(tail)
    if key_end is not None and _BASE64_LINES.fullmatch(tail[: key_end.start()]):
        tail = tail[key_end.end() :]
    return head[:end], tail


def shell_argv(command: str) -> list[str]:
    return [shutil.which("bash") or "/bin/sh", "-c", command]


def kill_group(pgid: int, sig: int = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


@dataclass(slots=True)
class CommandResult:
    exit_code: int | None
    stdout: CappedBuffer
    stderr: CappedBuffer
    timed_out: bool = False
    flooded: bool = False


async def run_command(
    argv: list[str],
    *,
    cwd: str,
    env: dict[str, str],
    timeout: float,  # noqa: ASYNC109 - the deadline is the command's, not this call's
    limit: int,
    kill_after_bytes: int,
) -> CommandResult:
    """Runs `argv` in a new process group. `exit_code` is None when the command was killed (it ran
    out of time, or printed more than `kill_after_bytes`)."""
    import anyio
    from anyio.abc import ByteReceiveStream

    result = CommandResult(None, CappedBuffer(limit), CappedBuffer(limit))

    async def drain(stream: ByteReceiveStream | None, buffer: CappedBuffer) -> None:
        if stream is None:
            return
        try:
            while True:
                buffer.write(await stream.receive(READ_CHUNK))
                if buffer.total > kill_after_bytes and not result.flooded:
                    result.flooded = True
                    kill_group(process.pid)
        except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
            return

    # Shielded: a cancel landing mid-spawn would leave the new group running with nobody to kill it.
    with anyio.CancelScope(shield=True):
        process = await anyio.open_process(
            argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, start_new_session=True
        )
    out, err = result.stdout, result.stderr
    timed_out = False
    try:
        async with anyio.create_task_group() as readers:
            readers.start_soon(drain, process.stdout, out)
            readers.start_soon(drain, process.stderr, err)
            with anyio.move_on_after(timeout) as waited:
                await process.wait()
            if waited.cancelled_caught:
                timed_out = True
                kill_group(process.pid, signal.SIGTERM)
                with anyio.move_on_after(KILL_GRACE_SECONDS):
                    await process.wait()
            kill_group(process.pid)
            # A child that left the group could hold the pipes open forever.
            readers.cancel_scope.deadline = anyio.current_time() + DRAIN_GRACE_SECONDS
    finally:
        kill_group(process.pid)
        with anyio.CancelScope(shield=True):
            await process.aclose()
    result.timed_out = timed_out
    result.exit_code = None if timed_out or result.flooded else process.returncode
    return result


async def bash(args: dict[str, Any], ctx: ToolContext) -> str:
    settings = ctx.settings.bash
    command = str(args["command"])
    timeout = float(args.get("timeout_secs") or settings.timeout_secs)
    timeout = min(max(timeout, 1.0), settings.max_timeout_secs)
    argv = shell_argv(command)
    started = time.monotonic()
    result = await run_command(
        argv,
        cwd=str(ctx.workspace.root),
        env=dict(ctx.scrubbed_env),
        timeout=timeout,
        limit=settings.output_limit,
        kill_after_bytes=settings.kill_after_bytes,
    )
    code, out, err, timed_out = result.exit_code, result.stdout, result.stderr, result.timed_out
    ctx.record(
        "command_run",
        call_id=ctx.call_id,
        argv=argv,
        cwd=str(ctx.workspace.root),
        exit_code=code,
        stdout_bytes=out.total,
        stderr_bytes=err.total,
        timed_out=timed_out,
        output_flood=result.flooded,
        duration_ms=int((time.monotonic() - started) * 1000),
    )
    sections = []
    if out.total:
        sections.append("[stdout]\n" + out.text().rstrip("\n"))
    if err.total:
        sections.append("[stderr]\n" + err.text().rstrip("\n"))
    body = "\n".join(sections) if sections else "(no output)"
    if timed_out:
        raise ToolFailure(
            f"the command timed out after {timeout:g}s and its process group was killed; "
            f"output so far:\n{body}",
            code="timeout",
            hint="run long jobs with a larger timeout_secs, or in smaller steps",
        )
    if result.flooded:
        raise ToolFailure(
            f"the command printed more than {settings.kill_after_bytes} bytes and was killed; "
            f"start and end of its output:\n{body}",
            code="output_limit",
            hint="redirect big output to a file and read parts of it, or filter it (grep, head)",
        )
    return f"exit code {code}\n{body}"


BASH = BuiltinTool(
    name="bash",
    description=(
        "Run a shell command (bash -c) in the workspace root. No stdin; credentials are removed "
        "from the environment. Background processes are killed when the command ends. Output "
        "shows the exit code, then stdout and stderr (long output keeps its start and end)."
    ),
    parameters=schema(
        {
            "command": {"type": "string", "description": "The command line to run."},
            "timeout_secs": {
                "type": "number",
                "minimum": 1,
                "description": "Stop the command after this many seconds (default from config).",
            },
        },
        ["command"],
    ),
    kind="command",
    handler=bash,
    summary_key="command",
)
