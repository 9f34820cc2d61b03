"""A loopback GitHub Copilot: the token exchange (`GET /copilot_internal/v2/token`) and the Copilot API
(`POST {api}/chat/completions`, `GET {api}/models`) on one socket.

The exchange validates the GitHub token (`Authorization: token <github token>`) and the editor
headers, counts exchanges, and issues tokens whose expiry follows `clock` and `lifetime`; a wrong
GitHub token gets GitHub's 401, and `exchange_script` scripts other answers (403/404 for an account
without Copilot, 5xx). The API requires a Copilot token this server issued and has not revoked, the
editor, initiator and intent headers, and a body without what Copilot refuses (`store`, the
`developer` role, `reasoning_effort`); the body is then validated like `ChatCompletionsServer`'s
(which checks it against the official `openai` SDK's request type). A model the account's list does
not serve on `/chat/completions` is refused with Copilot's 400 `model_not_supported`.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import deque
from typing import Any

import orjson
from aiohttp import web

from rupu.clock import SYSTEM_CLOCK, Clock
from tests.servers.base import RecordedRequest, Reply, ValidationFailed
from tests.servers.openai_chat import ChatCompletionsServer

EXCHANGE_PATH = "/copilot_internal/v2/token"
EDITOR_HEADERS = ("editor-version", "editor-plugin-version", "copilot-integration-id", "user-agent")

DEFAULT_MODELS: list[dict[str, Any]] = [
    {"id": "gpt-4.1", "supported_endpoints": ["/chat/completions"], "policy": "enabled"},
    {"id": "gpt-4o", "supported_endpoints": ["/chat/completions"], "policy": "enabled"},
    {"id": "gpt-5-mini", "supported_endpoints": ["/chat/completions", "/responses"]},
    {"id": "claude-sonnet-4.6", "supported_endpoints": ["/chat/completions", "/v1/messages"]},
    {"id": "gemini-2.5-pro", "supported_endpoints": ["/chat/completions"], "policy": "disabled"},
    {"id": "text-embedding-3-small", "type": "embeddings"},
]


def model_entry(spec: dict[str, Any]) -> dict[str, Any]:
    """One `/models` entry shaped like Copilot's."""
    entry: dict[str, Any] = {
        "id": spec["id"],
        "name": spec["id"],
        "object": "model",
        "vendor": "test",
        "version": spec["id"],
        "model_picker_enabled": True,
        "preview": False,
        "capabilities": {
            "type": spec.get("type", "chat"),
            "family": spec["id"],
            "supports": {"streaming": True, "tool_calls": True},
        },
    }
    if "supported_endpoints" in spec:
        entry["supported_endpoints"] = spec["supported_endpoints"]
    if "policy" in spec:
        entry["policy"] = {"state": spec["policy"], "terms": "test terms"}
    return entry


def github_error(status: int, message: str) -> Reply:
    body = {"message": message, "documentation_url": "https://docs.github.com/rest"}
    return Reply(status=status, body=orjson.dumps(body), content_type="application/json")


def no_copilot_reply(status: int = 404) -> Reply:
    """What the exchange answers for an account without a Copilot seat."""
    if status == 403:
        body = {
            "error_details": {
                "message": "You do not have access to GitHub Copilot.",
                "notification_id": "no_copilot_access",
            },
            "message": "Resource not accessible by integration",
        }
        return Reply(status=403, body=orjson.dumps(body), content_type="application/json")
    return github_error(status, "Not Found")


class CopilotServer(ChatCompletionsServer):
    def __init__(
        self,
        *,
        github_token: str = "ghp_test_github_token",
        lifetime: float = 1800.0,
        clock: Clock = SYSTEM_CLOCK,
        api_prefix: str = "",
        models: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(api_key=None, path=f"{api_prefix}/chat/completions")
        self.github_token = github_token
        self.lifetime = lifetime
        self.clock = clock
        self.api_prefix = api_prefix
        self.advertised_api: str | None = None
        self.include_endpoints = True
        self.models = DEFAULT_MODELS if models is None else models
        self.exchange_delay = 0.0
        self.exchange_script: deque[Reply] = deque()
        self.exchange_requests: list[RecordedRequest] = []
        self.issued: dict[str, float] = {}
        self.revoked: set[str] = set()
        self.refuse_all_tokens = False
        self.model_requests: list[RecordedRequest] = []

    @property
    def exchanges(self) -> int:
        return len(self.exchange_requests)

    @property
    def exchange_url(self) -> str:
        return self.base_url + EXCHANGE_PATH

    @property
    def api_base(self) -> str:
        return self.advertised_api or self.base_url + self.api_prefix

    def revoke_issued(self) -> None:
        """Every token issued so far stops working, although none has expired."""
        self.revoked |= set(self.issued)

    def routes(self, app: web.Application) -> None:
        app.router.add_get(EXCHANGE_PATH, self.handle_exchange)
        app.router.add_post(self.path, self.handle)
        app.router.add_get(f"{self.api_prefix}/models", self.handle_models)

    # -- token exchange -----------------------------------------------------------------------------
    async def handle_exchange(self, request: web.Request) -> web.StreamResponse:
        recorded = await self.record(request)
        self.requests.remove(recorded)
        self.exchange_requests.append(recorded)
        if self.exchange_delay:
            await asyncio.sleep(self.exchange_delay)
        try:
            self.validate_exchange(recorded)
        except ValidationFailed as exc:
            self.violations.append(str(exc))
            return await self.send(request, github_error(400, str(exc)))
        if recorded.headers["authorization"] != f"token {self.github_token}":
            return await self.send(request, github_error(401, "Bad credentials"))
        if self.exchange_script:
            return await self.send(request, self.exchange_script.popleft())
        return await self.send(request, self.mint())

    def validate_exchange(self, recorded: RecordedRequest) -> None:
        if recorded.raw:
            raise ValidationFailed("the token exchange is a GET without a body")
        scheme, _, value = recorded.headers.get("authorization", "").partition(" ")
        if scheme != "token" or not value:
            raise ValidationFailed("the exchange needs `Authorization: token <github token>`")
        missing = [h for h in EDITOR_HEADERS if not recorded.headers.get(h)]
        if missing:
            raise ValidationFailed(f"the exchange is missing editor headers {missing}")

    def mint(self) -> Reply:
        number = len(self.issued) + 1
        expires_at = int(self.clock.time() + self.lifetime)
        token = (
            f"tid=test-{number};exp={expires_at};sku=copilot_for_business_seat;"
            f"proxy-ep=proxy.business.githubcopilot.com;8kp=1:cpt-canary-{number}-{secrets.token_hex(6)}"
        )
        self.issued[token] = expires_at
        body: dict[str, Any] = {
            "token": token,
            "expires_at": expires_at,
            "refresh_in": int(self.lifetime) - 300,
            "annotations_enabled": True,
            "chat_enabled": True,
            "sku": "copilot_for_business_seat",
            "tracking_id": "test-tracking",
        }
        if self.include_endpoints:
            body["endpoints"] = {
                "api": self.api_base,
                "proxy": "https://proxy.business.githubcopilot.com",
                "telemetry": "https://telemetry.business.githubcopilot.com",
            }
        return Reply(body=orjson.dumps(body), content_type="application/json")

    # -- Copilot API ----------------------------------------------------------------------------------
    def token_is_valid(self, recorded: RecordedRequest) -> bool:
        scheme, _, token = recorded.headers.get("authorization", "").partition(" ")
        expires_at = self.issued.get(token)
        return (
            scheme == "Bearer"
            and expires_at is not None
            and token not in self.revoked
            and not self.refuse_all_tokens
            and self.clock.time() < expires_at
        )

    def validate_api_headers(self, recorded: RecordedRequest) -> None:
        missing = [h for h in EDITOR_HEADERS if not recorded.headers.get(h)]
        if missing:
            raise ValidationFailed(f"missing editor headers {missing}")
        if recorded.headers["copilot-integration-id"] != "vscode-chat":
            raise ValidationFailed("copilot-integration-id must be vscode-chat")

    def validate(self, request: RecordedRequest) -> None:
        self.validate_api_headers(request)
        if request.headers.get("x-initiator") not in ("user", "agent"):
            raise ValidationFailed("x-initiator must be user or agent")
        if request.headers.get("openai-intent") != "conversation-edits":
            raise ValidationFailed("openai-intent must be conversation-edits")
        body = request.body if isinstance(request.body, dict) else {}
        for key in ("store", "reasoning_effort"):
            if key in body:
                raise ValidationFailed(f"Copilot's chat completions refuse `{key}`")
        if any(
            isinstance(m, dict) and m.get("role") == "developer" for m in body.get("messages") or []
        ):
            raise ValidationFailed("Copilot's chat completions refuse the developer role")
        super().validate(request)

    def next_reply(self, recorded: RecordedRequest) -> Reply:
        if not self.token_is_valid(recorded):
            return copilot_error(401, "unauthorized: token expired", "unauthorized")
        model = recorded.body.get("model") if isinstance(recorded.body, dict) else None
        if model not in self.chat_ids():
            return copilot_error(
                400,
                "The requested model is not supported.",
                "invalid_request_error",
                "model_not_supported",
            )
        return super().next_reply(recorded)

    def chat_ids(self) -> list[str]:
        return [
            m["id"]
            for m in self.models
            if "/chat/completions" in m.get("supported_endpoints", ())
            and m.get("policy", "enabled") == "enabled"
        ]

    async def handle_models(self, request: web.Request) -> web.StreamResponse:
        recorded = await self.record(request)
        self.requests.remove(recorded)
        self.model_requests.append(recorded)
        try:
            self.validate_api_headers(recorded)
        except ValidationFailed as exc:
            self.violations.append(str(exc))
            return await self.send(request, copilot_error(400, str(exc), "invalid_request_error"))
        if not self.token_is_valid(recorded):
            return await self.send(request, copilot_error(401, "unauthorized", "unauthorized"))
        body = {"object": "list", "data": [model_entry(m) for m in self.models]}
        return await self.send(
            request, Reply(body=orjson.dumps(body), content_type="application/json")
        )


def copilot_error(status: int, message: str, error_type: str, code: str | None = None) -> Reply:
    body = {
        "error": {
            "message": message,
            "type": error_type,
            "param": "model" if code else None,
            "code": code,
        }
    }
    return Reply(
        status=status,
        body=orjson.dumps(body),
        content_type="application/json",
        headers={"x-request-id": "copilot-req-1"},
    )
