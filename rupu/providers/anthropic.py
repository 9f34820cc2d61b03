"""The Anthropic Messages API (`POST {base_url}/v1/messages`, always streamed), as a dialect of the
one HTTP provider (`http_provider`).

Two ways in: an API key (in its record's `key_header`, `x-api-key`), or a Claude subscription
sign-in token (`Authorization: Bearer`, plus the beta flags and the Claude Code identity line that
route requires). A 401 on a
sign-in token asks the credential source for a fresh token once and tries again once (that is the
provider's part).

Request encoding lives in `anthropic_encode`, event decoding in `anthropic_decode`; this module
holds the endpoint: URL, headers, the stream's framing checks and the error wording.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import orjson

from rupu.auth.credentials import Credential
from rupu.config.builtins import builtin, builtin_url
from rupu.errors import Overloaded, ProviderError, QuotaExhausted, StreamInterrupted
from rupu.messages import ModelRequest, StreamEvent, TextDelta
from rupu.providers.anthropic_decode import (
    OVERLOADED_HINT,
    QUOTA_HINT,
    MessagesStreamDecoder,
)
from rupu.providers.anthropic_encode import API_VERSION, SSO_BETAS, encode_request
from rupu.providers.base import ProviderSetup
from rupu.providers.dialect import BaseDialect, WireRequest
from rupu.providers.http import HttpClient, request_id_of
from rupu.providers.http_provider import HttpProvider
from rupu.version import __version__

DEFAULT_BASE_URL = builtin_url("anthropic", "base_url")
RECORD = builtin("anthropic")


def messages_url(base_url: str) -> str:
    """`https://h`, `https://h/` and `https://h/v1` all become `https://h/v1/messages`."""
    root = base_url.rstrip("/")
    if root.endswith("/v1"):
        root = root[:-3]
    return f"{root}/v1/messages"


class MessagesEvents:
    """A `StreamDecoder`: SSE payloads to events through `MessagesStreamDecoder`; `done` at
    `message_stop`, and a stream that ends before it is an error."""

    __slots__ = ("_decoder", "_url")

    def __init__(self, decoder: MessagesStreamDecoder, url: str) -> None:
        self._decoder = decoder
        self._url = url

    @property
    def done(self) -> bool:
        return self._decoder.finished

    def feed(self, payload: bytes) -> Iterable[StreamEvent]:
        if not payload:
            return ()
        try:
            data = orjson.loads(payload)
            # Text deltas are nearly every event of a response: skip the dispatch.
            if data.get("type") == "content_block_delta":
                delta = data["delta"]
                if delta["type"] == "text_delta":
                    return (TextDelta(delta["text"]),)
            return self._decoder.feed(data)
        except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError):
            decoder = self._decoder
            raise StreamInterrupted(
                decoder.provider,
                "the stream carried an event rupu cannot read (not Messages API JSON)",
                model=decoder.model,
                error_type="malformed_stream",
                request_id=decoder.request_id,
                hint=f"check that base_url ({self._url}) is an Anthropic Messages API",
            ) from None

    def finish(self) -> Iterable[StreamEvent]:
        if self._decoder.finished:
            return ()
        raise StreamInterrupted(
            self._decoder.provider,
            "the stream ended before message_stop; the response is incomplete",
            model=self._decoder.model,
            error_type="truncated_stream",
            request_id=self._decoder.request_id,
        )


class MessagesDialect(BaseDialect):
    def __init__(self, setup: ProviderSetup) -> None:
        super().__init__(setup.name)
        self._setup = setup
        self.url = messages_url(setup.config.base_url or DEFAULT_BASE_URL)

    async def encode(
        self, request: ModelRequest, credential: Credential | None, *, http: HttpClient
    ) -> WireRequest:
        credential = self.require(
            credential, "set ANTHROPIC_API_KEY, or run `rupu auth login --provider anthropic`"
        )
        body = encode_request(request, provider=self.provider, sso=credential.mode == "sso")
        return WireRequest(self.url, self.headers(credential), body)

    def decoder(
        self, request: ModelRequest, wire: WireRequest, headers: Mapping[str, str]
    ) -> MessagesEvents:
        decoder = MessagesStreamDecoder(
            self.provider, model=request.model, request_id=request_id_of(headers)
        )
        return MessagesEvents(decoder, self.url)

    def headers(self, credential: Credential) -> dict[str, str]:
        """The request headers for `credential`; config `headers` may add or override any but the
        credential itself, and `anthropic-beta` flags from config are merged, not replaced."""
        headers = {
            "content-type": "application/json",
            "accept": "text/event-stream",
            "anthropic-version": API_VERSION,
            "user-agent": f"rupu/{__version__}",
        }
        configured = {k.lower(): v for k, v in self._setup.config.headers.items()}
        betas = [b.strip() for b in configured.pop("anthropic-beta", "").split(",") if b.strip()]
        headers.update(configured)
        key_header, key = RECORD.key_auth(credential.secret.reveal())
        if credential.extras.get("auth_scheme") == "bearer":
            # A gateway (e.g. Copilot) that takes a plain bearer: no sign-in betas, no API key header.
            headers["authorization"] = f"Bearer {credential.secret.reveal()}"
            headers.pop(key_header, None)
        elif credential.mode == "sso":
            betas = [*SSO_BETAS, *(b for b in betas if b not in SSO_BETAS)]
            headers["authorization"] = f"Bearer {credential.secret.reveal()}"
            headers.pop(key_header, None)
        else:
            headers[key_header] = key
            headers.pop("authorization", None)
        if betas:
            headers["anthropic-beta"] = ",".join(betas)
        return headers

    async def annotate(
        self, exc: ProviderError, request: ModelRequest, credential: Credential | None
    ) -> ProviderError:
        """Adds what only the Anthropic dialect knows: its quota wording, and why a key failed."""
        exc.model = exc.model or request.model
        if isinstance(exc, QuotaExhausted):
            exc.hint = QUOTA_HINT
        elif exc.status == 401 and credential is not None:
            exc.hint = self._unauthorized_hint(credential)
        elif exc.status == 404:
            exc.hint = f"check the model id '{request.model}' and the base_url ({self.url})"
        elif exc.status == 400 and exc.hint is None:
            exc.hint = (
                "Anthropic rejected the request: check the agent's model, maxTokens, effort and "
                "outputSchema against what this model supports"
            )
        elif isinstance(exc, Overloaded):
            exc.hint = OVERLOADED_HINT
        elif exc.status is not None and exc.status >= 500 and exc.hint is None:
            exc.hint = "Anthropic (or a proxy in front of it) failed; try again later"
        return exc

    def _unauthorized_hint(self, credential: Credential) -> str:
        if credential.mode == "sso":
            return (
                "the sign-in token was rejected even after a refresh: run "
                "`rupu auth login --provider anthropic --mode sso`"
            )
        if credential.secret.reveal().startswith("sk-ant-oat"):
            return (
                "this is a Claude subscription token, not an API key: sign in with "
                "`rupu auth login --provider anthropic --mode sso` instead"
            )
        return (
            f"the API key from {credential.source} was rejected: check it at "
            "console.anthropic.com, or run `rupu auth login --provider anthropic`"
        )


class AnthropicProvider(HttpProvider):
    """The HTTP provider on the Messages dialect; `headers` and `_url` are the dialect's."""

    def __init__(self, setup: ProviderSetup) -> None:
        self.messages = MessagesDialect(setup)
        super().__init__(setup, self.messages)
        self._url = self.messages.url

    def headers(self, credential: Credential) -> dict[str, str]:
        return self.messages.headers(credential)


def create(setup: ProviderSetup) -> AnthropicProvider:
    return AnthropicProvider(setup)
