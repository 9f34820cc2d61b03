"""Claude Code agent files (`.claude/agents/*.md`) read as rupu agents, unchanged.

`map_claude_frontmatter` turns the frontmatter Claude Code reads into rupu's keys before the usual
validation (`rupu.agents.spec.Frontmatter`):

- `tools` / `disallowedTools` (a comma string or a list) name Claude Code's tools; each maps to its
  rupu tool (`TOOL_NAMES`), `mcp__server__tool` to `server.tool`; a tool rupu has no counterpart for
  is left out and listed once in a note;
- `model`: `inherit` (or no model) runs on the default provider and model; `sonnet`, `opus`,
  `haiku` stay aliases (`[aliases]` in config.toml maps them to any provider); a `claude-...` id runs
  on the `anthropic` provider; any other id on the default provider;
- `permissionMode`: `default` and `acceptEdits` are rupu's `ask`, `plan` and `dontAsk` are
  `readonly`, `bypassPermissions` is `bypass`;
- `maxTurns`, `mcpServers`, `name` and `description` keep their meaning;
- every other key (`color`, `hooks`, `skills`, `memory`, ...) is accepted and listed once in a note,
  except the keys of rupu's own frontmatter, which keep their rupu meaning.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from rupu.errors import ConfigError, Location

TOOL_NAMES: dict[str, str] = {
    "Read": "read_file",
    "Write": "write_file",
    "Edit": "edit_file",
    "MultiEdit": "edit_file",
    "NotebookEdit": "edit_file",
    "Bash": "bash",
    "Grep": "grep",
    "Glob": "glob",
    "LS": "list_dir",
    "WebSearch": "web_search",
    "WebFetch": "web_fetch",
}
PERMISSION_MODES: dict[str, str] = {
    "default": "ask",
    "acceptEdits": "ask",
    "plan": "readonly",
    "dontAsk": "readonly",
    "bypassPermissions": "bypass",
    # rupu's own values, for a file written for both
    "ask": "ask",
    "readonly": "readonly",
    "bypass": "bypass",
}
CLAUDE_MODEL_PREFIX = "claude-"
MCP_PREFIX = "mcp__"
# Keys whose value is mapped here; every other key rupu's frontmatter knows passes through.
MAPPED_KEYS = ("tools", "disallowedTools", "model", "permissionMode", "mcpServers")

Where = Callable[[Sequence[str | int]], Location]
_PLAIN_LINE = re.compile(r"^([A-Za-z_][A-Za-z0-9_-]*):[ \t]+(.+?)[ \t]*$")
_NOT_PLAIN = tuple("\"'[{|>&*!%@`")


def quote_plain_values(header: str) -> str | None:
    """`header` with each top-level one-line value holding `: ` quoted, or None when there is none.

    Claude Code reads `description: Use this agent when... Examples: <example>Context: ...`, which
    is not valid YAML (a plain value may not hold `: `); agent files written by its generator look
    like that. Quoting keeps every line where it was, so errors still name the right line."""
    changed = False
    lines = header.split("\n")
    for index, line in enumerate(lines):
        found = _PLAIN_LINE.match(line)
        if found is None or found[2].startswith(_NOT_PLAIN) or ": " not in found[2]:
            continue
        lines[index] = f"{found[1]}: {json.dumps(found[2], ensure_ascii=False)}"
        changed = True
    return "\n".join(lines) if changed else None


def is_claude_agent_path(path: Path) -> bool:
    """A file in a `.claude/agents/` directory (a project's, or one named by path)."""
    return path.parent.name == "agents" and path.parent.parent.name == ".claude"


def map_claude_frontmatter(
    data: Mapping[str, Any], where: Where, *, rupu_keys: Collection[str]
) -> tuple[dict[str, Any], list[str]]:
    """rupu's frontmatter for a Claude Code file's `data`, and the notes on what was left out."""
    out: dict[str, Any] = {}
    unused_keys: list[str] = []
    unknown_tools: list[str] = []
    for key, value in data.items():
        if key in MAPPED_KEYS:
            continue
        if key in rupu_keys:
            out[key] = value
        else:
            unused_keys.append(str(key))
    if "tools" in data:
        out["tools"] = _tools(data["tools"], "tools", where, unknown_tools)
    if "disallowedTools" in data:
        out["disallowedTools"] = _tools(
            data["disallowedTools"], "disallowedTools", where, unknown_tools
        )
    _model(data.get("model"), out, where)
    if "permissionMode" in data:
        out["permissionMode"] = _permission_mode(data["permissionMode"], where)
    notes: list[str] = []
    if "mcpServers" in data:
        servers, skipped = _servers(data["mcpServers"])
        out["mcpServers"] = servers
        if skipped:
            notes.append(f"MCP servers over SSE are not supported (left out): {', '.join(skipped)}")
        if isinstance(out.get("tools"), list):
            # A server the agent declares is there to be used: its tools join the allowlist.
            out["tools"] += [f"{name}.*" for name in _server_names(servers)]
    if unused_keys:
        notes.append(f"Claude Code keys rupu does not use: {', '.join(sorted(unused_keys))}")
    if unknown_tools:
        listed = ", ".join(dict.fromkeys(unknown_tools))
        notes.append(f"Claude Code tools rupu has no counterpart for (left out): {listed}")
    return out, notes


def _tools(value: Any, key: str, where: Where, unknown: list[str]) -> list[str]:
    if isinstance(value, str):
        names = [part.strip() for part in value.split(",") if part.strip()]
    elif isinstance(value, list) and all(isinstance(item, str) for item in value):
        names = [item.strip() for item in value if item.strip()]
    elif value is None:
        names = []
    else:
        raise ConfigError(
            f"invalid value for '{key}': a comma-separated string or a list of tool names",
            location=where([key]),
            hint="write e.g. `tools: Read, Grep, Glob`",
        )
    mapped: list[str] = []
    for name in names:
        rupu_name = claude_tool(name)
        if rupu_name is None:
            unknown.append(name)
        elif rupu_name not in mapped:
            mapped.append(rupu_name)
    return mapped


def claude_tool(name: str) -> str | None:
    """rupu's name (or pattern) for Claude Code's tool `name`, or None when rupu has none."""
    if name in TOOL_NAMES:
        return TOOL_NAMES[name]
    if name.startswith(MCP_PREFIX):
        server, _, tool = name.removeprefix(MCP_PREFIX).partition("__")
        if not server:
            return None
        return f"{server}.{tool}" if tool and tool != "*" else f"{server}.*"
    return None


def _model(value: Any, out: dict[str, Any], where: Where) -> None:
    if value is None or value == "inherit":
        return
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(
            "invalid value for 'model': sonnet, opus, haiku, inherit or a model id",
            location=where(["model"]),
        )
    model = value.strip()
    out["model"] = model
    if model.startswith(CLAUDE_MODEL_PREFIX) and "provider" not in out:
        out["provider"] = "anthropic"


def _permission_mode(value: Any, where: Where) -> str:
    mode = PERMISSION_MODES.get(value) if isinstance(value, str) else None
    if mode is None:
        valid = ", ".join(k for k, v in PERMISSION_MODES.items() if k != v)
        raise ConfigError(
            f"invalid value for 'permissionMode': {value!r} (Claude Code's modes: {valid})",
            location=where(["permissionMode"]),
        )
    return mode


def _servers(value: Any) -> tuple[Any, list[str]]:
    """`value` without the servers of `type: sse` (rupu speaks stdio and streamable HTTP)."""

    def sse(server: Any) -> bool:
        return isinstance(server, dict) and server.get("type") == "sse"

    skipped: list[str] = []
    if isinstance(value, dict):
        skipped = [str(name) for name, server in value.items() if sse(server)]
        return {k: v for k, v in value.items() if str(k) not in skipped}, skipped
    if isinstance(value, list):
        kept: list[Any] = []
        for item in value:
            if isinstance(item, dict) and len(item) == 1 and sse(next(iter(item.values()))):
                skipped.append(str(next(iter(item))))
            else:
                kept.append(item)
        return kept, skipped
    return value, skipped


def _server_names(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [str(name) for name in value]
    if isinstance(value, list):
        names: list[str] = []
        for item in value:
            if isinstance(item, str):
                names.append(item)
            elif isinstance(item, dict):
                names.extend(str(name) for name in item)
        return names
    return []
