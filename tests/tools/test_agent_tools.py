"""An agent's own tool settings: `disallowedTools` takes tools away (built-in and MCP), and
`mcpServers` starts servers for that agent alone: connected when its tool box opens, stopped when it
closes; a name alone uses the server of `[mcp.servers]`."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from rupu.agents.spec import parse_agent
from rupu.config import McpServerConfig
from rupu.errors import ConfigError
from rupu.tools.setup import ToolSetup, open_toolbox
from rupu.tools.toolbox import AgentToolBox
from rupu.transcripts import TranscriptWriter
from tests.tools.helpers import Box, ScriptedDecider, loaded

pytestmark = pytest.mark.anyio
SERVER = str(Path(__file__).with_name("mcp_server.py"))


def probe(**env: str) -> McpServerConfig:
    return McpServerConfig(command=sys.executable, args=[SERVER], env=env)


@asynccontextmanager
async def agent_box(
    root: Path,
    *,
    tools: Sequence[str] | None = None,
    denied: Sequence[str] = (),
    servers: Mapping[str, McpServerConfig | None] | None = None,
    config: Mapping[str, Any] | None = None,
) -> AsyncIterator[AgentToolBox | None]:
    setup = ToolSetup(
        loaded=loaded(config),
        env={"PATH": os.environ["PATH"]},
        workspace=root,
        mode="bypass",
        decider=ScriptedDecider(interactive=False),
        log_dir=root.parent / "logs",
        denied=denied,
        agent_servers=dict(servers or {}),
    )
    async with open_toolbox(setup, agent="a", patterns=tools) as toolbox:
        yield toolbox


def names(toolbox: AgentToolBox | None) -> list[str]:
    assert toolbox is not None
    return [t.name for t in toolbox.tools]


def running_with(marker: str) -> list[int]:
    """Processes of this user whose environment holds `marker`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


@pytest.fixture
def root(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    return ws


async def test_disallowed_tools_leave_the_rest_of_the_built_ins(root: Path) -> None:
    async with agent_box(root, denied=["bash", "write_*"]) as toolbox:
        assert names(toolbox) == ["read_file", "edit_file", "list_dir", "glob", "grep"]
    async with agent_box(root, tools=["read_file", "bash"], denied=["bash"]) as toolbox:
        assert names(toolbox) == ["read_file"]


async def test_an_agents_own_server_runs_only_while_its_tool_box_is_open(root: Path) -> None:
    marker = f"agent-server-{uuid.uuid4().hex}"
    async with agent_box(
        root, servers={"probe": probe(PROBE_SETTING=marker)}, denied=["probe.record"]
    ) as toolbox:
        offered = names(toolbox)
        assert toolbox is not None
        transcript = TranscriptWriter(root.parent / "t.jsonl")
        seen = await Box(toolbox, transcript).one("probe__environment", {})
        transcript.close()
        during = running_with(marker)
    assert "probe.shout" in offered and "read_file" in offered
    assert "probe.record" not in offered
    assert seen.content == f"PROBE_SETTING={marker}"
    assert during
    assert running_with(marker) == []


async def test_a_server_named_alone_is_the_configured_one(root: Path) -> None:
    config = {"mcp": {"servers": {"probe": {"command": sys.executable, "args": [SERVER]}}}}
    async with agent_box(
        root, tools=["probe.shout"], servers={"probe": None}, config=config
    ) as box:
        assert names(box) == ["probe.shout"]
    with pytest.raises(ConfigError, match="agent 'a' names MCP server 'prob' in mcpServers"):
        async with agent_box(root, servers={"prob": None}, config=config):
            pass


async def test_a_tools_list_that_leaves_the_server_out_does_not_start_it(root: Path) -> None:
    marker = f"agent-server-{uuid.uuid4().hex}"
    async with agent_box(
        root, tools=["read_file"], servers={"probe": probe(PROBE_SETTING=marker)}
    ) as toolbox:
        assert names(toolbox) == ["read_file"]
        assert running_with(marker) == []


def test_rupu_frontmatter_takes_both_keys() -> None:
    text = (
        "---\nname: a\ndisallowedTools: bash, web_search\nmcpServers:\n"
        "  probe:\n    command: python3\n    args: [server.py]\n  github:\n---\nHi\n"
    )
    front = parse_agent(text, Path("a.md"), "global").frontmatter
    assert front.disallowed_tools == ["bash", "web_search"]
    assert front.mcp_servers is not None and front.mcp_servers["github"] is None
    server = front.mcp_servers["probe"]
    assert server is not None and server.command == "python3" and server.args == ["server.py"]
    bad = "---\nname: a\nmcpServers:\n  probe:\n    command: x\n    url: http://h\n---\nHi\n"
    with pytest.raises(ConfigError, match=r"a.md:4: .*mcpServers.probe.*exactly one of command"):
        parse_agent(bad, Path("a.md"), "global")
