"""Choosing an agent's tools and opening its tool box for one run.

`tools:` in the frontmatter is an allowlist of exact names, `*` and prefixes ending in `*` (such as
`github.*`). Without `tools:` an agent gets every built-in tool (writes and commands still pass the
permission gate) and no MCP tools; MCP servers are started only when `tools:` names them (`*`
included), so agents that do not use them pay nothing. `tools: []` gives no tools at all.
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from rupu.auth.known import KnownSecrets
from rupu.config import LoadedConfig, PermissionMode
from rupu.errors import ConfigError, did_you_mean
from rupu.tools.base import BuiltinTool, Tool
from rupu.tools.environment import scrub_environment
from rupu.tools.files import EDIT_FILE, LIST_DIR, READ_FILE, WRITE_FILE
from rupu.tools.permissions import Decider, DenyDecider, PermissionGate
from rupu.tools.search import GLOB, GREP
from rupu.tools.shell import BASH
from rupu.tools.toolbox import AgentToolBox
from rupu.tools.web_search import BACKENDS, WEB_SEARCH, pick_backend
from rupu.tools.workspace import Workspace

if TYPE_CHECKING:
    from rupu.auth.known import KnownSecrets

BUILTIN_TOOLS: tuple[BuiltinTool, ...] = (
    READ_FILE,
    WRITE_FILE,
    EDIT_FILE,
    LIST_DIR,
    GLOB,
    GREP,
    BASH,
    WEB_SEARCH,
)
BUILTIN_NAMES = tuple(t.name for t in BUILTIN_TOOLS)


def tool_allowed(name: str, patterns: Sequence[str] | None) -> bool:
    if patterns is None:
        return "." not in name
    for pattern in patterns:
        if pattern in ("*", name):
            return True
        if pattern.endswith("*") and name.startswith(pattern[:-1]):
            return True
    return False


def server_wanted(server: str, patterns: Sequence[str] | None) -> bool:
    """Whether any pattern could allow a tool of `server` (so the server is worth starting)."""
    if patterns is None:
        return False
    prefix = f"{server}."
    for pattern in patterns:
        stem = pattern[:-1] if pattern.endswith("*") else None
        if pattern.startswith(prefix) or (stem is not None and prefix.startswith(stem)):
            return True
    return False


def check_patterns(patterns: Iterable[str], servers: Iterable[str], agent: str) -> None:
    """A name that can never match is a typo: report it before any token is spent."""
    known_servers = set(servers)
    for pattern in patterns:
        if pattern.endswith("*"):
            continue
        if "." in pattern:
            server = pattern.split(".", 1)[0]
            if server not in known_servers:
                raise ConfigError(
                    f"agent '{agent}' lists tool '{pattern}', but no MCP server '{server}' is "
                    f"configured{did_you_mean(server, known_servers)}",
                    field="tools",
                    hint=f"add [mcp.servers.{server}] to config.toml, or fix the name",
                )
        elif pattern not in BUILTIN_NAMES:
            raise ConfigError(
                f"agent '{agent}' lists unknown tool '{pattern}'"
                f"{did_you_mean(pattern, BUILTIN_NAMES)}",
                field="tools",
                hint=f"built-in tools: {', '.join(BUILTIN_NAMES)}; MCP tools are '<server>.<tool>'",
            )


@dataclass(slots=True)
class ToolSetup:
    """Everything needed to open a tool box, gathered at the CLI (or workflow) edge."""

    loaded: LoadedConfig
    env: Mapping[str, str]
    workspace: Path
    mode: PermissionMode
    mode_source: str = "default"
    decider: Decider = field(default_factory=DenyDecider)
    private: Sequence[Path] = ()
    log_dir: Path | None = None
    notify: Callable[[str], None] | None = None
    # The secrets to mask and keep from commands (`rupu.auth.known.KnownSecrets`, which the CLI
    # builds with the credential store); without one, those of `env` and the config files.
    secrets: KnownSecrets | None = None
    # Never masked: RUPU_HOME, the home directory (the workspace is added).
    protected: Sequence[str] = ()
    # Tools the run adds whatever `tools:` says (`set_model_tier` for an agent with `tiers:`).
    extra: Sequence[Tool] = ()


async def _loaded_secrets(setup: ToolSetup) -> KnownSecrets:
    """The setup's secrets, loaded (reading the credential store blocks: done in a thread)."""
    import anyio

    source = setup.secrets or KnownSecrets(setup.env, setup.loaded)
    await anyio.to_thread.run_sync(source.load)
    return source


@asynccontextmanager
async def open_toolbox(
    setup: ToolSetup, *, agent: str, patterns: Sequence[str] | None
) -> AsyncIterator[AgentToolBox | None]:
    """The agent's tool box (None when it has no tools); MCP servers live until the block ends."""
    # lazy: the MCP SDK takes ~0.5 s to import; agents without tools never load it
    from rupu.tools.mcp import connect_servers

    if patterns is not None and not patterns and not setup.extra:
        yield None
        return
    config = setup.loaded.config
    check_patterns(patterns or (), config.mcp.servers, agent)
    notes: list[str] = []
    search_ready = pick_backend(config.tools.web_search, setup.env) is not None
    builtins: list[Tool] = []
    for tool in BUILTIN_TOOLS:
        if not tool_allowed(tool.name, patterns):
            continue
        if tool is WEB_SEARCH and not search_ready:
            if patterns is not None and "web_search" in patterns:
                notes.append(
                    "web_search is unavailable: set BRAVE_API_KEY, TAVILY_API_KEY or SERPER_API_KEY"
                )
            continue
        builtins.append(tool)
    servers = {n: c for n, c in config.mcp.servers.items() if server_wanted(n, patterns)}
    secrets = await _loaded_secrets(setup)
    tool_keys = frozenset(v for v in (setup.env.get(b.key_var, "").strip() for b in BACKENDS) if v)
    passthrough = config.tools.bash.env_passthrough
    refused = scrub_environment(
        setup.env, passthrough=passthrough, credentials=secrets().credentials | tool_keys
    ).refused
    if refused:
        notes.append(
            f"env_passthrough: {', '.join(sorted(refused))} not passed to commands "
            "(each holds a credential rupu uses)"
        )
    log_dir = setup.log_dir or Path(tempfile.gettempdir()) / "rupu-logs"
    workspace = Workspace(setup.workspace, private=setup.private)
    async with connect_servers(
        servers, cwd=workspace.root, env=setup.env, log_dir=log_dir
    ) as mcp_tools:
        tools = builtins + [t for t in mcp_tools if tool_allowed(t.name, patterns)]
        tools += setup.extra
        if not tools and not notes:  # with notes, an empty tool box still records them
            yield None
            return
        yield AgentToolBox(
            tools=tools,
            gate=PermissionGate(
                setup.mode,
                setup.decider,
                source=setup.mode_source,
                command_rules=list(config.tools.bash.allow),
            ),
            workspace=workspace,
            settings=config.tools,
            env=setup.env,
            secrets=secrets,
            passthrough=tuple(passthrough),
            tool_keys=tool_keys,
            protected=(
                *setup.protected,
                *(setup.env.get(v, "") for v in ("HOME", "RUPU_HOME")),
                str(workspace.root),
                str(setup.workspace),
            ),
            notify=setup.notify,
            notes=notes,
        )
