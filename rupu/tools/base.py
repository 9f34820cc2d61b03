"""What every tool is: a name, a description and a JSON Schema the model sees, a kind the permission
gate decides on, and an async `run` that returns text or raises `ToolFailure` (which the model gets
as an error result; the run goes on)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from rupu.config import ToolsConfig
    from rupu.tools.workspace import Workspace

ToolKind = Literal["read", "write", "command"]
Recorder = Callable[..., None]


@dataclass(slots=True)
class ToolContext:
    """What a running tool may use. `record(kind, **data)` writes a transcript event; `env` is
    rupu's own environment (tools read their keys from it; subprocesses never get it whole)."""

    workspace: Workspace
    settings: ToolsConfig
    env: Mapping[str, str]
    record: Recorder
    call_id: str = ""
    scrubbed_env: Mapping[str, str] = field(default_factory=dict)


class Tool(Protocol):
    name: str
    description: str
    parameters: dict[str, Any]
    kind: ToolKind

    def summary(self, args: Mapping[str, Any]) -> str:
        """One line saying what this call would do (shown when asking for permission)."""
        ...

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> str: ...


Handler = Callable[[dict[str, Any], ToolContext], Awaitable[str]]


@dataclass(slots=True)
class BuiltinTool:
    name: str
    description: str
    parameters: dict[str, Any]
    kind: ToolKind
    handler: Handler
    summary_key: str | None = None

    def summary(self, args: Mapping[str, Any]) -> str:
        if self.summary_key and isinstance(args.get(self.summary_key), str):
            return f"{self.name} {one_line(args[self.summary_key])}"
        return self.name

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> str:
        return await self.handler(args, ctx)


def schema(
    properties: dict[str, Any], required: list[str] | tuple[str, ...] = ()
) -> dict[str, Any]:
    """A closed JSON Schema object (no extra keys), the shape every provider accepts."""
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
    }


def one_line(text: str, limit: int = 200) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def cap_text(text: str, limit: int) -> tuple[str, bool]:
    """`text` cut to `limit` characters with a visible marker saying how much was left out."""
    if len(text) <= limit:
        return text, False
    dropped = len(text) - limit
    marker = (
        f"\n[rupu: output truncated: {dropped} more characters not shown; "
        "ask for a narrower range (offset/limit, a tighter pattern) to see the rest]"
    )
    return text[:limit] + marker, True
