"""A loopback Google Antigravity (Cloud Code) server, strict about what clients send:

- `POST /v1internal:loadCodeAssist`: the project discovery a sign-in makes (bearer, client
  metadata); answers with `cloudaicompanionProject` (as a string, or `{id}` when `project_as_object`)
  or, for an account without one (`project=None`), an answer naming none.
- `POST /v1internal:streamGenerateContent?alt=sse`: a bearer the server issued, a `user-agent`
  starting with `antigravity/`, `accept: text/event-stream`, `anthropic-beta` on Claude thinking
  models, and the envelope exactly as pi-ai sends it (`{project, model, request: {...,
  sessionId}, requestType: "agent", userAgent: "antigravity", requestId: "agent-..."}`); the inner
  body is validated like the Gemini server's (and by google-genai's types), with Claude models'
  tools in `parameters`. Replies are `{response, traceId}` chunks (tests/servers/gemini_streams.py).
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from tests.servers.base import LoopbackServer, RecordedRequest, ValidationFailed
from tests.servers.gemini import METADATA, validate_generate_content
from tests.servers.gemini_streams import google_error
from tests.servers.oauth import OAuthServer

ENVELOPE_KEYS = {"project", "model", "request", "requestType", "userAgent", "requestId"}
MODELS = {
    "gemini-3.1-pro-high",
    "gemini-3.1-pro-low",
    "gemini-3-flash",
    "claude-sonnet-4-6",
    "claude-sonnet-4-5",
    "claude-sonnet-4-5-thinking",
    "claude-opus-4-5-thinking",
    "claude-opus-4-6-thinking",
    "gpt-oss-120b-medium",
}


class AntigravityServer(LoopbackServer):
    """Accepts the bearer `token`, or, with an `issuer`, every live access token that loopback
    authorization server issued (so refreshed tokens work as they do against Google)."""

    def __init__(
        self,
        *,
        token: str = "ya29.antigravity",
        issuer: OAuthServer | None = None,
        project: str | None = "ag-project-1",
        project_as_object: bool = False,
    ) -> None:
        super().__init__()
        self.token = token
        self.issuer = issuer
        self.project = project
        self.project_as_object = project_as_object
        self.expired_tokens: set[str] = set()

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v1internal:streamGenerateContent", self.handle)
        app.router.add_post("/v1internal:loadCodeAssist", self.discovery)

    def _auth_reply(self, request: RecordedRequest) -> web.Response | None:
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer "):
            raise ValidationFailed("missing bearer token")
        if "x-goog-api-key" in request.headers:
            raise ValidationFailed("an API key header on a sign-in route")
        if auth[7:] in self.expired_tokens:
            body = google_error(
                401, "Request had invalid authentication credentials.", "UNAUTHENTICATED"
            )
            return web.Response(status=401, body=body, content_type="application/json")
        accepted = self.issuer.live_access_tokens() if self.issuer else {self.token}
        if auth[7:] not in accepted:
            raise ValidationFailed("wrong bearer token")
        return None

    def _rejected(self, exc: ValidationFailed) -> web.Response:
        self.violations.append(str(exc))
        body = google_error(400, str(exc), "INVALID_ARGUMENT")
        return web.Response(status=400, body=body, content_type="application/json")

    async def handle(self, request: web.Request) -> web.StreamResponse:
        recorded = await self.record(request)
        try:
            denied = self._auth_reply(recorded)
            if denied is not None:
                return denied
            self.validate(recorded)
        except ValidationFailed as exc:
            return self._rejected(exc)
        return await self.send(request, self.next_reply(recorded))

    def validate(self, request: RecordedRequest) -> None:
        headers = request.headers
        if request.query.get("alt") != "sse":
            raise ValidationFailed("streaming needs ?alt=sse")
        if not headers.get("content-type", "").startswith("application/json"):
            raise ValidationFailed("content-type must be application/json")
        if headers.get("accept") != "text/event-stream":
            raise ValidationFailed("accept must be text/event-stream")
        if not headers.get("user-agent", "").startswith("antigravity/"):
            raise ValidationFailed(
                f"the route needs an antigravity/ user-agent, got {headers.get('user-agent')!r}"
            )
        body = request.body
        if not isinstance(body, dict) or set(body) != ENVELOPE_KEYS:
            raise ValidationFailed(f"bad Antigravity envelope keys {sorted(body or {})}")
        model = body["model"]
        if model not in MODELS:
            raise ValidationFailed(f"unknown model {model!r}")
        if body["project"] != (self.project or "rising-fact-p41fc"):
            raise ValidationFailed(f"project {body['project']!r} is not this account's")
        if body["requestType"] != "agent" or body["userAgent"] != "antigravity":
            raise ValidationFailed("requestType must be 'agent' and userAgent 'antigravity'")
        if not str(body["requestId"]).startswith("agent-") or len(body["requestId"]) < 10:
            raise ValidationFailed("requestId must be agent-<unique>")
        thinking_claude = model.startswith("claude-") and "thinking" in model
        beta = headers.get("anthropic-beta")
        if thinking_claude != (beta == "interleaved-thinking-2025-05-14"):
            raise ValidationFailed(f"anthropic-beta {beta!r} does not fit model {model}")
        inner = body["request"]
        if not isinstance(inner, dict) or not isinstance(inner.get("sessionId"), str):
            raise ValidationFailed("request must carry a string sessionId")
        inner = {k: v for k, v in inner.items() if k != "sessionId"}
        for tool in inner.get("tools") or []:
            for declaration in tool.get("functionDeclarations") or []:
                wanted = "parameters" if model.startswith("claude-") else "parametersJsonSchema"
                if wanted not in declaration:
                    raise ValidationFailed(f"{model} takes tool schemas in {wanted}")
        if thinking_claude:
            config = (inner.get("generationConfig") or {}).get("thinkingConfig") or {}
            limit = (inner.get("generationConfig") or {}).get("maxOutputTokens", 0)
            if not config.get("includeThoughts") or config.get("thinkingBudget", 0) >= limit:
                raise ValidationFailed("Claude thinking needs a budget below maxOutputTokens")
        validate_generate_content(inner)

    async def discovery(self, request: web.Request) -> web.StreamResponse:
        recorded = await self.record(request)
        try:
            denied = self._auth_reply(recorded)
            if denied is not None:
                return denied
            body = recorded.body
            if not isinstance(body, dict) or body.get("metadata") != METADATA:
                raise ValidationFailed(f"client metadata missing in {body!r}")
            if orjson.loads(recorded.headers.get("client-metadata", "{}")) != METADATA:
                raise ValidationFailed("the client-metadata header is missing")
        except ValidationFailed as exc:
            return self._rejected(exc)
        answer: dict[str, Any] = {"currentTier": {"id": "free-tier"}}
        if self.project is not None:
            answer["cloudaicompanionProject"] = (
                {"id": self.project, "name": self.project}
                if self.project_as_object
                else self.project
            )
        return web.Response(body=orjson.dumps(answer), content_type="application/json")
