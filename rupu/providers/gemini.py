"""The gemini provider: the generateContent dialect (`gemini_dialect.py`) over three routes, chosen
by the credential and the config.

| Route       | When                                   | Endpoint                                                       | Auth              |
|-------------|----------------------------------------|----------------------------------------------------------------|-------------------|
| AI Studio   | an API key                             | `{base_url}/v1beta/models/{model}:streamGenerateContent`       | `key_header`      |
| Code Assist | a Google sign-in (`sso`)               | `{sso_base_url}/v1internal:streamGenerateContent`              | bearer            |
| Vertex AI   | `region` configured (plus a `project`), or Application Default Credentials (`auth: adc`, region default `global`) | `{base}/v1/projects/{p}/locations/{r}/publishers/google/models/{model}:streamGenerateContent` | bearer or key |

On the Vertex route a Claude model (`claude-*`) goes to Anthropic's publisher on Vertex instead
(`vertex_anthropic.py`: `...:streamRawPredict`, the Messages API body and stream).

All three stream with `?alt=sse`. A 401 on a sign-in token asks the credential source for a fresh
token once and tries again (the one HTTP provider's, `http_provider`; this module is the dialect's
endpoint and the Code Assist envelope).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from urllib.parse import quote

import orjson

from rupu.auth.credentials import Credential
from rupu.config.builtins import builtin, builtin_url
from rupu.errors import ConfigError, ProviderError, StreamInterrupted
from rupu.messages import ModelRequest, StreamEvent
from rupu.providers.base import ProviderSetup
from rupu.providers.dialect import BaseDialect, StreamDecoder, WireRequest
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
from rupu.providers.http import HttpClient, request_id_of
from rupu.providers.http_provider import HttpProvider
from rupu.providers.vertex_anthropic import (
    VARIANT,
    claude_body,
    claude_events,
    claude_url,
    is_claude,
    vertex_host,
)
from rupu.version import __version__

AI_STUDIO_URL = builtin_url("gemini", "base_url")
RECORD = builtin("gemini")


def ai_studio_url(base_url: str, model: str) -> str:
    """`https://host`, `https://host/` and `https://host/v1beta` all reach the v1beta API; a Vertex
    publisher root (`.../v1/publishers/google`, Vertex by API key) is used as it is."""
    root = base_url.rstrip("/")
    if not root.endswith(("/v1beta", "/v1", "/v1alpha", "/publishers/google")):
        root += "/v1beta"
    return f"{root}/models/{quote(bare_model(model))}:streamGenerateContent?alt=sse"


def vertex_url(base_url: str | None, project: str, region: str, model: str) -> str:
    return (
        f"{vertex_host(base_url, region)}/v1/projects/{quote(project)}/locations/{quote(region)}"
        f"/publishers/google/models/{quote(bare_model(model))}:streamGenerateContent?alt=sse"
    )


class GenerateContentDialect(BaseDialect):
    def __init__(self, setup: ProviderSetup) -> None:
        super().__init__(setup.name)
        self._config = setup.config
        self._session_id = str(uuid.uuid4())
        self._sleep = setup.sleep or setup.clock.sleep

    def explain_error(self, status: int, headers: Mapping[str, str], body: bytes) -> ProviderError:
        return google_error_from_response(self.provider, status, headers, body)

    async def encode(
        self, request: ModelRequest, credential: Credential | None, *, http: HttpClient
    ) -> WireRequest:
        credential = self.require(
            credential, "set GEMINI_API_KEY, or run `rupu auth login --provider gemini`"
        )
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
            header, value = RECORD.key_auth(secret)
            headers[header] = value
        headers["accept"] = "text/event-stream"
        project = config.project or credential.extras.get("project")
        gemini3 = "gemini-3" in bare_model(request.model).lower()
        adc = credential.extras.get("auth") == "adc"
        region = config.region or (credential.extras.get("location", "global") if adc else None)
        if region:
            if not project:
                raise ConfigError(
                    f"provider '{self.provider}' has region '{region}' but no project",
                    field=f"providers.{self.provider}.project",
                    hint=f'Vertex AI needs both: add project = "<gcp-project>" under [providers.{self.provider}]',
                )
            if is_claude(request.model):
                url = claude_url(config.base_url, project, region, bare_model(request.model))
                body = claude_body(request, provider=self.provider)
                return WireRequest(url, headers, body, variant=VARIANT)
            body = encode_request(request, provider=self.provider)
            url = vertex_url(config.base_url, project, region, request.model)
            return WireRequest(url, headers, body, variant="vertex")
        if credential.mode == "sso":
            base = config.sso_base_url or CODE_ASSIST_URL
            if not project:
                key = (base, self.provider, credential.source, credential.extras.get("email", ""))
                project = await discover_project(
                    http, base, headers, cache_key=key, sleep=self._sleep
                )
            body = wrap_request(
                encode_request(request, provider=self.provider, signature_fallback=gemini3),
                model=bare_model(request.model),
                project=project,
                prompt_id=uuid.uuid4().hex,
                session_id=self._session_id,
            )
            url = method_url(base, "streamGenerateContent") + "?alt=sse"
            return WireRequest(url, headers, body, variant="code-assist")
        body = encode_request(request, provider=self.provider, signature_fallback=gemini3)
        url = ai_studio_url(config.base_url or AI_STUDIO_URL, request.model)
        return WireRequest(url, headers, body, variant="ai-studio")

    def decoder(
        self, request: ModelRequest, wire: WireRequest, headers: Mapping[str, str]
    ) -> StreamDecoder:
        if wire.variant == VARIANT:
            return claude_events(self.provider, request, request_id_of(headers), wire.url)
        return GenerateContentEvents(
            self.provider, request_id_of(headers), envelope=wire.variant == "code-assist"
        )


class GenerateContentEvents:
    """A `StreamDecoder` for `GenerateContentResponse` chunks, unwrapped from Code Assist's
    `{response, traceId}` envelope when `envelope`; read to the end (usage may follow the finish
    reason), and a stream without a finish reason is an error."""

    __slots__ = ("_decoder", "_envelope", "_provider")

    done = False

    def __init__(self, provider: str, request_id: str | None, *, envelope: bool) -> None:
        self._decoder = GeminiStreamDecoder(request_id)
        self._provider = provider
        self._envelope = envelope

    def feed(self, payload: bytes) -> Iterable[StreamEvent]:
        decoder = self._decoder
        try:
            chunk = orjson.loads(payload)
        except orjson.JSONDecodeError:
            text = payload[:120].decode("utf-8", "replace")
            raise StreamInterrupted(
                self._provider,
                f"the stream carried something that is not JSON: {text!r}",
                error_type="invalid_stream",
                request_id=decoder.request_id,
            ) from None
        if self._envelope:
            if decoder.request_id is None:
                decoder.request_id = chunk.get("traceId")
            inner = chunk.get("response")
            if inner is None:
                if "error" in chunk:
                    raise stream_error(self._provider, chunk, decoder.request_id)
                return ()
            chunk = inner
        elif "error" in chunk:
            raise stream_error(self._provider, chunk, decoder.request_id)
        return decoder.feed(chunk)

    def finish(self) -> Iterable[StreamEvent]:
        if not self._decoder.saw_finish:
            raise StreamInterrupted(
                self._provider,
                "the stream ended before the response was complete (no finishReason)",
                error_type="truncated_stream",
                request_id=self._decoder.request_id,
            )
        return self._decoder.finish()


class GeminiProvider(HttpProvider):
    """The HTTP provider on the generateContent dialect."""

    def __init__(self, setup: ProviderSetup) -> None:
        super().__init__(setup, GenerateContentDialect(setup))


def create(setup: ProviderSetup) -> GeminiProvider:
    return GeminiProvider(setup)
