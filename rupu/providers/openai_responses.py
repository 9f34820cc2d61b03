"""The OpenAI Responses API (`POST /v1/responses`, SSE), on two routes chosen by the credential.

- An API key goes to `{base_url}/v1/responses` (default `https://api.openai.com`) with
  `Authorization: Bearer` and, when `org_id` is configured, `OpenAI-Organization`.
- A ChatGPT sign-in token (mode `sso`) goes to `{sso_base_url}/backend-api/codex/responses` (default
  `https://chatgpt.com`) with the `chatgpt-account-id` from the token's claims, `originator` and
  `OpenAI-Beta: responses=experimental`; encrypted reasoning is always requested and replayed.
  A 401 there refreshes the token once and retries once.

Custom providers declared with `kind = "openai-responses"` use the API-key route on their base_url.
Wire encoding and event decoding live in `openai_responses_encode` / `openai_responses_decode`.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import orjson

from rupu.auth.credentials import Credential, CredentialSource
from rupu.auth.jwt import account_id_of
from rupu.errors import ConfigError, CredentialError, ProviderError
from rupu.messages import ModelRequest, RateLimitObserved, StreamEvent, TextDelta
from rupu.providers.base import ProviderSetup
from rupu.providers.http import (
    HttpClient,
    HttpSettings,
    network_error,
    rate_limit_snapshot,
    request_id_of,
)
from rupu.providers.openai_responses_decode import TEXT_DELTA, ResponsesStreamDecoder
from rupu.providers.openai_responses_encode import (
    Dialect,
    codex_responses_url,
    encode_request,
    responses_url,
)
from rupu.providers.retry import stream_with_retries, with_fresh_credential_on_401
from rupu.providers.sse_data import SSEDataSplitter
from rupu.version import __version__

if TYPE_CHECKING:
    import httpx

DEFAULT_BASE_URL = "https://api.openai.com"
DEFAULT_SSO_BASE_URL = "https://chatgpt.com"
ORIGINATOR = "rupu"


@dataclass(frozen=True, slots=True)
class ResponsesEndpoint:
    url: str
    headers: dict[str, str] = field(repr=False)  # carries the bearer secret
    dialect: Dialect


class OpenAIResponsesProvider:
    def __init__(self, setup: ProviderSetup) -> None:
        config = setup.config
        self.name = setup.name
        self._setup = setup
        self._custom = setup.kind == "openai-responses"
        if self._custom and not config.base_url:
            raise ConfigError(
                f"provider '{setup.name}' has no base_url",
                field=f"providers.{setup.name}.base_url",
                hint='set base_url = "https://host/v1" in config.toml',
            )
        self._api_url = responses_url(config.base_url or DEFAULT_BASE_URL)
        self._sso_url = codex_responses_url(config.sso_base_url or DEFAULT_SSO_BASE_URL)
        self._cache_key = str(uuid.uuid4())
        self._http = HttpClient(setup.name, HttpSettings.for_provider(config))

    # -- routes ---------------------------------------------------------------------------------------
    def _source(self) -> CredentialSource:
        if self._setup.credentials is None:
            raise CredentialError(
                self.name,
                "no credential was resolved",
                hint=f"set OPENAI_API_KEY or run `rupu auth login --provider {self.name}`",
            )
        return self._setup.credentials

    def route(self, credential: Credential) -> ResponsesEndpoint:
        headers = {
            "content-type": "application/json",
            "accept": "text/event-stream",
            "user-agent": f"rupu/{__version__}",
            **self._setup.config.headers,
            "authorization": f"Bearer {credential.secret.reveal()}",
        }
        gateway_base = self._setup.config.base_url or credential.extras.get("api_base")
        if credential.extras.get("auth_scheme") == "bearer" and gateway_base:
            # A gateway (e.g. Copilot) serving the Responses API at `{api}/responses`.
            return ResponsesEndpoint(
                gateway_base.rstrip("/") + "/responses", headers, Dialect(replay_from=self.name)
            )
        if credential.mode == "sso" and not self._custom:
            headers["chatgpt-account-id"] = self._account_id(credential)
            headers["originator"] = ORIGINATOR
            headers["openai-beta"] = "responses=experimental"
            dialect = Dialect(
                replay_from=self.name,
                always_encrypted=True,
                send_max_output_tokens=False,
                instructions_required=True,
                prompt_cache_key=self._cache_key,
            )
            return ResponsesEndpoint(self._sso_url, headers, dialect)
        if self._setup.config.org_id:
            headers["openai-organization"] = self._setup.config.org_id
        return ResponsesEndpoint(self._api_url, headers, Dialect(replay_from=self.name))

    def _account_id(self, credential: Credential) -> str:
        account = account_id_of(credential)
        if not account:
            raise CredentialError(
                self.name,
                f"the ChatGPT sign-in token ({credential.source}) carries no chatgpt_account_id claim",
                hint=f"sign in again with `rupu auth login --provider {self.name} --mode sso`",
            )
        return account

    # -- streaming ------------------------------------------------------------------------------------
    def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        kwargs = {"sleep": self._setup.sleep} if self._setup.sleep else {}
        return stream_with_retries(lambda: self._attempt(request), self._setup.retry, **kwargs)

    async def _attempt(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        try:
            async for event in with_fresh_credential_on_401(
                self._source(), lambda credential: self._send(request, credential)
            ):
                yield event
        except ProviderError as exc:
            if exc.model is None:
                exc.model = request.model
            raise

    async def _send(
        self, request: ModelRequest, credential: Credential
    ) -> AsyncIterator[StreamEvent]:
        route = self.route(credential)
        body = encode_request(request, route.dialect)
        tier = request.service_tier or self._setup.config.service_tier
        if tier:
            body["service_tier"] = tier
        async with self._http.stream(
            "POST", route.url, headers=route.headers, body=body
        ) as response:
            async for event in responses_events(response, self.name, request.model):
                yield event

    async def aclose(self) -> None:
        await self._http.aclose()


async def responses_events(
    response: httpx.Response, provider: str, model: str
) -> AsyncIterator[StreamEvent]:
    """A Responses API event stream as rupu events, ending in `ResponseFinished`; a stream that ends
    before its terminal event raises. Reusable by any endpoint that speaks this dialect."""
    import httpx

    decoder = ResponsesStreamDecoder(
        provider, model=model, request_id=request_id_of(response.headers)
    )
    snapshot = rate_limit_snapshot(response.headers)
    if snapshot:
        yield RateLimitObserved(snapshot)
    splitter = SSEDataSplitter()
    loads = orjson.loads
    try:
        async for chunk in response.aiter_raw():
            for payload in splitter.feed(chunk):
                if payload == b"[DONE]":  # not part of this API, but some proxies add it
                    continue
                data = loads(payload)
                if type(data) is not dict:
                    raise _malformed(
                        decoder, f"an event that is not a JSON object: {payload[:80]!r}"
                    )
                if data.get("type") == TEXT_DELTA and decoder.streaming:
                    # The fast path: nearly every event of a long answer is one of these.
                    decoder.text_streamed = True
                    yield TextDelta(data["delta"])
                    continue
                for item in decoder.feed(data):
                    yield item
    except (httpx.TransportError, OSError) as exc:
        if decoder.finished:
            return  # the response was complete; only the connection's goodbye failed
        raise network_error(provider, exc, during="the stream") from exc
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        # Event data that is not JSON, or an object without the fields its type promises.
        raise _malformed(decoder, f"a malformed event ({type(exc).__name__}: {exc})") from None
    if not decoder.finished:
        raise decoder.truncated()


def _malformed(decoder: ResponsesStreamDecoder, what: str) -> ProviderError:
    return ProviderError(
        decoder.provider,
        f"the stream carried {what[:160]}",
        model=decoder.model,
        error_type="malformed_event",
        request_id=decoder.request_id,
        hint="check proxies or gateways between rupu and the provider",
    )


def create(setup: ProviderSetup) -> OpenAIResponsesProvider:
    return OpenAIResponsesProvider(setup)
