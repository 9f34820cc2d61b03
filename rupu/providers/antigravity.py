"""The antigravity provider: Gemini, Claude and GPT-OSS models through Google Antigravity's Cloud
Code route, with an Antigravity sign-in (`rupu auth login --provider antigravity --mode sso`).

What goes on the wire, as pi-ai's `google-gemini-cli.ts` sends it for `google-antigravity`:

- `POST {base}/v1internal:streamGenerateContent?alt=sse`, the base the daily sandbox
  (`https://daily-cloudcode-pa.sandbox.googleapis.com`), then, when that answers 403 or 404, the
  autopush sandbox and production (`https://cloudcode-pa.googleapis.com`), remembered for the
  provider's life (one agent step); `[providers.antigravity] base_url` names the one endpoint to use instead;
- `Authorization: Bearer <access token>` and a `user-agent` starting with `antigravity/` (the route
  requires it; `[providers.antigravity] headers` overrides it); Claude thinking models add
  `anthropic-beta: interleaved-thinking-2025-05-14`;
- the body `{project, model, request: {<generateContent body>, sessionId}, requestType: "agent",
  userAgent: "antigravity", requestId}`; streamed chunks are `{response: {...}, traceId}`, decoded by
  the gemini provider's decoder. Claude models take tools with `parameters` (the route translates
  it into Anthropic's `input_schema`), not `parametersJsonSchema`.

The project comes from the config (`project`), else from the sign-in (discovered when signing in,
`rupu.auth.oauth.antigravity`), else it is discovered once per process the same way. pi-ai also
prepends a "You are Antigravity" system prompt; rupu does not rewrite the agent's prompt.
"""

from __future__ import annotations

import platform
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import anyio
import orjson

from rupu.auth.credentials import Credential
from rupu.auth.oauth.antigravity import (
    CLIENT_METADATA,
    DEFAULT_PROJECT,
    PROD_ENDPOINT,
    project_of,
)
from rupu.config.builtins import builtin_url
from rupu.errors import AuthRejected, ProviderError
from rupu.messages import ModelRequest, StreamEvent
from rupu.providers.base import ProviderSetup
from rupu.providers.dialect import BaseDialect, WireRequest
from rupu.providers.gemini import GenerateContentEvents
from rupu.providers.gemini_dialect import bare_model, encode_request
from rupu.providers.gemini_errors import google_error_from_response
from rupu.providers.http import HttpClient, request_id_of
from rupu.providers.http_provider import HttpProvider

DEFAULT_BASE_URL = builtin_url("antigravity", "base_url")
AUTOPUSH_ENDPOINT = "https://autopush-cloudcode-pa.sandbox.googleapis.com"
ENDPOINTS = (DEFAULT_BASE_URL, AUTOPUSH_ENDPOINT, PROD_ENDPOINT)
ANTIGRAVITY_VERSION = "1.18.4"
CLAUDE_THINKING_BETA = "interleaved-thinking-2025-05-14"
_BUDGETS = {"minimal": 1024, "low": 2048, "medium": 8192, "high": 24576, "max": 32768}
CLAUDE_MAX_OUTPUT = 64000

_projects: dict[tuple[str, ...], str] = {}
_locks: dict[tuple[str, ...], anyio.Lock] = {}


def user_agent() -> str:
    system = platform.system().lower() or "unknown"
    machine = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine().lower())
    return f"antigravity/{ANTIGRAVITY_VERSION} {system}/{machine or platform.machine().lower()}"


def is_claude(model: str) -> bool:
    return bare_model(model).startswith("claude-")


def wrap_request(
    body: Mapping[str, Any], *, model: str, project: str, session_id: str
) -> dict[str, Any]:
    """The Antigravity envelope around a generateContent body."""
    return {
        "project": project,
        "model": model,
        "request": {**body, "sessionId": session_id},
        "requestType": "agent",
        "userAgent": "antigravity",
        "requestId": f"agent-{uuid.uuid4().hex}",
    }


def encode_body(request: ModelRequest, *, provider: str) -> dict[str, Any]:
    """The generateContent body, with the changes Claude models on this route need."""
    model = bare_model(request.model)
    body = encode_request(request, provider=provider, signature_fallback="gemini-3" in model)
    if not is_claude(model):
        return body
    for tool in body.get("tools", ()):
        for declaration in tool["functionDeclarations"]:
            declaration["parameters"] = declaration.pop("parametersJsonSchema")
    if "thinking" in model:
        generation = body.setdefault("generationConfig", {})
        effort = request.effort if request.effort in _BUDGETS else "medium"
        budget = _BUDGETS[effort]
        generation["thinkingConfig"] = {"includeThoughts": True, "thinkingBudget": budget}
        wanted = max(generation.get("maxOutputTokens", 0), budget + 8192)
        generation["maxOutputTokens"] = min(wanted, CLAUDE_MAX_OUTPUT)
    return body


class AntigravityDialect(BaseDialect):
    def __init__(self, setup: ProviderSetup) -> None:
        super().__init__(setup.name)
        self._config = setup.config
        self._session_id = str(uuid.uuid4())
        self._serving = 0  # the index in ENDPOINTS that answers

    def explain_error(self, status: int, headers: Mapping[str, str], body: bytes) -> ProviderError:
        return google_error_from_response(self.provider, status, headers, body)

    async def encode(
        self, request: ModelRequest, credential: Credential | None, *, http: HttpClient
    ) -> WireRequest:
        credential = self.require(
            credential, "run `rupu auth login --provider antigravity --mode sso`"
        )
        config = self._config
        base = self.base_url()
        headers: dict[str, str] = {
            "content-type": "application/json",
            "user-agent": user_agent(),
            **config.headers,
            "accept": "text/event-stream",
            "authorization": f"Bearer {credential.secret.reveal()}",
        }
        model = bare_model(request.model)
        if is_claude(model) and "thinking" in model:
            headers["anthropic-beta"] = CLAUDE_THINKING_BETA
        project = config.project or credential.extras.get("project")
        if not project:
            endpoints = (base,) if config.base_url else (base, PROD_ENDPOINT)
            project = await discover(http, endpoints, headers, cache_key=(base, credential.source))
        body = wrap_request(
            encode_body(request, provider=self.provider),
            model=model,
            project=project,
            session_id=self._session_id,
        )
        url = f"{base}/v1internal:streamGenerateContent?alt=sse"
        return WireRequest(url, headers, body, variant="antigravity")

    def base_url(self) -> str:
        if self._config.base_url:
            return self._config.base_url.rstrip("/")
        return ENDPOINTS[self._serving]

    def next_endpoint(self, failed: str) -> bool:
        """After `failed` refused the request (403/404): move to the next default endpoint; False
        when `base_url` is configured or no endpoint is left."""
        if self._config.base_url or failed not in ENDPOINTS:
            return False
        index = ENDPOINTS.index(failed)
        if index + 1 >= len(ENDPOINTS):
            return False
        self._serving = max(self._serving, index + 1)
        return True

    def decoder(
        self, request: ModelRequest, wire: WireRequest, headers: Mapping[str, str]
    ) -> GenerateContentEvents:
        return GenerateContentEvents(self.provider, request_id_of(headers), envelope=True)


async def discover(
    http: HttpClient,
    endpoints: Sequence[str],
    headers: Mapping[str, str],
    *,
    cache_key: tuple[str, ...],
) -> str:
    """The project of a sign-in that carries none (once per process): `loadCodeAssist` on each of
    `endpoints` until one names it; Antigravity's shared default project when none does."""
    if cached := _projects.get(cache_key):
        return cached
    async with _locks.setdefault(cache_key, anyio.Lock()):
        if cached := _projects.get(cache_key):
            return cached
        project = None
        for endpoint in dict.fromkeys(endpoints):
            try:
                answer, _ = await http.request_json(
                    "POST",
                    f"{endpoint}/v1internal:loadCodeAssist",
                    headers={
                        **headers,
                        "accept": "application/json",
                        "client-metadata": orjson.dumps(CLIENT_METADATA).decode(),
                    },
                    body={"metadata": CLIENT_METADATA},
                )
            except AuthRejected:
                raise  # a refreshed token may cure it; the request is retried once
            except ProviderError:
                continue
            if project := project_of(answer):
                break
        _projects[cache_key] = project or DEFAULT_PROJECT
        return _projects[cache_key]


class AntigravityProvider(HttpProvider):
    """The HTTP provider, plus pi-ai's endpoint cascade: a 403 or 404 (which arrive before any
    output) from a default endpoint sends the same request to the next one at once."""

    def __init__(self, setup: ProviderSetup) -> None:
        self.endpoints = AntigravityDialect(setup)
        super().__init__(setup, self.endpoints)

    async def _send(
        self, request: ModelRequest, credential: Credential | None
    ) -> AsyncIterator[StreamEvent]:
        while True:
            base = self.endpoints.base_url()
            try:
                async for event in super()._send(request, credential):
                    yield event
                return
            except ProviderError as exc:
                if exc.status not in (403, 404) or not self.endpoints.next_endpoint(base):
                    raise


def create(setup: ProviderSetup) -> AntigravityProvider:
    return AntigravityProvider(setup)
