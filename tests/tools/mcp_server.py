"""A small MCP server for the tests, written with the official `mcp` package's server API.
Run as `python mcp_server.py` (stdio) or `python mcp_server.py http PORT` (streamable HTTP)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations

server = MCPServer("probe")


@server.tool(annotations=ToolAnnotations(readOnlyHint=True))
def shout(text: str) -> str:
    """Upper-case the text."""
    return text.upper()


@server.tool()
def record(note: str) -> str:
    """Append a note to notes.log in the server's working directory."""
    with Path("notes.log").open("a") as handle:
        handle.write(note + "\n")
    return f"recorded {note!r} in {Path.cwd()}"


@server.tool(annotations=ToolAnnotations(readOnlyHint=True))
def environment() -> str:
    """Which interesting variables the server can see."""
    names = sorted(
        k for k in os.environ if k.endswith(("_API_KEY", "_TOKEN")) or k == "PROBE_SETTING"
    )
    return " ".join(f"{k}={os.environ[k]}" for k in names)


@server.tool(annotations=ToolAnnotations(readOnlyHint=True))
def hang() -> str:
    """Never answers."""
    time.sleep(3600)
    return "unreachable"


@server.tool(annotations=ToolAnnotations(readOnlyHint=True))
def fail(reason: str) -> str:
    """Always fails."""
    raise ToolError(f"refused: {reason}")


@server.tool(annotations=ToolAnnotations(readOnlyHint=True))
def crash() -> str:
    """Kills the server process."""
    sys.stderr.flush()
    os._exit(3)


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "http":
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run("stdio")
