"""MCP servers as tool sources, through the official `mcp` client.

`[mcp.servers.<name>]` starts a stdio server (`command`, `args`, `env`, `cwd`) or connects to a
streamable-HTTP one (`url`, `headers`). Each server tool appears as `<name>.<tool>`. A tool counts as
a write (asked about in `ask` mode, refused in `readonly`) unless the server marks it read-only
(`readOnlyHint`) or the config says `read_only = true`. A stdio server gets only a minimal
environment (PATH, HOME, USER, ...) plus its `env` table, where `${VAR}` passes one of rupu's
variables on explicitly; its stderr goes to `$RUPU_HOME/logs/mcp-<name>.log`.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from rupu.config import McpServerConfig
from rupu.errors import ConfigError
from rupu.tools.base import ToolContext, ToolKind, one_line
from rupu.tools.failure import ToolFailure
from rupu.version import __version__

VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
MAX_LIST_PAGES = 100


@dataclass(slots=True)
class McpTool:
    name: str
    remote_name: str
    server: str
    description: str
    parameters: dict[str, Any]
    kind: ToolKind
    client: Any
    timeout: float

    def summary(self, args: Mapping[str, Any]) -> str:
        return f"{self.name} {one_line(orjson.dumps(dict(args)).decode(), 160)}"

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> str:
        import anyio

        try:
            with anyio.fail_after(self.timeout):
                result = await self.client.call_tool(
                    self.remote_name, args, read_timeout_seconds=self.timeout
                )
        except TimeoutError:
            raise ToolFailure(
                f"MCP server '{self.server}' did not answer within {self.timeout:g}s",
                code="timeout",
                hint=f"raise [mcp.servers.{self.server}] timeout_secs if the tool is slow",
            ) from None
        except Exception as exc:  # a broken server must not end the run (it is the model's tool)
            raise ToolFailure(
                f"MCP server '{self.server}' failed: {type(exc).__name__}: {one_line(str(exc))}",
                code="mcp_error",
            ) from None
        text = render_result(result)
        if getattr(result, "is_error", False):
            raise ToolFailure(text or "the tool reported an error", code="mcp_tool_error")
        return text


def render_result(result: Any) -> str:
    parts: list[str] = []
    for block in getattr(result, "content", None) or []:
        kind = getattr(block, "type", None)
        if kind == "text":
            parts.append(str(block.text))
        elif kind == "resource":
            resource = block.resource
            text = getattr(resource, "text", None)
            parts.append(str(text) if text is not None else f"[resource {resource.uri}]")
        elif kind == "resource_link":
            parts.append(f"[resource link {block.uri}]")
        else:
            parts.append(f"[{kind} content ({getattr(block, 'mime_type', '?')}) not shown]")
    structured = getattr(result, "structured_content", None)
    if not parts and structured is not None:
        parts.append(orjson.dumps(structured).decode())
    return "\n".join(parts)


def expand(values: Mapping[str, str], env: Mapping[str, str], where: str) -> dict[str, str]:
    """`${NAME}` in config values, taken from rupu's environment; a missing one is an error."""

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in env:
            raise ConfigError(
                f"{where} refers to ${{{name}}}, which is not set",
                field=where,
                hint=f"export {name}, or remove it from the config",
            )
        return env[name]

    return {key: VARIABLE.sub(substitute, value) for key, value in values.items()}


def _kind(config: McpServerConfig, tool: Any) -> ToolKind:
    if config.read_only is not None:
        return "read" if config.read_only else "write"
    annotations = getattr(tool, "annotations", None)
    return "read" if getattr(annotations, "read_only_hint", None) is True else "write"


def _transport(
    stack: AsyncExitStack,
    name: str,
    config: McpServerConfig,
    *,
    cwd: Path,
    env: Mapping[str, str],
    errlog: Any,
) -> Any:
    if config.url is not None:
        if not config.headers:
            return config.url
        import httpx2  # the HTTP client the mcp package is built on
        from mcp.client.streamable_http import streamable_http_client

        headers = expand(config.headers, env, f"mcp.servers.{name}.headers")
        http_client = httpx2.AsyncClient(headers=headers)
        stack.push_async_callback(http_client.aclose)  # closed after the session ends
        return streamable_http_client(config.url, http_client=http_client)
    from mcp import StdioServerParameters
    from mcp.client.stdio import stdio_client

    assert config.command is not None
    params = StdioServerParameters(
        command=config.command,
        args=list(config.args),
        env=expand(config.env, env, f"mcp.servers.{name}.env") or None,
        cwd=config.cwd or str(cwd),
    )
    return stdio_client(params, errlog=errlog)


async def _connect(
    stack: AsyncExitStack,
    name: str,
    config: McpServerConfig,
    *,
    cwd: Path,
    env: Mapping[str, str],
    log_dir: Path,
) -> list[McpTool]:
    import anyio
    from mcp import Client
    from mcp.types import Implementation

    log_path = log_dir / f"mcp-{name}.log"
    errlog = stack.enter_context(await anyio.to_thread.run_sync(_open_log, log_path))
    transport = _transport(stack, name, config, cwd=cwd, env=env, errlog=errlog)
    # The handshake is bounded by the client's read timeout: a cancel scope cannot be wrapped
    # around entering the client, whose task groups stay open after this function returns.
    client = Client(
        transport,
        read_timeout_seconds=config.startup_timeout_secs,
        client_info=Implementation(name="rupu", version=__version__),
    )
    where = config.url or config.command
    try:
        await stack.enter_async_context(client)
        listed: list[Any] = []
        cursor = None
        with anyio.fail_after(config.startup_timeout_secs):
            for _ in range(MAX_LIST_PAGES):
                page = await client.list_tools(cursor=cursor)
                listed.extend(page.tools)
                cursor = page.next_cursor
                if cursor is None:
                    break
    except ConfigError:
        raise
    except TimeoutError:
        raise ConfigError(
            f"MCP server '{name}' ({where}) did not start within {config.startup_timeout_secs:g}s",
            field=f"mcp.servers.{name}",
            hint=f"check the server; its stderr is in {log_path}",
        ) from None
    except BaseException as exc:
        if not isinstance(exc, Exception | BaseExceptionGroup):
            raise
        raise ConfigError(
            f"MCP server '{name}' ({where}) could not be started: {_reason(exc)}",
            field=f"mcp.servers.{name}",
            hint=f"check its command/url and args; its stderr is in {log_path}",
        ) from None
    return [
        McpTool(
            name=f"{name}.{tool.name}",
            remote_name=tool.name,
            server=name,
            description=tool.description or tool.title or f"{tool.name} (MCP server {name})",
            parameters=dict(tool.input_schema or {"type": "object", "properties": {}}),
            kind=_kind(config, tool),
            client=client,
            timeout=config.timeout_secs,
        )
        for tool in listed
    ]


def _open_log(path: Path) -> Any:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path.open("a", encoding="utf-8")


def _reason(exc: BaseException) -> str:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return one_line(f"{type(exc).__name__}: {exc}")


@asynccontextmanager
async def connect_servers(
    servers: Mapping[str, McpServerConfig],
    *,
    cwd: Path,
    env: Mapping[str, str],
    log_dir: Path,
) -> AsyncIterator[list[McpTool]]:
    """Starts the servers, lists their tools, and stops them when the block ends."""
    async with AsyncExitStack() as stack:
        tools: list[McpTool] = []
        for name, config in servers.items():
            tools.extend(await _connect(stack, name, config, cwd=cwd, env=env, log_dir=log_dir))
        yield tools
