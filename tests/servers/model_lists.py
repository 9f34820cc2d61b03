"""Loopback model-list servers for every provider, serving a list page by page.

Each validates the request as the real API would (method, path, auth header, version headers, query
keys) and answers a wrong key the way the real API does (Anthropic and OpenAI 401, Google 400
API_KEY_INVALID). Pages are computed from `models` and `page_size`; a scripted `Reply` (see `script`)
takes precedence, for malformed bodies and faults. What they serve is checked against the official
SDKs in tests/catalog/test_list_servers_sdk.py.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from tests.servers.base import LoopbackServer, RecordedRequest, Reply, ValidationFailed
from tests.servers.openai_chat import ChatCompletionsServer

# The API versions the Messages API accepts (the current SDK sends the newest).
ANTHROPIC_VERSIONS = {"2023-06-01", "2026-10-21"}


def json_reply(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    return Reply(
        status=status,
        body=orjson.dumps(body),
        content_type="application/json",
        headers={"request-id": "req_models_1", **(headers or {})},
    )


def _check_query(request: RecordedRequest, allowed: set[str]) -> None:
    unknown = set(request.query) - allowed
    if unknown:
        raise ValidationFailed(f"unknown query parameters {sorted(unknown)}")
    if request.method != "GET":
        raise ValidationFailed(f"model lists are GET, got {request.method}")
    if request.raw:
        raise ValidationFailed("a GET must not carry a body")


def _page_size(request: RecordedRequest, key: str, default: int, maximum: int) -> int:
    raw = request.query.get(key)
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        raise ValidationFailed(f"{key} must be an integer in 1..{maximum}, got {raw!r}")
    return int(raw)


class AnthropicModelsServer(LoopbackServer):
    """`GET /v1/models` with `limit`, `after_id`; the key in x-api-key or as a bearer token (the current
    SDK sends it so), or an OAuth token (`sk-ant-oat...`) with the oauth beta."""

    def __init__(
        self, models: list[dict[str, Any]], *, api_key: str = "test-key", page_size: int = 20
    ):
        super().__init__()
        self.models, self.api_key, self.page_size = models, api_key, page_size
        self.default_reply = self.page

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/v1/models", self.handle)

    def validate(self, request: RecordedRequest) -> None:
        _check_query(request, {"limit", "after_id", "before_id"})
        if request.headers.get("anthropic-version") not in ANTHROPIC_VERSIONS:
            raise ValidationFailed(f"anthropic-version must be one of {sorted(ANTHROPIC_VERSIONS)}")
        bearer = request.headers.get("authorization", "")
        if not request.headers.get("x-api-key") and not bearer.startswith("Bearer "):
            raise ValidationFailed("x-api-key or Authorization: Bearer is required")
        if bearer.startswith("Bearer sk-ant-oat") and "oauth-2025-04-20" not in request.headers.get(
            "anthropic-beta", ""
        ):
            raise ValidationFailed("an OAuth token needs anthropic-beta: oauth-2025-04-20")
        _page_size(request, "limit", 20, 1000)
        after = request.query.get("after_id")
        if after is not None and after not in [m["id"] for m in self.models]:
            raise ValidationFailed(f"after_id {after!r} is not a listed id")

    def page(self, request: RecordedRequest) -> Reply:
        given = request.headers.get("x-api-key") or request.headers["authorization"][7:]
        if given != self.api_key:
            return json_reply(
                {
                    "type": "error",
                    "error": {"type": "authentication_error", "message": "invalid x-api-key"},
                },
                401,
            )
        ids = [m["id"] for m in self.models]
        after = request.query.get("after_id")
        start = ids.index(after) + 1 if after else 0
        size = min(self.page_size, _page_size(request, "limit", 20, 1000))
        data = self.models[start : start + size]
        return json_reply(
            {
                "data": data,
                "has_more": start + size < len(self.models),
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
            }
        )


def anthropic_model(
    model_id: str, name: str, context: int | None = None, out: int | None = None
) -> dict[str, Any]:
    return {
        "type": "model",
        "id": model_id,
        "display_name": name,
        "created_at": "2026-02-17T00:00:00Z",
        "lifecycle": "active",
        "max_input_tokens": context,
        "max_tokens": out,
    }


def _bearer(request: RecordedRequest) -> str | None:
    value = request.headers.get("authorization", "")
    if not value.startswith("Bearer "):
        raise ValidationFailed("Authorization: Bearer is required")
    return value[7:]


def _unauthorized_openai() -> Reply:
    return json_reply(
        {
            "error": {
                "message": "Incorrect API key provided.",
                "type": "invalid_request_error",
                "param": None,
                "code": "invalid_api_key",
            }
        },
        401,
    )


def validate_openai_list(request: RecordedRequest) -> None:
    _check_query(request, set())
    _bearer(request)


def openai_list_body(models: list[dict[str, Any]]) -> dict[str, Any]:
    return {"object": "list", "data": models}


def openai_model(model_id: str, owner: str = "openai") -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": 1_754_000_000, "owned_by": owner}


class OpenAIModelsServer(LoopbackServer):
    """`GET {prefix}/v1/models` with a bearer key (OpenAI and OpenAI-compatible servers)."""

    def __init__(
        self, models: list[dict[str, Any]], *, api_key: str = "test-key", prefix: str = ""
    ):
        super().__init__()
        self.models, self.api_key, self.prefix = models, api_key, prefix
        self.default_reply = self.page

    def routes(self, app: web.Application) -> None:
        app.router.add_get(f"{self.prefix}/v1/models", self.handle)

    def validate(self, request: RecordedRequest) -> None:
        validate_openai_list(request)

    def page(self, request: RecordedRequest) -> Reply:
        if _bearer(request) != self.api_key:
            return _unauthorized_openai()
        return json_reply(openai_list_body(self.models))


class CompatibleServer(ChatCompletionsServer):
    """An OpenAI-compatible endpoint: chat completions plus `GET /v1/models`; `api_key=None` is a
    keyless local server (LM Studio, vLLM, llama.cpp) that refuses any authorization header."""

    def __init__(self, models: list[str], *, api_key: str | None = "test-key") -> None:
        super().__init__(api_key=api_key, keyless=api_key is None)
        self.models = models

    def routes(self, app: web.Application) -> None:
        super().routes(app)
        app.router.add_get("/v1/models", self.handle_models)

    async def handle_models(self, request: web.Request) -> web.StreamResponse:
        recorded = await self.record(request)
        try:
            if self.keyless:
                _check_query(recorded, set())
                if "authorization" in recorded.headers:
                    raise ValidationFailed("a keyless server got an authorization header")
            else:
                validate_openai_list(recorded)
        except ValidationFailed as exc:
            self.violations.append(str(exc))
            return web.Response(status=400, text=str(exc))
        if not self.keyless and _bearer(recorded) != self.api_key:
            return await self.send(request, _unauthorized_openai())
        body = openai_list_body([openai_model(m, "vllm") for m in self.models])
        return await self.send(request, json_reply(body))


class CodexModelsServer(LoopbackServer):
    """The ChatGPT backend's `GET /backend-api/codex/models?client_version=...`."""

    def __init__(
        self, models: list[dict[str, Any]], *, token: str = "chatgpt-token", account: str = "acct_1"
    ):
        super().__init__()
        self.models, self.token, self.account = models, token, account
        self.default_reply = self.page

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/backend-api/codex/models", self.handle)

    def validate(self, request: RecordedRequest) -> None:
        _check_query(request, {"client_version"})
        if not request.query.get("client_version"):
            raise ValidationFailed("client_version is required")
        _bearer(request)
        if request.headers.get("chatgpt-account-id") != self.account:
            raise ValidationFailed("chatgpt-account-id must name the signed-in account")

    def page(self, request: RecordedRequest) -> Reply:
        if _bearer(request) != self.token:
            return json_reply({"detail": "Could not parse your authentication token."}, 401)
        return json_reply({"models": self.models})


class GeminiModelsServer(LoopbackServer):
    """`GET /v1beta/models` (and `/v1/models`) with `pageSize`, `pageToken` and an `x-goog-api-key`
    header."""

    def __init__(
        self, models: list[dict[str, Any]], *, api_key: str = "test-key", page_size: int = 50
    ):
        super().__init__()
        self.models, self.api_key, self.page_size = models, api_key, page_size
        self.default_reply = self.page

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/v1beta/models", self.handle)
        app.router.add_get("/v1/models", self.handle)

    def validate(self, request: RecordedRequest) -> None:
        _check_query(request, {"pageSize", "pageToken", "filter"})
        if not request.headers.get("x-goog-api-key"):
            raise ValidationFailed("x-goog-api-key is required")
        _page_size(request, "pageSize", 50, 1000)
        token = request.query.get("pageToken")
        if token is not None and not (token.startswith("page-") and token[5:].isdigit()):
            raise ValidationFailed(f"unknown pageToken {token!r}")

    def page(self, request: RecordedRequest) -> Reply:
        if request.headers["x-goog-api-key"] != self.api_key:
            return json_reply(
                {
                    "error": {
                        "code": 400,
                        "message": "API key not valid. Please pass a valid API key.",
                        "status": "INVALID_ARGUMENT",
                        "details": [
                            {
                                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                                "reason": "API_KEY_INVALID",
                                "domain": "googleapis.com",
                            }
                        ],
                    }
                },
                400,
            )
        token = request.query.get("pageToken")
        start = int(token[5:]) if token else 0
        size = min(self.page_size, _page_size(request, "pageSize", 50, 1000))
        end = start + size
        body: dict[str, Any] = {"models": self.models[start:end]}
        if end < len(self.models):
            body["nextPageToken"] = f"page-{end}"
        return json_reply(body)


def gemini_model(
    name: str,
    display: str,
    context: int = 1_048_576,
    out: int = 65_536,
    methods: list[str] | None = None,
) -> dict[str, Any]:
    return {
        "name": f"models/{name}",
        "version": "001",
        "displayName": display,
        "description": display,
        "inputTokenLimit": context,
        "outputTokenLimit": out,
        "supportedGenerationMethods": methods or ["generateContent", "countTokens"],
        "temperature": 1,
        "topP": 0.95,
        "topK": 64,
        "thinking": True,
    }


class CopilotModelsServer(LoopbackServer):
    """Copilot's `GET {api}/models` with a bearer token and the editor headers."""

    def __init__(self, models: list[dict[str, Any]], *, token: str = "copilot-token"):
        super().__init__()
        self.models, self.token = models, token
        self.default_reply = self.page

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/models", self.handle)

    def validate(self, request: RecordedRequest) -> None:
        _check_query(request, set())
        _bearer(request)
        for header in ("editor-version", "copilot-integration-id"):
            if not request.headers.get(header):
                raise ValidationFailed(f"the {header} header is required")

    def page(self, request: RecordedRequest) -> Reply:
        if _bearer(request) != self.token:
            return json_reply({"message": "Bad credentials"}, 401)
        return json_reply({"object": "list", "data": self.models})


def copilot_model(
    model_id: str, name: str, context: int, out: int, kind: str = "chat"
) -> dict[str, Any]:
    return {
        "id": model_id,
        "name": name,
        "object": "model",
        "vendor": "Anthropic" if model_id.startswith("claude") else "OpenAI",
        "version": model_id,
        "model_picker_enabled": True,
        "preview": False,
        "capabilities": {
            "family": model_id,
            "type": kind,
            "object": "model_capabilities",
            "tokenizer": "o200k_base",
            "limits": {
                "max_context_window_tokens": context,
                "max_output_tokens": out,
                "max_prompt_tokens": context - out,
            },
            "supports": {"streaming": True, "tool_calls": True, "vision": True},
        },
        "policy": {"state": "enabled", "terms": "Enable access to the latest models."},
    }
