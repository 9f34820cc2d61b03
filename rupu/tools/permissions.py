"""Permission modes and the gate every write or command passes.

Modes: `ask` (the default: a person approves each write or command on a terminal; without a terminal
the call is denied at once), `bypass` (everything allowed) and `readonly` (writes and commands
denied). Reads are never asked about. Precedence: CLI `--mode` > workflow step > agent
`permissionMode` > config `permission_mode` > `ask`.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Literal, Protocol, TextIO, get_args

from rupu.config import PermissionMode
from rupu.errors import ConfigError, Interrupted
from rupu.tools.base import ToolKind

Decision = Literal["allow", "deny", "allow_all", "stop"]
MODES: tuple[str, ...] = get_args(PermissionMode)
SHELL_METACHARACTERS = set(";&|`$<>()\n\r\\")


def resolve_mode(
    *,
    cli: str | None = None,
    step: str | None = None,
    agent: str | None = None,
    config: str | None = None,
) -> tuple[PermissionMode, str]:
    """(mode, where it came from). Unknown values are rejected with the valid ones."""
    for source, value in (("--mode", cli), ("step", step), ("agent", agent), ("config", config)):
        if value is None:
            continue
        if value not in MODES:
            raise ConfigError(
                f"unknown permission mode {value!r} (from {source})",
                field="permission_mode",
                hint=f"use one of {', '.join(MODES)}",
            )
        return value, source  # type: ignore[return-value]
    return "ask", "default"


@dataclass(frozen=True, slots=True)
class PermissionRequest:
    tool: str
    kind: ToolKind
    summary: str
    call_id: str


class Decider(Protocol):
    """Asks a person about one call (only in `ask` mode)."""

    async def decide(self, request: PermissionRequest) -> Decision: ...


class DenyDecider:
    """No one to ask (no terminal, CI, a workflow in the background): deny at once."""

    interactive = False

    async def decide(self, request: PermissionRequest) -> Decision:
        return "deny"


@dataclass(slots=True)
class TerminalDecider:
    """Prompts on stderr and reads one answer line from stdin (both must be a terminal)."""

    stdin: TextIO = field(default_factory=lambda: sys.stdin)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    interactive: bool = True

    @classmethod
    def available(cls) -> bool:
        try:
            return sys.stdin.isatty() and sys.stderr.isatty()
        except (AttributeError, ValueError):
            return False

    async def decide(self, request: PermissionRequest) -> Decision:
        import anyio

        action = "run" if request.kind == "command" else "use"
        for _ in range(3):
            self.stderr.write(
                f"\nrupu: the agent wants to {action}: {request.summary}\n"
                "allow? [y]es / [n]o / [a]lways for this run / [s]top the run: "
            )
            self.stderr.flush()
            line = await anyio.to_thread.run_sync(self.stdin.readline, abandon_on_cancel=True)
            if not line:
                return "deny"
            answer = line.strip().lower()
            if answer in ("y", "yes"):
                return "allow"
            if answer in ("n", "no", ""):
                return "deny"
            if answer in ("a", "always"):
                return "allow_all"
            if answer in ("s", "stop"):
                return "stop"
        return "deny"


def default_decider() -> Decider:
    return TerminalDecider() if TerminalDecider.available() else DenyDecider()


def command_allowed(command: str, rules: list[str]) -> bool:
    """True when `command` starts with one of the allow-listed prefixes (on a word boundary) and
    holds no shell metacharacters that could chain another command after it."""
    stripped = command.strip()
    if not stripped or SHELL_METACHARACTERS & set(stripped):
        return False
    for rule in rules:
        prefix = rule.strip()
        if prefix and (stripped == prefix or stripped.startswith(prefix + " ")):
            return True
    return False


@dataclass(slots=True)
class Verdict:
    allowed: bool
    reason: str
    asked: bool = False


@dataclass(slots=True)
class PermissionGate:
    mode: PermissionMode
    decider: Decider
    source: str = "default"
    command_rules: list[str] = field(default_factory=list)
    _allow_rest: bool = False

    async def check(self, request: PermissionRequest, *, command: str | None = None) -> Verdict:
        if request.kind == "read":
            return Verdict(True, "read-only tool")
        if self.mode == "bypass":
            return Verdict(True, "bypass mode")
        if self.mode == "readonly":
            return Verdict(
                False,
                f"{request.tool} is not allowed in readonly mode (writes and commands are denied)",
            )
        if self._allow_rest:
            return Verdict(True, "allowed for the rest of the run")
        if command is not None and command_allowed(command, self.command_rules):
            return Verdict(True, "command matches [tools.bash] allow")
        if not getattr(self.decider, "interactive", True):
            return Verdict(
                False,
                f"{request.tool} needs approval in ask mode, and there is no terminal to ask on; "
                "denied",
            )
        decision = await self.decider.decide(request)
        if decision == "stop":
            raise Interrupted(
                "the run was stopped at a permission prompt",
                hint="run again, or choose another --mode",
            )
        if decision == "allow_all":
            self._allow_rest = True
            return Verdict(True, "allowed for the rest of the run", asked=True)
        if decision == "allow":
            return Verdict(True, "allowed by the user", asked=True)
        return Verdict(False, f"the user denied {request.tool}", asked=True)
