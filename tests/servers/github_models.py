"""GitHub Models on loopback: `POST /inference/chat/completions` (chat completions, validated like
every OpenAI-compatible endpoint) and `GET /catalog/models` (a bare JSON array of catalog entries),
both with a GitHub token as the bearer and the `x-github-api-version` header."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from tests.servers.base import RecordedRequest, Reply, ValidationFailed
from tests.servers.openai_chat import ChatCompletionsServer

API_VERSION = "2022-11-28"


def catalog_entry(model_id: str, *, max_input: int, max_output: int) -> dict[str, Any]:
    """One entry of `GET /catalog/models`, in the shape GitHub's REST reference shows."""
    publisher, _, name = model_id.partition("/")
    return {
        "id": model_id,
        "name": f"{publisher} {name}",
        "publisher": publisher,
        "registry": "azure-openai",
        "summary": "a model",
        "html_url": f"https://github.com/marketplace/models/azure-openai/{name}",
        "version": "2025-04-14",
        "capabilities": ["streaming", "tool-calling"],
        "limits": {"max_input_tokens": max_input, "max_output_tokens": max_output},
        "rate_limit_tier": "high",
        "supported_input_modalities": ["text"],
        "supported_output_modalities": ["text"],
        "tags": ["multipurpose"],
    }


class GitHubModelsServer(ChatCompletionsServer):
    def __init__(self, *, token: str, catalog: list[dict[str, Any]] | None = None) -> None:
        super().__init__(api_key=token, path="/inference/chat/completions")
        self.catalog = catalog or []

    def routes(self, app: web.Application) -> None:
        super().routes(app)
        app.router.add_get("/catalog/models", self.handle_catalog)

    def validate(self, request: RecordedRequest) -> None:
        if request.headers.get("x-github-api-version") != API_VERSION:
            raise ValidationFailed(f"x-github-api-version must be {API_VERSION}")
        super().validate(request)

    async def handle_catalog(self, request: web.Request) -> web.StreamResponse:
        recorded = await self.record(request)
        problem = None
        if recorded.headers.get("authorization") != f"Bearer {self.api_key}":
            problem = "missing or wrong GitHub token"
        elif recorded.headers.get("x-github-api-version") != API_VERSION:
            problem = f"x-github-api-version must be {API_VERSION}"
        elif recorded.query or recorded.raw:
            problem = "the catalog takes no query and no body"
        if problem is not None:
            self.violations.append(problem)
            return web.Response(status=400, text=problem)
        body = orjson.dumps(self.catalog)
        return await self.send(request, Reply(body=body, content_type="application/json"))
