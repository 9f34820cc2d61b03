"""Loopback stand-ins for the Brave, Tavily and Serper search APIs.

Each route checks what the real API requires (the key header, the query parameter or JSON body with
only the keys rupu sends) and answers in that API's response shape.
"""

from __future__ import annotations

import orjson
from aiohttp import web

from tests.servers.base import LoopbackServer, RecordedRequest, Reply, ValidationFailed

BRAVE_PATH = "/res/v1/web/search"
TAVILY_PATH = "/tavily/search"
SERPER_PATH = "/serper/search"


class SearchServer(LoopbackServer):
    def __init__(self, *, key: str) -> None:
        super().__init__()
        self.key = key

    def routes(self, app: web.Application) -> None:
        app.router.add_get(BRAVE_PATH, self.handle)
        app.router.add_post(TAVILY_PATH, self.handle)
        app.router.add_post(SERPER_PATH, self.handle)

    def validate(self, request: RecordedRequest) -> None:
        headers = request.headers
        if request.path == BRAVE_PATH:
            if headers.get("x-subscription-token") != self.key:
                raise ValidationFailed("brave: missing X-Subscription-Token")
            if not request.query.get("q") or not request.query.get("count", "").isdigit():
                raise ValidationFailed("brave: q and count are required")
        elif request.path == TAVILY_PATH:
            if headers.get("authorization") != f"Bearer {self.key}":
                raise ValidationFailed("tavily: missing bearer key")
            body = request.body
            if not isinstance(body, dict) or set(body) != {"query", "max_results"}:
                raise ValidationFailed(f"tavily: unexpected body {body!r}")
        elif request.path == SERPER_PATH:
            if headers.get("x-api-key") != self.key:
                raise ValidationFailed("serper: missing X-API-KEY")
            body = request.body
            if not isinstance(body, dict) or set(body) != {"q", "num"}:
                raise ValidationFailed(f"serper: unexpected body {body!r}")
        else:
            raise ValidationFailed(f"unknown path {request.path}")


def _json(data: object) -> Reply:
    return Reply(body=orjson.dumps(data), content_type="application/json")


def brave_results(items: list[tuple[str, str, str]]) -> Reply:
    return _json(
        {
            "type": "search",
            "query": {"original": "q"},
            "web": {
                "type": "search",
                "results": [
                    {"title": t, "url": u, "description": d, "type": "search_result"}
                    for t, u, d in items
                ],
            },
        }
    )


def tavily_results(items: list[tuple[str, str, str]]) -> Reply:
    return _json(
        {
            "query": "q",
            "answer": None,
            "results": [{"title": t, "url": u, "content": d, "score": 0.9} for t, u, d in items],
            "response_time": 0.5,
        }
    )


def serper_results(items: list[tuple[str, str, str]]) -> Reply:
    return _json(
        {
            "searchParameters": {"q": "q", "type": "search"},
            "organic": [
                {"title": t, "link": u, "snippet": d, "position": i}
                for i, (t, u, d) in enumerate(items, 1)
            ],
        }
    )
