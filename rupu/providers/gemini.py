"""The gemini provider: the generateContent dialect (`gemini_dialect.py`) over three routes, chosen
by the credential and the config.

| Route       | When                                   | Endpoint                                                       | Auth              |
|-------------|----------------------------------------|----------------------------------------------------------------|-------------------|
| AI Studio   | an API key                             | `{base_url}/v1beta/models/{model}:streamGenerateContent`       | `x-goog-api-key`  |
| Code Assist | a Google sign-in (`sso`)               | `{sso_base_url}/v1internal:streamGenerateContent`              | bearer            |
| Vertex AI   | `region` configured (plus a `project`) | `{base}/v1/projects/{p}/locations/{r}/publishers/google/models/{model}:streamGenerateContent` | bearer or key |

All three stream with `?alt=sse`. A 401 on a sign-in token asks the credential source for a fresh
token once and tries again.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

import orjson

from rupu.auth.credentials import Credential
from rupu.errors import ConfigError, CredentialError, ProviderError, StreamInterrupted
from rupu.messages import ModelRequest, RateLimitObserved, StreamEvent
from rupu.providers.base import ProviderSetup
from rupu.providers.gemini_code_assist import (
    CODE_ASSIST_URL,
    discover_project,
    method_url,
    wrap_request,
)
from rupu.providers.gemini_dialect import (
    GeminiStreamDecoder,
    bare_model,
    encode_request,
    stream_error,
)
from rupu.providers.gemini_errors import google_error_from_response
from rupu.providers.http import (
    HttpClient,
    HttpSettings,
    network_error,
    rate_limit_snapshot,
    request_id_of,
)
from rupu.providers.retry import stream_with_retries, with_fresh_credential_on_401
from rupu.providers.sse_data import SSEDataSplitter
from rupu.version import __version__

if TYPE_CHECKING:
    import httpx

AI_STUDIO_URL = "https://generativelanguage.googleapis.com"
RouteName = Literal["ai-studio", "code-assist", "vertex"]


@dataclass(frozen=True, slots=True)
class GeminiRequest:
    name: RouteName
    url: str
    headers: dict[str, str]
    body: dict[str, Any]


def ai_studio_url(base_url: str, model: str) -> str:
    """`https://host`, `https://host/` and `https://host/v1beta` all reach the v1beta API."""
    root = base_url.rstrip("/")
    if not root.endswith(("/v1beta", "/v1", "/v1alpha")):
        root += "/v1beta"
    return f"{root}/models/{quote(bare_model(model))}:streamGenerateContent?alt=sse"


def vertex_url(base_url: str | None, project: str, region: str, model: str) -> str:
    if base_url:
        host = base_url.rstrip("/")
    elif region == "global":
        host = "https://aiplatform.googleapis.com"
    else:
        host = f"https://{region}-aiplatform.googleapis.com"
    return (
        f"{host}/v1/projects/{quote(project)}/locations/{quote(region)}"
        f"/publishers/google/models/{quote(bare_model(model))}:streamGenerateContent?alt=sse"
    )


async def _default_sleep(seconds: float) -> None:
    import anyio

    await anyio.sleep(seconds)


class GeminiProvider:
    def __init__(self, setup: ProviderSetup) -> None:
        self.name = setup.name
        self._setup = setup
        self._config = setup.config
        self._http = HttpClient(
            setup.name,
            HttpSettings.for_provider(setup.config),
            error_mapper=google_error_from_response,
        )
        self._session_id = str(uuid.uuid4())
        self._sleep = setup.sleep or _default_sleep

    def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        kwargs = {"sleep": self._setup.sleep} if self._setup.sleep else {}
        return stream_with_retries(lambda: self._attempt(request), self._setup.retry, **kwargs)

    async def _attempt(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        source = self._setup.credentials
        if source is None:
            raise CredentialError(
                self.name,
                "no credential was given to the provider",
                hint="set GEMINI_API_KEY, or run `rupu auth login --provider gemini`",
            )
        try:
            async for event in with_fresh_credential_on_401(
                source, lambda credential: self._send(request, credential)
            ):
                yield event
        except ProviderError as exc:
            exc.model = exc.model or request.model
            raise

    async def _send(
        self, request: ModelRequest, credential: Credential
    ) -> AsyncIterator[StreamEvent]:
        route = await self._route(request, credential)
        async with self._http.stream(
            "POST", route.url, headers=route.headers, body=route.body
        ) as response:
            async for event in self._events(response, route):
                yield event

    async def _route(self, request: ModelRequest, credential: Credential) -> GeminiRequest:
        config = self._config
        secret = credential.secret.reveal()
        headers = {
            "content-type": "application/json",
            "user-agent": f"rupu/{__version__}",
            **config.headers,
        }
        if credential.mode == "sso":
            headers["authorization"] = f"Bearer {secret}"
        else:
            headers["x-goog-api-key"] = secret
        project = config.project or credential.extras.get("project")
        gemini3 = "gemini-3" in bare_model(request.model).lower()
        if config.region:
            if not project:
                raise ConfigError(
                    f"provider '{self.name}' has region '{config.region}' but no project",
                    field=f"providers.{self.name}.project",
                    hint=f'Vertex AI needs both: add project = "<gcp-project>" under [providers.{self.name}]',
                )
            body = encode_request(request, provider=self.name)
            url = vertex_url(config.base_url, project, config.region, request.model)
            return GeminiRequest("vertex", url, {**headers, "accept": "text/event-stream"}, body)
        if credential.mode == "sso":
            base = config.sso_base_url or CODE_ASSIST_URL
            if not project:
                key = (base, self.name, credential.source, credential.extras.get("email", ""))
                project = await discover_project(
                    self._http, base, headers, cache_key=key, sleep=self._sleep
                )
            body = wrap_request(
                encode_request(request, provider=self.name, signature_fallback=gemini3),
                model=bare_model(request.model),
                project=project,
                prompt_id=uuid.uuid4().hex,
                session_id=self._session_id,
            )
            url = method_url(base, "streamGenerateContent") + "?alt=sse"
            return GeminiRequest(
                "code-assist", url, {**headers, "accept": "text/event-stream"}, body
            )
        body = encode_request(request, provider=self.name, signature_fallback=gemini3)
        url = ai_studio_url(config.base_url or AI_STUDIO_URL, request.model)
        return GeminiRequest("ai-studio", url, {**headers, "accept": "text/event-stream"}, body)

    async def _events(
        self, response: httpx.Response, route: GeminiRequest
    ) -> AsyncIterator[StreamEvent]:
        import httpx

        decoder = GeminiStreamDecoder(request_id_of(response.headers))
        snapshot = rate_limit_snapshot(response.headers)
        envelope = route.name == "code-assist"
        splitter = SSEDataSplitter()
        loads = orjson.loads
        feed = decoder.feed
        try:
            async for raw in response.aiter_raw():
                for data in splitter.feed(raw):
                    try:
                        chunk = loads(data)
                    except orjson.JSONDecodeError:
                        raise self._garbled(data, decoder.request_id) from None
                    if envelope:
                        if decoder.request_id is None:
                            decoder.request_id = chunk.get("traceId")
                        inner = chunk.get("response")
                        if inner is None:
                            if "error" in chunk:
                                raise stream_error(self.name, chunk, decoder.request_id)
                            continue
                        chunk = inner
                    elif "error" in chunk:
                        raise stream_error(self.name, chunk, decoder.request_id)
                    for item in feed(chunk):
                        yield item
        except (httpx.TransportError, OSError) as exc:
            raise network_error(self.name, exc, during="the stream") from exc
        if not decoder.saw_finish:
            raise StreamInterrupted(
                self.name,
                "the stream ended before the response was complete (no finishReason)",
                error_type="truncated_stream",
                request_id=decoder.request_id,
            )
        if snapshot:
            yield RateLimitObserved(snapshot)
        for item in decoder.finish():
            yield item

    def _garbled(self, data: bytes, request_id: str | None) -> ProviderError:
        text = data[:120].decode("utf-8", "replace")
        return StreamInterrupted(
            self.name,
            f"the stream carried something that is not JSON: {text!r}",
            error_type="invalid_stream",
            request_id=request_id,
        )

    async def aclose(self) -> None:
        await self._http.aclose()


def create(setup: ProviderSetup) -> GeminiProvider:
    return GeminiProvider(setup)
