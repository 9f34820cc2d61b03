"""The one HTTP provider: a dialect (`dialect.py`) for the wire format, and everything else once.

Per request: retries with backoff (`retry.stream_with_retries`); each attempt holds one of
`max_concurrency` slots when that is set (never during a backoff sleep); inside it, a 401 on a
refreshable credential refreshes it once (`retry.with_fresh_credential_on_401`); the answer's
rate-limit headers are reported first as a `RateLimitObserved` event, then its SSE data payloads (or
its one JSON body) go to the dialect's decoder. Timeouts, the pooled client and the injectable
transport are `http.HttpClient`'s, configured from the provider's table and `ProviderSetup.transport`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from rupu.errors import ProviderError
from rupu.messages import ModelRequest, RateLimitObserved, StreamEvent
from rupu.providers.base import ProviderSetup
from rupu.providers.dialect import Dialect, StreamDecoder, WireRequest
from rupu.providers.http import (
    DEFAULT_TIMEOUT,
    IDLE_TIMEOUT,
    HttpClient,
    HttpSettings,
    network_error,
    rate_limit_snapshot,
)
from rupu.providers.retry import stream_with_retries, with_fresh_credential_on_401
from rupu.providers.sse_data import SSEDataSplitter

if TYPE_CHECKING:
    import anyio
    import httpx

    from rupu.auth.credentials import Credential, CredentialSource


def http_client_for(setup: ProviderSetup, dialect: Dialect) -> HttpClient:
    """The provider's pooled client: its timeouts and endpoint options, the dialect's error reading,
    the setup's transport. A configured timeout also bounds the wait for the next byte of a stalled
    stream."""
    timeout = setup.config.timeout or DEFAULT_TIMEOUT
    settings = HttpSettings.for_provider(setup.config, idle_timeout=min(timeout, IDLE_TIMEOUT))
    return HttpClient(
        setup.name,
        settings,
        error_mapper=lambda _name, status, headers, body: dialect.explain_error(
            status, headers, body
        ),
        transport=setup.transport,
    )


class HttpProvider:
    """A `Provider` speaking `dialect` over HTTP; `http` is shared with the dialect's own calls."""

    def __init__(
        self, setup: ProviderSetup, dialect: Dialect, *, http: HttpClient | None = None
    ) -> None:
        self.name = setup.name
        self.dialect = dialect
        self.http = http or http_client_for(setup, dialect)
        self._setup = setup
        self._limit = setup.config.max_concurrency
        self._limiter: anyio.Semaphore | None = None

    def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        attempt = self._attempt if self._limit is None else self._attempt_limited
        sleep = self._setup.sleep or self._setup.clock.sleep
        return stream_with_retries(lambda: attempt(request), self._setup.retry, sleep=sleep)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _attempt_limited(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        """An attempt that holds one of `max_concurrency` slots (not during backoff sleeps)."""
        if self._limiter is None:
            import anyio  # lazy: anyio loads with the first request, not with `rupu --help`

            self._limiter = anyio.Semaphore(self._limit or 1)
        async with self._limiter:
            async for event in self._attempt(request):
                yield event

    def credential_source(self) -> CredentialSource | None:
        """Where one attempt gets its credential (and a refreshed one after a 401)."""
        return self._setup.credentials

    async def _attempt(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        source = self.credential_source()
        if source is None:  # a keyless endpoint; a dialect that needs a credential says so
            events = self._send(request, None)
        else:
            events = with_fresh_credential_on_401(
                source,
                lambda credential: self._send(request, credential),
                refreshable=self.dialect.refreshable,
            )
        async for event in events:
            yield event

    async def _send(
        self, request: ModelRequest, credential: Credential | None
    ) -> AsyncIterator[StreamEvent]:
        try:
            wire = await self.dialect.encode(request, credential, http=self.http)
            if wire.streamed:
                async with self.http.stream(
                    wire.method, wire.url, headers=wire.headers, body=wire.body
                ) as response:
                    async for event in self._decode(response, request, wire):
                        yield event
                return
            data, headers = await self.http.request_json(
                wire.method, wire.url, headers=wire.headers, body=wire.body
            )
            snapshot = rate_limit_snapshot(headers)
            if snapshot:
                yield RateLimitObserved(snapshot)
            for event in self.dialect.decode_body(request, data, headers):
                yield event
        except ProviderError as exc:
            explained = await self.dialect.annotate(exc, request, credential)
            if explained is exc:
                raise
            raise explained from None

    async def _decode(
        self, response: httpx.Response, request: ModelRequest, wire: WireRequest
    ) -> AsyncIterator[StreamEvent]:
        import httpx  # lazy: httpx loads with the first request, not with `rupu --help`

        decoder: StreamDecoder = self.dialect.decoder(request, wire, response.headers)
        snapshot = rate_limit_snapshot(response.headers)
        if snapshot:
            yield RateLimitObserved(snapshot)
        splitter = SSEDataSplitter() if wire.framing == "sse" else None
        try:
            async for chunk in response.aiter_raw():
                for payload in splitter.feed(chunk) if splitter is not None else (chunk,):
                    for event in decoder.feed(payload):
                        yield event
                    if decoder.done:
                        break
                if decoder.done:
                    break
        except (httpx.TransportError, OSError) as exc:
            if not decoder.done:
                raise network_error(self.name, exc, during="the stream") from exc
        for event in decoder.finish():
            yield event
