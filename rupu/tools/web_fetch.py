"""`web_fetch`: one web page as text (Claude Code's WebFetch).

GET an `http(s)` URL, follow up to `MAX_REDIRECTS` redirects, and return the page: HTML as its
readable text (scripts, styles and markup dropped), other text and JSON as they are, anything else as
one line naming its type and size. Only public hosts: a URL (or a redirect) whose host resolves to a
loopback, private, link-local or otherwise reserved address is refused, so a page the model reads
cannot point it at the machine's own services or the cloud metadata endpoint;
`[tools.web_fetch] allow_private_hosts = true` lifts that (for an intranet). At most
`[tools.web_fetch] max_bytes` are read.

An agent gets the tool only when `tools:` names it (or `*`): unlike the other built-in tools, it is
not among the defaults of an agent without `tools:`.
"""

from __future__ import annotations

import ipaddress
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

from rupu.tools.base import BuiltinTool, ToolContext, schema
from rupu.tools.failure import ToolFailure
from rupu.version import __version__

MAX_REDIRECTS = 5
_SKIPPED = frozenset({"script", "style", "noscript", "template", "svg", "head"})
_BLOCKS = frozenset(
    {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "section", "article"}
)


class _TextOf(HTMLParser):
    """The readable text of an HTML page, one block per line, and its title."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = [""]
        self.title = ""
        self._skipping = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        elif tag in _SKIPPED:
            self._skipping += 1
        elif tag in _BLOCKS:
            self.lines.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag in _SKIPPED:
            self._skipping = max(0, self._skipping - 1)
        elif tag in _BLOCKS:
            self.lines.append("")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        elif not self._skipping:
            self.lines[-1] += data

    def text(self) -> str:
        lines = (" ".join(line.split()) for line in self.lines)
        return "\n".join(line for line in lines if line)


def html_text(page: str) -> tuple[str, str]:
    """(title, text) of an HTML page."""
    parser = _TextOf()
    parser.feed(page)
    parser.close()
    return " ".join(parser.title.split()), parser.text()


def public_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


async def check_host(url: str, *, allow_private: bool) -> None:
    """Refuses a URL that is not http(s), or whose host is not public (unless allowed)."""
    import anyio

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ToolFailure(f"only http and https URLs can be fetched, not {url!r}")
    if allow_private:
        return
    host = parts.hostname
    try:
        addresses = [host] if _is_ip(host) else await _resolve(anyio, host, parts.port)
    except OSError:
        raise ToolFailure(f"cannot resolve {host}", code="network_error") from None
    if not addresses or not all(public_address(a) for a in addresses):
        raise ToolFailure(
            f"{host} is not a public host; web_fetch reads only public pages",
            code="host_denied",
            hint="[tools.web_fetch] allow_private_hosts = true allows intranet hosts",
        )


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


async def _resolve(anyio: Any, host: str, port: int | None) -> list[str]:
    found = await anyio.getaddrinfo(host, port or 443)
    return [str(entry[4][0]) for entry in found]


async def web_fetch(args: dict[str, Any], ctx: ToolContext) -> str:
    import httpx

    settings = ctx.settings.web_fetch
    url = str(args["url"]).strip()
    headers = {"user-agent": f"rupu/{__version__}", "accept": "text/html, text/*, */*;q=0.5"}
    async with httpx.AsyncClient(timeout=settings.timeout_secs, follow_redirects=False) as client:
        for _ in range(MAX_REDIRECTS + 1):
            await check_host(url, allow_private=settings.allow_private_hosts)
            try:
                async with client.stream("GET", url, headers=headers) as response:
                    if response.is_redirect and "location" in response.headers:
                        url = urljoin(url, response.headers["location"])
                        continue
                    body = await _read(response, settings.max_bytes)
                    return _render(url, response, body, settings.max_bytes)
            except httpx.HTTPError as exc:
                raise ToolFailure(
                    f"fetching {url} failed: {type(exc).__name__}", code="network_error"
                ) from None
    raise ToolFailure(f"more than {MAX_REDIRECTS} redirects, the last to {url}")


async def _read(response: Any, limit: int) -> bytes:
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > limit:
            break
    return bytes(body)


def _render(url: str, response: Any, body: bytes, limit: int) -> str:
    if response.status_code >= 400:
        raise ToolFailure(f"{url} answered HTTP {response.status_code}", code="http_error")
    kind = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    cut = f"\n[rupu: the page is longer than {limit} bytes; the rest is not shown]"
    more = cut if len(body) > limit else ""
    text = body[:limit].decode(response.encoding or "utf-8", errors="replace")
    if kind in ("text/html", "application/xhtml+xml") or (not kind and "<html" in text[:500]):
        title, readable = html_text(text)
        header = f"{url}\n{title}\n\n" if title else f"{url}\n\n"
        return header + readable + more
    if kind.startswith("text/") or kind.endswith(("json", "xml")) or not kind:
        return f"{url}\n\n{text}{more}"
    return f"{url}: {kind} content ({len(body)} bytes) is not text and is not shown"


WEB_FETCH = BuiltinTool(
    name="web_fetch",
    description=(
        "Fetch one public web page (http or https) and return its readable text; JSON and plain "
        "text come back as they are."
    ),
    parameters=schema(
        {"url": {"type": "string", "description": "The page's full URL."}},
        ["url"],
    ),
    kind="read",
    handler=web_fetch,
    summary_key="url",
)
