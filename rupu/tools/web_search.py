"""`web_search`: titles, URLs and snippets from Brave, Tavily or Serper.

The backend is `[tools.web_search] provider`, or else the first of Brave, Tavily, Serper whose key is
set (`BRAVE_API_KEY`, `TAVILY_API_KEY`, `SERPER_API_KEY`). Endpoints can be overridden
(`brave_url`, `tavily_url`, `serper_url`) for gateways and tests. The tool is offered only when a
key is present.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rupu.config import WebSearchConfig
from rupu.tools.base import BuiltinTool, ToolContext, one_line, schema
from rupu.tools.failure import ToolFailure
from rupu.version import __version__


@dataclass(frozen=True, slots=True)
class SearchBackend:
    name: str
    key_var: str
    default_url: str


BACKENDS = (
    SearchBackend("brave", "BRAVE_API_KEY", "https://api.search.brave.com/res/v1/web/search"),
    SearchBackend("tavily", "TAVILY_API_KEY", "https://api.tavily.com/search"),
    SearchBackend("serper", "SERPER_API_KEY", "https://google.serper.dev/search"),
)


@dataclass(frozen=True, slots=True)
class SearchHit:
    title: str
    url: str
    snippet: str


def pick_backend(
    settings: WebSearchConfig, env: Mapping[str, str]
) -> tuple[SearchBackend, str, str] | None:
    """(backend, key, url) for the configured or first keyed backend; None when no key is set."""
    for backend in BACKENDS:
        if settings.provider is not None and backend.name != settings.provider:
            continue
        key = env.get(backend.key_var, "").strip()
        if key:
            url = getattr(settings, f"{backend.name}_url") or backend.default_url
            return backend, key, url
    return None


def _request(backend: str, key: str, query: str, count: int) -> dict[str, Any]:
    """Method, headers and parameters for one backend (httpx keyword arguments)."""
    agent = {"user-agent": f"rupu/{__version__}", "accept": "application/json"}
    if backend == "brave":
        return {
            "method": "GET",
            "params": {"q": query, "count": count},
            "headers": {**agent, "x-subscription-token": key},
        }
    if backend == "tavily":
        return {
            "method": "POST",
            "json": {"query": query, "max_results": count},
            "headers": {**agent, "authorization": f"Bearer {key}"},
        }
    return {
        "method": "POST",
        "json": {"q": query, "num": count},
        "headers": {**agent, "x-api-key": key},
    }


def parse_hits(backend: str, data: Any) -> list[SearchHit]:
    if not isinstance(data, dict):
        return []
    if backend == "brave":
        web = data.get("web")
        items, url_key, text_key = (web or {}).get("results"), "url", "description"
    elif backend == "tavily":
        items, url_key, text_key = data.get("results"), "url", "content"
    else:
        items, url_key, text_key = data.get("organic"), "link", "snippet"
    hits: list[SearchHit] = []
    for item in items or []:
        if isinstance(item, dict) and item.get(url_key):
            hits.append(
                SearchHit(
                    title=one_line(str(item.get("title") or ""), 300),
                    url=str(item[url_key]),
                    snippet=one_line(_strip_tags(str(item.get(text_key) or "")), 600),
                )
            )
    return hits


def _strip_tags(text: str) -> str:
    import re

    return re.sub(r"</?strong>|</?b>", "", text)


async def web_search(args: dict[str, Any], ctx: ToolContext) -> str:
    import httpx

    settings = ctx.settings.web_search
    chosen = pick_backend(settings, ctx.env)
    if chosen is None:
        raise ToolFailure(
            "web search is not configured",
            hint="set BRAVE_API_KEY, TAVILY_API_KEY or SERPER_API_KEY",
        )
    backend, key, url = chosen
    query = str(args["query"]).strip()
    if not query:
        raise ToolFailure("the query is empty")
    count = min(int(args.get("max_results") or settings.max_results), 20)
    request = _request(backend.name, key, query, count)
    try:
        async with httpx.AsyncClient(timeout=settings.timeout_secs) as client:
            response = await client.request(url=url, **request)
    except httpx.HTTPError as exc:
        raise ToolFailure(
            f"web search ({backend.name}) failed: {type(exc).__name__}", code="network_error"
        ) from None
    if response.status_code >= 400:
        hint = f"check {backend.key_var}" if response.status_code in (401, 403) else None
        raise ToolFailure(
            f"web search ({backend.name}) answered HTTP {response.status_code}",
            code="search_error",
            hint=hint,
        )
    try:
        data = response.json()
    except ValueError:
        raise ToolFailure(
            f"web search ({backend.name}) returned something that is not JSON"
        ) from None
    hits = parse_hits(backend.name, data)[:count]
    if not hits:
        return f"no results for {query!r}"
    return "\n".join(
        f"{i}. {hit.title}\n   {hit.url}\n   {hit.snippet}".rstrip()
        for i, hit in enumerate(hits, 1)
    )


WEB_SEARCH = BuiltinTool(
    name="web_search",
    description="Search the web. Returns numbered results: title, URL and a snippet.",
    parameters=schema(
        {
            "query": {"type": "string", "description": "What to search for."},
            "max_results": {"type": "integer", "minimum": 1, "maximum": 20},
        },
        ["query"],
    ),
    kind="read",
    handler=web_search,
    summary_key="query",
)
