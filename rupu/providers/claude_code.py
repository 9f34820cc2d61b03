"""`claude-code`: the locally installed `claude` CLI as a provider (no API key; the CLI uses its own
login).

Each turn runs `claude -p --output-format stream-json --verbose --include-partial-messages --model M
[--max-turns N] [--append-system-prompt-file F] [--allowedTools T...]` in its own process group. The
prompt goes to stdin and the agent's system prompt to a private 0600 file, so neither ever appears in
the process arguments. The CLI runs its own agent loop and tools; rupu sees one turn of text, reasoning
and tool notes (see `claude_code_stream`). After `timeout_secs` (default 3600) the whole process
group is terminated, then killed. Runs are not retried: the CLI's tools may already have acted.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from rupu.config import ProviderConfig
from rupu.errors import ConfigError, LimitReached, ProviderError
from rupu.messages import Message, ModelRequest, StreamEvent, TextPart, ToolResultPart
from rupu.providers.base import ProviderSetup
from rupu.providers.claude_code_stream import ClaudeCodeDecoder

if TYPE_CHECKING:
    from anyio.abc import Process

DEFAULT_COMMAND = "claude"
DEFAULT_TIMEOUT_SECS = 3600.0
KILL_GRACE_SECS = 2.0
MAX_LINE_BYTES = 64 * 1024 * 1024
STDERR_TAIL_BYTES = 2000


def find_command(config: ProviderConfig) -> list[str] | None:
    """The command line to start the CLI (`command` may be a path, a name on PATH, or a list such as
    `["npx", "@anthropic-ai/claude-code"]`), or None when the executable is not found."""
    command = config.command or DEFAULT_COMMAND
    argv = [command] if isinstance(command, str) else list(command)
    if not argv:
        return None
    found = shutil.which(argv[0])
    return [found, *argv[1:]] if found else None


def cli_arguments(
    command: list[str], config: ProviderConfig, model: str, system_file: Path | None
) -> list[str]:
    args = [*command, "-p", "--output-format", "stream-json", "--verbose"]
    args += ["--include-partial-messages", "--model", model]
    if config.max_turns:
        args += ["--max-turns", str(config.max_turns)]
    if system_file is not None:
        args += ["--append-system-prompt-file", str(system_file)]
    if config.allowed_tools:
        args += ["--allowedTools", *config.allowed_tools]  # variadic: must stay last
    return args


def prompt_text(messages: list[Message]) -> str:
    """The conversation as one prompt: the last user message, preceded by earlier turns if any."""
    rendered: list[tuple[str, str]] = []
    for message in messages:
        parts = []
        for part in message.parts:
            if isinstance(part, TextPart) and part.text:
                parts.append(part.text)
            elif isinstance(part, ToolResultPart):
                parts.append(f"[result of {part.name}]\n{part.content}")
        if parts:
            rendered.append(("User" if message.role == "user" else "Assistant", "\n".join(parts)))
    if not rendered:
        return ""
    if len(rendered) == 1:
        return rendered[0][1]
    history = "\n\n".join(f"{who}: {text}" for who, text in rendered[:-1])
    return f"<conversation_so_far>\n{history}\n</conversation_so_far>\n\n{rendered[-1][1]}"


class ClaudeCodeProvider:
    def __init__(self, setup: ProviderSetup) -> None:
        self.name = setup.name
        self._config = setup.config
        self._timeout = setup.config.timeout_secs or DEFAULT_TIMEOUT_SECS

    def model_for(self, requested: str) -> str:
        """`default` and `complex` name the configured `model` and `model_complex`."""
        if requested == "complex" and self._config.model_complex:
            return self._config.model_complex
        if requested == "default" and self._config.default_model:
            return self._config.default_model
        return requested

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        import anyio
        from anyio.streams.buffered import BufferedByteReceiveStream

        command = find_command(self._config)
        if command is None:
            shown = self._config.command or DEFAULT_COMMAND
            raise ConfigError(
                f"the claude CLI was not found (command {shown!r})",
                field=f"providers.{self.name}.command",
                hint="install Claude Code (npm install -g @anthropic-ai/claude-code) or set "
                f"command = '/path/to/claude' in [providers.{self.name}]",
            )
        model = self.model_for(request.model)
        workdir, system_file = await anyio.to_thread.run_sync(_write_system, request.system)
        stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in finally
        process: Process | None = None
        try:
            args = cli_arguments(command, self._config, model, system_file)
            with anyio.CancelScope(shield=True):  # a cancel mid-spawn would orphan the CLI
                spawned = await anyio.open_process(args, stderr=stderr, start_new_session=True)
            process = spawned
            assert process.stdin is not None and process.stdout is not None
            try:
                await process.stdin.send(prompt_text(request.messages).encode())
                await process.stdin.aclose()
            except (anyio.BrokenResourceError, OSError):
                pass  # the CLI exited before reading its prompt; its exit status says why
            lines = BufferedByteReceiveStream(process.stdout)
            decoder = ClaudeCodeDecoder(self.name, model)
            deadline = anyio.current_time() + self._timeout
            while True:
                line = b""
                with anyio.move_on_after(max(deadline - anyio.current_time(), 0)):
                    line = await _read_line(lines)
                    if line == b"":
                        break
                if line == b"":
                    await _stop(process)
                    raise self._timed_out(model)
                for event in decoder.feed(line):
                    yield event
            code = await process.wait()
            if not decoder.finished:
                raise self._exited(model, code, await _tail(stderr))
        finally:
            with anyio.CancelScope(shield=True):
                if process is not None and process.returncode is None:
                    await _stop(process)
                stderr.close()
                await anyio.to_thread.run_sync(shutil.rmtree, workdir, True)

    def _timed_out(self, model: str) -> LimitReached:
        return LimitReached(
            "timeout_secs",
            f"{self.name} (timeout): the claude CLI did not finish within timeout_secs "
            f"({self._timeout:g} s) with {model}; its process group was stopped",
            provider=self.name,
            hint=f"raise timeout_secs in [providers.{self.name}], or lower max_turns",
        )

    def _exited(self, model: str, code: int, stderr: str) -> ProviderError:
        what = f"exited with status {code}" if code else "ended without a result"
        return ProviderError(
            self.name,
            f"the claude CLI {what}: {stderr or '(no error output)'}",
            model=model,
            error_type="cli_failed",
            hint="run the same command in a terminal (`claude -p`) to see the problem; check its "
            "login, version (it needs --output-format stream-json) and the model name",
        )

    async def aclose(self) -> None:
        return None


async def _read_line(lines: Any) -> bytes:
    """The next line (with its newline), the last unterminated line at EOF, or b'' at EOF."""
    import anyio

    try:
        line: bytes = await lines.receive_until(b"\n", MAX_LINE_BYTES)
        return line + b"\n"
    except anyio.IncompleteRead:
        rest: bytes = bytes(lines.buffer)
        return rest
    except anyio.EndOfStream:
        return b""


async def _stop(process: Process) -> None:
    """SIGTERM to the whole process group, SIGKILL after a grace period."""
    import anyio

    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except (ProcessLookupError, PermissionError):
            break
        with anyio.move_on_after(KILL_GRACE_SECS):
            await process.wait()
            break
    if process.returncode is None:
        with anyio.move_on_after(KILL_GRACE_SECS):
            await process.wait()


def _write_system(system: str) -> tuple[Path, Path | None]:
    workdir = Path(tempfile.mkdtemp(prefix="rupu-claude-"))
    if not system:
        return workdir, None
    path = workdir / "system-prompt.md"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(system)
    return workdir, path


async def _tail(stderr: IO[bytes]) -> str:
    import anyio

    def read() -> str:
        stderr.seek(0, os.SEEK_END)
        size = stderr.tell()
        stderr.seek(max(size - STDERR_TAIL_BYTES, 0))
        return " ".join(stderr.read().decode("utf-8", "replace").split())

    return await anyio.to_thread.run_sync(read)


def create(setup: ProviderSetup) -> ClaudeCodeProvider:
    return ClaudeCodeProvider(setup)
