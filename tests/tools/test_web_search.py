"""web_search against loopback Brave, Tavily and Serper endpoints (URLs overridden in config)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from rupu.tools.setup import tool_allowed
from tests.servers.base import Reply
from tests.servers.web_search import (
    BRAVE_PATH,
    SERPER_PATH,
    TAVILY_PATH,
    SearchServer,
    brave_results,
    serper_results,
    tavily_results,
)
from tests.tools.helpers import open_box

pytestmark = pytest.mark.anyio


def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir(exist_ok=True)
    return root


ITEMS = [
    ("rupu docs", "https://example.com/rupu", "A <strong>multi-agent</strong> engine."),
    ("Second", "https://example.com/2", "Another result."),
]
BACKENDS: list[tuple[str, str, str, Callable[[list[tuple[str, str, str]]], Reply]]] = [
    ("brave", "BRAVE_API_KEY", BRAVE_PATH, brave_results),
    ("tavily", "TAVILY_API_KEY", TAVILY_PATH, tavily_results),
    ("serper", "SERPER_API_KEY", SERPER_PATH, serper_results),
]


@pytest.mark.parametrize(("backend", "key_var", "path", "reply"), BACKENDS)
async def test_each_backend_returns_titles_urls_snippets(
    tmp_path: Path,
    backend: str,
    key_var: str,
    path: str,
    reply: Callable[[list[tuple[str, str, str]]], Reply],
) -> None:
    key = f"canary-{backend}-key-123456"
    with SearchServer(key=key) as server:
        server.script.append(reply(ITEMS))
        config = {"tools": {"web_search": {f"{backend}_url": server.base_url + path}}}
        async with open_box(ws(tmp_path), config=config, env={key_var: key}) as box:
            result = await box.one("web_search", {"query": "rupu agents", "max_results": 2})
    assert not result.is_error, result.content
    assert result.content.splitlines() == [
        "1. rupu docs",
        "   https://example.com/rupu",
        "   A multi-agent engine.",
        "2. Second",
        "   https://example.com/2",
        "   Another result.",
    ]
    request = server.requests[0]
    if backend == "brave":
        assert request.query == {"q": "rupu agents", "count": "2"}
    elif backend == "tavily":
        assert request.body == {"query": "rupu agents", "max_results": 2}
    else:
        assert request.body == {"q": "rupu agents", "num": 2}
    assert key not in (tmp_path / "transcript.jsonl").read_text()


async def test_configured_provider_wins_and_errors_are_results(tmp_path: Path) -> None:
    with SearchServer(key="right-key-123456") as server:
        server.script.append(
            Reply(status=401, body=b'{"error":"bad key"}', content_type="application/json")
        )
        config = {
            "tools": {
                "web_search": {"provider": "serper", "serper_url": server.base_url + SERPER_PATH}
            }
        }
        env = {"BRAVE_API_KEY": "brave-key-123456", "SERPER_API_KEY": "right-key-123456"}
        async with open_box(ws(tmp_path), config=config, env=env) as box:
            result = await box.one("web_search", {"query": "x"})
    assert result.is_error
    assert (
        "serper) answered HTTP 401" in result.content and "check SERPER_API_KEY" in result.content
    )


async def test_not_offered_without_a_key(tmp_path: Path) -> None:
    async with open_box(ws(tmp_path), tools=["read_file", "web_search"]) as box:
        names = [spec.name for spec in box.toolbox.specs]
        audit = box.toolbox.audit()
    assert names == ["read_file"]
    assert "web_search is unavailable" in audit["notes"][0]
    assert tool_allowed("web_search", None)
