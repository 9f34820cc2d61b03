"""MCP servers as tool sources (acceptance 4): a stdio server started from a test script, its tools
named `<server>.<tool>`, filtered by `tools:` and the permission mode; hangs and crashes end as
error results (T14); a server that cannot start is reported before the run."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rupu.errors import ConfigError
from tests.tools.helpers import ScriptedDecider, open_box

pytestmark = pytest.mark.anyio
SERVER = str(Path(__file__).with_name("mcp_server.py"))


def probe_config(**extra: Any) -> dict[str, Any]:
    server = {"command": sys.executable, "args": [SERVER], **extra}
    return {"mcp": {"servers": {"probe": server}}}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    return ws


async def test_server_tools_are_listed_called_and_gated(root: Path) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "OPENAI_API_KEY": "canary-openai-should-not-pass",
        "PROBE_VALUE": "passed-explicitly",
    }
    config = probe_config(env={"PROBE_SETTING": "${PROBE_VALUE}"}, timeout_secs=2)
    async with open_box(
        root, mode="ask", tools=["read_file", "probe.*"], config=config, env=env
    ) as box:
        names = [t.name for t in box.toolbox.tools]
        wire = [s.name for s in box.toolbox.specs]
        shout, record, seen, failed = await box.call(
            ("probe__shout", {"text": "hello"}),
            ("probe.record", {"note": "n1"}),
            ("probe__environment", {}),
            ("probe__fail", {"reason": "nope"}),
        )
        started = time.monotonic()
        hung = await box.one("probe__hang", {})
        waited = time.monotonic() - started
        after = await box.one("probe__shout", {"text": "still there"})
        permission = box.events("permission")
    assert names[0] == "read_file"
    assert {"probe.shout", "probe.record", "probe.hang"} <= set(names)
    assert "probe__shout" in wire
    assert shout.content == "HELLO" and not shout.is_error
    assert record.is_error and "no terminal to ask on" in record.content  # a write under ask
    assert permission[0]["tool"] == "probe.record"
    assert seen.content == "PROBE_SETTING=passed-explicitly"
    assert failed.is_error and "refused: nope" in failed.content
    assert hung.is_error and "did not answer within 2s" in hung.content
    assert waited < 10
    assert after.content == "STILL THERE"
    assert not (root / "notes.log").exists()


async def test_what_a_server_returns_and_its_errors_are_redacted(root: Path) -> None:
    token = "canary-mcp-token-5566aa"
    shaped = "sk-proj-" + "M" * 40
    env = {"PATH": os.environ["PATH"], "SERVICE_TOKEN": token}
    config = probe_config(env={"PROBE_TOKEN": "${SERVICE_TOKEN}"})
    async with open_box(root, tools=["probe.*"], config=config, env=env) as box:
        seen, failed = await box.call(
            ("probe__environment", {}), ("probe__fail", {"reason": f"bad key {shaped}"})
        )
        results = box.events("tool_result")
        calls = box.events("tool_call")
    assert seen.content == "PROBE_TOKEN=[REDACTED secret]"
    assert failed.is_error and "refused: bad key [REDACTED openai key]" in failed.content
    recorded = repr(results) + repr(calls)
    assert token not in recorded and shaped not in recorded


async def test_writes_run_in_bypass_and_in_the_workspace(root: Path) -> None:
    async with open_box(root, mode="bypass", tools=["probe.record"], config=probe_config()) as box:
        assert [t.name for t in box.toolbox.tools] == ["probe.record"]
        result = await box.one("probe__record", {"note": "n2"})
    assert not result.is_error and str(root) in result.content
    assert (root / "notes.log").read_text() == "n2\n"


async def test_read_only_override_and_crash(root: Path) -> None:
    decider = ScriptedDecider(interactive=False)
    config = probe_config(read_only=True)
    async with open_box(root, mode="ask", tools=["*"], config=config, decider=decider) as box:
        recorded = await box.one("probe__record", {"note": "n3"})
        crashed = await box.one("probe__crash", {})
        after = await box.one("probe__shout", {"text": "gone"})
        local = await box.one("list_dir", {})
    assert not recorded.is_error
    assert crashed.is_error and "MCP server 'probe'" in crashed.content
    assert after.is_error
    assert not local.is_error


async def test_servers_are_not_started_unless_named(root: Path) -> None:
    config = {"mcp": {"servers": {"broken": {"command": "/nonexistent/mcp-server"}}}}
    async with open_box(root, tools=None, config=config) as box:
        assert "broken" not in " ".join(t.name for t in box.toolbox.tools)


@pytest.mark.parametrize(
    "server",
    [
        {"command": "/nonexistent/mcp-server"},
        {"command": sys.executable, "args": ["-c", "import sys; sys.exit(1)"]},
    ],
)
async def test_a_server_that_cannot_start_is_a_config_error(
    root: Path, server: dict[str, Any]
) -> None:
    config = {"mcp": {"servers": {"broken": {**server, "startup_timeout_secs": 5}}}}
    with pytest.raises(ConfigError, match="MCP server 'broken'") as caught:
        async with open_box(root, tools=["broken.*"], config=config):
            pass
    assert caught.value.hint is not None and "mcp-broken.log" in caught.value.hint


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def http_server_port() -> Iterator[int]:
    """The test server on streamable HTTP, in its own process."""
    port = free_port()
    with subprocess.Popen(
        [sys.executable, SERVER, "http", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    ) as process:
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    time.sleep(0.1)
            yield port
        finally:
            process.terminate()


async def test_streamable_http_server_with_headers(root: Path, http_server_port: int) -> None:
    server = {
        "url": f"http://127.0.0.1:{http_server_port}/mcp",
        "headers": {"X-Probe": "${PROBE}"},
    }
    config = {"mcp": {"servers": {"web": server}}}
    env = {"PROBE": "header-value"}
    async with open_box(root, tools=["web.shout"], config=config, env=env) as box:
        result = await box.one("web__shout", {"text": "over http"})
    assert not result.is_error, result.content
    assert result.content == "OVER HTTP"
