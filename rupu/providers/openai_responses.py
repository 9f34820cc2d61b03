"""The OpenAI Responses API (`POST /v1/responses`, SSE), on two routes chosen by the credential.

- An API key goes to `{base_url}/v1/responses` (default `https://api.openai.com`) with
  `Authorization: Bearer` and, when `org_id` is configured, `OpenAI-Organization`.
- A ChatGPT sign-in token (mode `sso`) goes to `{sso_base_url}/backend-api/codex/responses` (default
  `https://chatgpt.com`) with the `chatgpt-account-id` from the token's claims, `originator` and
  `OpenAI-Beta: responses=experimental`; encrypted reasoning is always requested and replayed.
  A 401 there refreshes the token once and retries once.

Custom providers declared with `kind = "openai-responses"` use the API-key route on their base_url.
Wire encoding and event decoding live in `openai_responses_encode` / `openai_responses_decode`; this
module is the dialect's endpoint for the one HTTP provider (`http_provider`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import orjson

from rupu.auth.credentials import Credential
from rupu.auth.jwt import account_id_of
from rupu.config.builtins import builtin_url
from rupu.errors import ConfigError, CredentialError, ProviderError
from rupu.messages import ModelRequest, StreamEvent, TextDelta
from rupu.providers.base import ProviderSetup
from rupu.providers.dialect import BaseDialect, WireRequest
from rupu.providers.http import HttpClient, request_id_of
from rupu.providers.http_provider import HttpProvider
from rupu.providers.openai_responses_decode import TEXT_DELTA, ResponsesStreamDecoder
from rupu.providers.openai_responses_encode import (
    Dialect,
    codex_responses_url,
    encode_request,
    responses_url,
)
from rupu.version import __version__

DEFAULT_BASE_URL = builtin_url("openai", "base_url")
DEFAULT_SSO_BASE_URL = builtin_url("openai", "sso_base_url")
ORIGINATOR = "rupu"


@dataclass(frozen=True, slots=True)
class ResponsesEndpoint:
    url: str
    headers: dict[str, str] = field(repr=False)  # carries the bearer secret
    dialect: Dialect


class ResponsesDialect(BaseDialect):
    def __init__(self, setup: ProviderSetup) -> None:
        super().__init__(setup.name)
        config = setup.config
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
                gateway_base.rstrip("/") + "/responses", headers, Dialect(replay_from=self.provider)
            )
        if credential.mode == "sso" and not self._custom:
            headers["chatgpt-account-id"] = self._account_id(credential)
            headers["originator"] = ORIGINATOR
            headers["openai-beta"] = "responses=experimental"
            dialect = Dialect(
                replay_from=self.provider,
                always_encrypted=True,
                send_max_output_tokens=False,
                instructions_required=True,
                prompt_cache_key=self._cache_key,
            )
            return ResponsesEndpoint(self._sso_url, headers, dialect)
        if self._setup.config.org_id:
            headers["openai-organization"] = self._setup.config.org_id
        return ResponsesEndpoint(self._api_url, headers, Dialect(replay_from=self.provider))

    def _account_id(self, credential: Credential) -> str:
        account = account_id_of(credential)
        if not account:
            raise CredentialError(
                self.provider,
                f"the ChatGPT sign-in token ({credential.source}) carries no chatgpt_account_id claim",
                hint=f"sign in again with `rupu auth login --provider {self.provider} --mode sso`",
            )
        return account

    async def encode(
        self, request: ModelRequest, credential: Credential | None, *, http: HttpClient
    ) -> WireRequest:
        credential = self.require(
            credential,
            f"set OPENAI_API_KEY or run `rupu auth login --provider {self.provider}`",
        )
        route = self.route(credential)
        body = encode_request(request, route.dialect)
        tier = request.service_tier or self._setup.config.service_tier
        if tier:
            body["service_tier"] = tier
        return WireRequest(route.url, route.headers, body)

    def decoder(
        self, request: ModelRequest, wire: WireRequest, headers: Mapping[str, str]
    ) -> ResponsesEvents:
        return ResponsesEvents(
            ResponsesStreamDecoder(
                self.provider, model=request.model, request_id=request_id_of(headers)
            )
        )


class ResponsesEvents:
    """A `StreamDecoder` for a Responses API event stream, ending in `ResponseFinished`; a stream
    that ends before its terminal event raises."""

    __slots__ = ("_decoder",)

    def __init__(self, decoder: ResponsesStreamDecoder) -> None:
        self._decoder = decoder

    @property
    def done(self) -> bool:
        return self._decoder.finished

    def feed(self, payload: bytes) -> Iterable[StreamEvent]:
        decoder = self._decoder
        if payload == b"[DONE]":  # not part of this API, but some proxies add it
            return ()
        try:
            data = orjson.loads(payload)
            if type(data) is not dict:
                raise _malformed(decoder, f"an event that is not a JSON object: {payload[:80]!r}")
            if data.get("type") == TEXT_DELTA and decoder.streaming:
                # The fast path: nearly every event of a long answer is one of these.
                decoder.text_streamed = True
                return (TextDelta(data["delta"]),)
            return decoder.feed(data)
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            # Event data that is not JSON, or an object without the fields its type promises.
            raise _malformed(decoder, f"a malformed event ({type(exc).__name__}: {exc})") from None

    def finish(self) -> Iterable[StreamEvent]:
        if not self._decoder.finished:
            raise self._decoder.truncated()
        return ()


def _malformed(decoder: ResponsesStreamDecoder, what: str) -> ProviderError:
    return ProviderError(
        decoder.provider,
        f"the stream carried {what[:160]}",
        model=decoder.model,
        error_type="malformed_event",
        request_id=decoder.request_id,
        hint="check proxies or gateways between rupu and the provider",
    )


class OpenAIResponsesProvider(HttpProvider):
    """The HTTP provider on the Responses dialect; `route` is the dialect's."""

    def __init__(self, setup: ProviderSetup) -> None:
        self.responses = ResponsesDialect(setup)
        super().__init__(setup, self.responses)

    def route(self, credential: Credential) -> ResponsesEndpoint:
        return self.responses.route(credential)


def create(setup: ProviderSetup) -> OpenAIResponsesProvider:
    return OpenAIResponsesProvider(setup)
