"""`web_fetch` (Claude Code's WebFetch): a page as readable text, redirects, limits, errors as
results, only public hosts unless `[tools.web_fetch] allow_private_hosts`, and only for agents that
name it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rupu.testing import CliRunner
from rupu.tools.web_fetch import html_text, public_address
from tests.conftest import Workspace
from tests.servers.base import Reply
from tests.servers.web_pages import PageServer, html, redirect
from tests.tools.helpers import open_box

pytestmark = pytest.mark.anyio
PRIVATE_OK = {"tools": {"web_fetch": {"allow_private_hosts": True}}}
PAGE = """<!doctype html><html><head><title>Release  notes</title>
<style>body { color: red }</style><script>var secret = 1;</script></head>
<body><h1>Version 2</h1><p>Faster   builds.</p><ul><li>one</li><li>two &amp; three</li></ul>
</body></html>"""


@pytest.fixture
def root(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    return ws


async def fetch(root: Path, url: str, config: dict[str, Any] | None = None) -> tuple[str, bool]:
    async with open_box(root, tools=["web_fetch"], config=config) as box:
        result = await box.one("web_fetch", {"url": url})
    return result.content, result.is_error


async def test_a_page_comes_back_as_its_readable_text(root: Path) -> None:
    with PageServer({"/notes": html(PAGE)}) as server:
        content, failed = await fetch(root, f"{server.base_url}/notes", PRIVATE_OK)
    assert not failed
    assert content == (
        f"{server.base_url}/notes\nRelease notes\n\nVersion 2\nFaster builds.\none\ntwo & three"
    )


async def test_redirects_are_followed_and_json_and_text_pass_through(root: Path) -> None:
    pages = {
        "/old": redirect("/new"),
        "/new": Reply(body=b'{"ok": true}', content_type="application/json"),
        "/loop": redirect("/loop"),
        "/image": Reply(body=b"\x89PNG....", content_type="image/png"),
        "/gone": Reply(status=404, body=b"nope", content_type="text/plain"),
    }
    with PageServer(pages) as server:
        base = server.base_url
        moved, _ = await fetch(root, f"{base}/old", PRIVATE_OK)
        looped, loop_failed = await fetch(root, f"{base}/loop", PRIVATE_OK)
        image, _ = await fetch(root, f"{base}/image", PRIVATE_OK)
        gone, gone_failed = await fetch(root, f"{base}/gone", PRIVATE_OK)
    assert moved == f'{base}/new\n\n{{"ok": true}}'
    assert loop_failed and looped.startswith("error: more than 5 redirects")
    assert image == f"{base}/image: image/png content (8 bytes) is not text and is not shown"
    assert gone_failed and gone == f"error: {base}/gone answered HTTP 404"


async def test_a_long_page_is_cut_at_max_bytes(root: Path) -> None:
    config = {"tools": {"web_fetch": {"allow_private_hosts": True, "max_bytes": 1000}}}
    body = b"x" * 5000
    with PageServer({"/big": Reply(body=body, content_type="text/plain")}) as server:
        content, _ = await fetch(root, f"{server.base_url}/big", config)
    assert content.count("x") == 1000
    assert content.endswith("[rupu: the page is longer than 1000 bytes; the rest is not shown]")


async def test_only_public_hosts_unless_allowed(root: Path) -> None:
    with PageServer({"/": html("<p>local</p>")}) as server:
        loopback, failed = await fetch(root, f"{server.base_url}/")
        by_name, _ = await fetch(root, server.base_url.replace("127.0.0.1", "localhost") + "/")
        bounced, _ = await fetch(root, "ftp://example.com/file")
    assert failed and loopback.startswith("error: 127.0.0.1 is not a public host")
    assert "allow_private_hosts = true" in loopback
    assert by_name.startswith("error: localhost is not a public host")
    assert bounced == "error: only http and https URLs can be fetched, not 'ftp://example.com/file'"
    assert server.requests == []


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("2606:4700::1111", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("192.168.0.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("::1", False),
        ("::ffff:127.0.0.1", False),
        ("fe80::1%eth0", False),
        ("0.0.0.0", False),
    ],
)
def test_public_addresses(address: str, public: bool) -> None:
    assert public_address(address) is public


async def test_only_agents_that_name_it_get_it(root: Path) -> None:
    async with open_box(root) as box:
        defaults = [t.name for t in box.toolbox.tools]
    async with open_box(root, tools=["*"]) as box:
        every = [t.name for t in box.toolbox.tools]
    assert "web_fetch" not in defaults and "read_file" in defaults
    assert "web_fetch" in every


def test_html_text_drops_markup_scripts_and_styles() -> None:
    assert html_text(PAGE) == ("Release notes", "Version 2\nFaster builds.\none\ntwo & three")


def test_a_project_allowing_private_hosts_needs_trust(workspace: Workspace) -> None:
    config = workspace.write_config("[tools.web_fetch]\nallow_private_hosts = true\n", project=True)
    workspace.write_agent(
        "reader", "---\nname: reader\nprovider: mock\ntools: [web_fetch]\n---\nHi\n"
    )
    with CliRunner(home=workspace.home) as rupu:
        refused = rupu.invoke(["run", "--agent", "reader", "hi"])
        trusted = rupu.invoke(["--trust", "run", "--agent", "reader", "hi"])
    assert refused.exit_code == 2
    assert refused.stderr.startswith(
        f"rupu: error: {config}:2: [tools.web_fetch] allow_private_hosts lets web_fetch reach your "
        "machine and network; the project"
    )
    assert trusted.exit_code == 0 and trusted.stdout == "hi\n"
