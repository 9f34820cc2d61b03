"""The Anthropic Messages API provider (`POST {base_url}/v1/messages`, always streamed).

Two ways in: an API key (`x-api-key`), or a Claude subscription sign-in token (`Authorization:
Bearer`, plus the beta flags and the Claude Code identity line that route requires). A 401 on a
sign-in token asks the credential source for a fresh token once and tries again once.

Request encoding lives in `anthropic_encode`, stream decoding in `anthropic_decode`; this module is
the I/O shell: headers, the HTTP call, concurrency limit, retries and error wording.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from typing import TYPE_CHECKING

import orjson

from rupu.auth.credentials import Credential, CredentialSource
from rupu.errors import (
    CredentialError,
    Overloaded,
    ProviderError,
    QuotaExhausted,
    StreamInterrupted,
)
from rupu.messages import ModelRequest, RateLimitObserved, StreamEvent, TextDelta
from rupu.providers.anthropic_decode import (
    OVERLOADED_HINT,
    QUOTA_HINT,
    MessagesStreamDecoder,
)
from rupu.providers.anthropic_encode import API_VERSION, SSO_BETAS, encode_request
from rupu.providers.base import ProviderSetup
from rupu.providers.http import (
    DEFAULT_TIMEOUT,
    IDLE_TIMEOUT,
    HttpClient,
    HttpSettings,
    network_error,
    rate_limit_snapshot,
    request_id_of,
)
from rupu.providers.retry import stream_with_retries, with_fresh_credential_on_401
from rupu.providers.sse import SSEDecoder
from rupu.version import __version__

if TYPE_CHECKING:
    import anyio
    import httpx

DEFAULT_BASE_URL = "https://api.anthropic.com"


def messages_url(base_url: str) -> str:
    """`https://h`, `https://h/` and `https://h/v1` all become `https://h/v1/messages`."""
    root = base_url.rstrip("/")
    if root.endswith("/v1"):
        root = root[:-3]
    return f"{root}/v1/messages"


class AnthropicProvider:
    def __init__(self, setup: ProviderSetup) -> None:
        self.name = setup.name
        self._setup = setup
        self._url = messages_url(setup.config.base_url or DEFAULT_BASE_URL)
        timeout = setup.config.timeout or DEFAULT_TIMEOUT
        # A configured timeout also bounds the wait for the next byte of a stalled stream.
        settings = HttpSettings.for_provider(setup.config, idle_timeout=min(timeout, IDLE_TIMEOUT))
        self._http = HttpClient(setup.name, settings)
        self._limit = setup.config.max_concurrency
        self._limiter: anyio.Semaphore | None = None

    def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        attempt = self._attempt if self._limit is None else self._attempt_limited
        kwargs = {"sleep": self._setup.sleep} if self._setup.sleep else {}
        return stream_with_retries(lambda: attempt(request), self._setup.retry, **kwargs)

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- one attempt ------------------------------------------------------------------------------

    async def _attempt_limited(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        """An attempt that holds one of `max_concurrency` slots (not during backoff sleeps)."""
        if self._limiter is None:
            import anyio

            self._limiter = anyio.Semaphore(self._limit or 1)
        async with self._limiter:
            async for event in self._attempt(request):
                yield event

    async def _attempt(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        async for event in with_fresh_credential_on_401(
            self._source(), lambda credential: self._send(request, credential)
        ):
            yield event

    async def _send(
        self, request: ModelRequest, credential: Credential
    ) -> AsyncIterator[StreamEvent]:
        import httpx

        async with AsyncExitStack() as stack:
            try:
                response = await stack.enter_async_context(self._open(request, credential))
            except ProviderError as exc:
                raise self._explain(exc, request, credential) from None
            request_id = request_id_of(response.headers)
            decoder = MessagesStreamDecoder(self.name, model=request.model, request_id=request_id)
            snapshot = rate_limit_snapshot(response.headers)
            if snapshot:
                yield RateLimitObserved(snapshot)
            sse = SSEDecoder()
            feed = decoder.feed
            loads = orjson.loads
            try:
                async for chunk in response.aiter_raw():
                    for event in sse.feed(chunk):
                        if not event.data:
                            continue
                        payload = loads(event.data)
                        # Text deltas are nearly every event of a response: skip the dispatch.
                        if payload.get("type") == "content_block_delta":
                            delta = payload["delta"]
                            if delta["type"] == "text_delta":
                                yield TextDelta(delta["text"])
                                continue
                        for item in feed(payload):
                            yield item
                        if decoder.finished:
                            return
            except (httpx.TransportError, OSError) as exc:
                raise network_error(self.name, exc, during="the stream") from exc
            except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError):
                raise StreamInterrupted(
                    self.name,
                    "the stream carried an event rupu cannot read (not Messages API JSON)",
                    model=request.model,
                    error_type="malformed_stream",
                    request_id=request_id,
                    hint=f"check that base_url ({self._url}) is an Anthropic Messages API",
                ) from None
            except ProviderError as exc:
                raise self._explain(exc, request, credential) from None
        raise StreamInterrupted(
            self.name,
            "the stream ended before message_stop; the response is incomplete",
            model=request.model,
            error_type="truncated_stream",
            request_id=request_id,
        )

    def _open(
        self, request: ModelRequest, credential: Credential
    ) -> AbstractAsyncContextManager[httpx.Response]:
        body = encode_request(request, provider=self.name, sso=credential.mode == "sso")
        return self._http.stream("POST", self._url, headers=self.headers(credential), body=body)

    def _source(self) -> CredentialSource:
        source = self._setup.credentials
        if source is None:
            raise CredentialError(
                self.name,
                "no credential was given to the anthropic provider",
                hint="set ANTHROPIC_API_KEY, or run `rupu auth login --provider anthropic`",
            )
        return source

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
        if credential.extras.get("auth_scheme") == "bearer":
            # A gateway (e.g. Copilot) that takes a plain bearer: no sign-in betas, no x-api-key.
            headers["authorization"] = f"Bearer {credential.secret.reveal()}"
            headers.pop("x-api-key", None)
        elif credential.mode == "sso":
            betas = [*SSO_BETAS, *(b for b in betas if b not in SSO_BETAS)]
            headers["authorization"] = f"Bearer {credential.secret.reveal()}"
            headers.pop("x-api-key", None)
        else:
            headers["x-api-key"] = credential.secret.reveal()
            headers.pop("authorization", None)
        if betas:
            headers["anthropic-beta"] = ",".join(betas)
        return headers

    def _explain(
        self, exc: ProviderError, request: ModelRequest, credential: Credential
    ) -> ProviderError:
        """Adds what only the Anthropic dialect knows: its quota wording, and why a key failed."""
        exc.model = exc.model or request.model
        if isinstance(exc, QuotaExhausted):
            exc.hint = QUOTA_HINT
        elif exc.status == 401:
            exc.hint = self._unauthorized_hint(credential)
        elif exc.status == 404:
            exc.hint = f"check the model id '{request.model}' and the base_url ({self._url})"
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


def create(setup: ProviderSetup) -> AnthropicProvider:
    return AnthropicProvider(setup)
