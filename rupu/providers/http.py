"""The HTTP seam every remote provider uses: one pooled client per provider, status-to-error
mapping and rate-limit header snapshots.

Endpoint options apply here, for every dialect: `query` parameters are added to each URL (Azure
OpenAI's `api-version`), and `auth_header` moves the key a dialect put in its usual header
(`authorization: Bearer`, or the `key_header` of its built-in record) to the header the endpoint wants (Azure's
`api-key`, Cloudflare AI Gateway's `cf-aig-authorization`), prefixed by `auth_scheme` if set.

httpx's API over the aiohttp transport: httpx 0.28's own pool is quadratic at high concurrency, and
aiohttp's decodes a stream several times faster (see bench/). Heavy modules load on first use.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

import orjson

from rupu.clock import SYSTEM_CLOCK
from rupu.config.builtins import credential_headers
from rupu.errors import ConnectionFailed, ProviderError, QuotaExhausted, TimedOut
from rupu.providers.failures import provider_error
from rupu.providers.ratelimit import reset_after

if TYPE_CHECKING:
    import ssl

    import httpx

    from rupu.config import ProviderConfig

DEFAULT_TIMEOUT = 600.0
CONNECT_TIMEOUT = 5.0
IDLE_TIMEOUT = 120.0


@dataclass(frozen=True, slots=True)
class HttpSettings:
    timeout: float = DEFAULT_TIMEOUT
    idle_timeout: float = IDLE_TIMEOUT
    connect_timeout: float = CONNECT_TIMEOUT
    max_connections: int = 1000
    query: Mapping[str, str] | None = None
    auth_header: str | None = None
    auth_scheme: str | None = None

    @classmethod
    def for_provider(
        cls, config: ProviderConfig, *, idle_timeout: float | None = None
    ) -> HttpSettings:
        """Timeout and endpoint options from a provider's config table."""
        return cls(
            timeout=config.timeout or DEFAULT_TIMEOUT,
            idle_timeout=idle_timeout or IDLE_TIMEOUT,
            query=dict(config.query) or None,
            auth_header=config.auth_header,
            auth_scheme=config.auth_scheme,
        )

    def apply(self, headers: Mapping[str, str]) -> dict[str, str]:
        """`headers` with the credential moved to `auth_header` when the endpoint wants it there."""
        out = dict(headers)
        if not self.auth_header:
            return out
        secret = None
        for name in credential_headers():
            value = out.pop(name, None) or out.pop(name.title(), None)
            if value is not None and secret is None:
                secret = value.removeprefix("Bearer ").removeprefix("bearer ")
        if secret is not None:
            out[self.auth_header] = f"{self.auth_scheme} {secret}" if self.auth_scheme else secret
        return out


ErrorMapper = Callable[[str, int, Mapping[str, str], bytes], ProviderError]


class HttpClient:
    """One connection pool for one provider. `error_mapper` turns a non-2xx response into the error
    to raise (a dialect with its own error envelope details passes its own); `transport` replaces
    the pooled aiohttp transport (tests pass an `httpx.MockTransport`)."""

    def __init__(
        self,
        provider: str,
        settings: HttpSettings | None = None,
        *,
        error_mapper: ErrorMapper | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.provider = provider
        self.settings = settings or HttpSettings()
        self._client: httpx.AsyncClient | None = None
        self._error_mapper: ErrorMapper = error_mapper or error_from_response
        self._transport = transport

    def _get(self) -> httpx.AsyncClient:
        if self._client is None:
            import httpx

            self._client = httpx.AsyncClient(
                transport=self._transport or self._default_transport(),
                timeout=httpx.Timeout(
                    self.settings.timeout,
                    connect=self.settings.connect_timeout,
                    read=self.settings.idle_timeout,
                ),
            )
        return self._client

    def _default_transport(self) -> httpx.AsyncBaseTransport:
        import httpx
        from httpx_aiohttp import AiohttpTransport

        limits = httpx.Limits(
            max_connections=self.settings.max_connections,
            max_keepalive_connections=min(self.settings.max_connections, 100),
        )
        return AiohttpTransport(limits=limits, verify=_ssl_context())

    @asynccontextmanager
    async def stream(
        self, method: str, url: str, *, headers: Mapping[str, str], body: Any = None
    ) -> AsyncIterator[httpx.Response]:
        """Opens a request and yields the response once its status is 2xx; any other status is raised
        as a `ProviderError` carrying the provider's error type, message and request id."""
        import httpx

        client = self._get()
        content = orjson.dumps(body) if body is not None else None
        request = client.build_request(
            method,
            url,
            headers=self.settings.apply(headers),
            content=content,
            params=self.settings.query,
        )
        try:
            response = await client.send(request, stream=True)
        except (httpx.TransportError, OSError) as exc:
            raise network_error(self.provider, exc) from exc
        try:
            if response.status_code >= 400:
                raw = await response.aread()
                error = self._error_mapper(
                    self.provider, response.status_code, response.headers, raw
                )
                # The quota headers of an error response (a 429 carries the most telling ones),
                # for the retry wrapper to report as a `RateLimitObserved` event.
                error.rate_limits = rate_limit_snapshot(response.headers)
                raise error
            yield response
        finally:
            await response.aclose()

    async def request_json(
        self, method: str, url: str, *, headers: Mapping[str, str], body: Any = None
    ) -> tuple[Any, Mapping[str, str]]:
        async with self.stream(method, url, headers=headers, body=body) as response:
            raw = await response.aread()
            try:
                return orjson.loads(raw), response.headers
            except orjson.JSONDecodeError:
                raise ProviderError(
                    self.provider,
                    f"expected JSON, got: {excerpt(raw)}",
                    status=response.status_code,
                    request_id=request_id_of(response.headers),
                ) from None

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


@cache
def _ssl_context() -> ssl.SSLContext:
    """One verified-TLS context per process: building one costs ~60 ms, and a workflow builds a
    client per step and per fallback."""
    import httpx

    return httpx.create_ssl_context()


def network_error(
    provider: str, exc: BaseException, *, during: str = "the request"
) -> ProviderError:
    # httpx-aiohttp maps a refused connection (aiohttp ClientConnectorError) to httpx's
    # ConnectTimeout; the aiohttp exception it chains is the precise one.
    cause = exc.__cause__
    named = cause if cause is not None and type(cause).__module__.startswith("aiohttp") else exc
    kind = type(named).__name__
    timeout = "Timeout" in kind
    what = "timed out" if timeout else "connection failed"
    detail = str(exc).split("\n")[0][:160]
    cls = TimedOut if timeout else ConnectionFailed
    return cls(
        provider,
        f"{what} during {during} ({kind}{': ' + detail if detail else ''})",
        error_type="timeout" if timeout else "network_error",
        hint="check the provider's base_url and your network, then retry",
    )


def request_id_of(headers: Mapping[str, str]) -> str | None:
    for name in ("request-id", "x-request-id", "x-goog-request-id", "cf-ray"):
        value = headers.get(name)
        if value:
            return value
    return None


def excerpt(raw: bytes, limit: int = 160) -> str:
    """A short, tag-free, single-line excerpt of a body (an HTML error page from a proxy, say)."""
    text = raw.decode("utf-8", "replace")
    text = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", text, flags=re.S | re.I)
    text = re.sub(r"<[^>]+>", " ", text)
    text = " ".join(text.split())
    return (text[:limit] + "…") if len(text) > limit else (text or "(empty body)")


def parse_error_body(raw: bytes) -> tuple[str | None, str | None]:
    """(error type, message) from the error envelopes of OpenAI, Anthropic and Google."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None, None
    if not isinstance(data, dict):
        return None, None
    if "error" not in data and "detail" in data:
        return None, _detail_text(data["detail"])
    err = data.get("error", data)
    if isinstance(err, list) and err and isinstance(err[0], dict):
        err = err[0].get("error", err[0])
    if isinstance(err, str):
        return None, err
    if not isinstance(err, dict):
        return None, None
    etype = err.get("type") or err.get("status") or err.get("code")
    message = err.get("message") or data.get("message")
    code = err.get("code")
    if isinstance(code, str) and code != etype and etype:
        etype = f"{etype}/{code}"
    return (str(etype) if etype is not None else None), (str(message) if message else None)


def _detail_text(detail: Any) -> str | None:
    """The words of a `{"detail": ...}` body (the ChatGPT backend's, FastAPI's): a string, an object
    with a message, or a list of validation errors with `msg`."""
    if isinstance(detail, str):
        return detail or None
    if isinstance(detail, dict):
        text = detail.get("message") or detail.get("msg") or detail.get("detail")
        return str(text) if text else None
    if isinstance(detail, list):
        texts = [str(d.get("msg")) for d in detail if isinstance(d, dict) and d.get("msg")]
        return "; ".join(texts) or None
    return None


def error_from_response(
    provider: str, status: int, headers: Mapping[str, str], raw: bytes, *, now: float | None = None
) -> ProviderError:
    """A non-2xx answer, classified; `x-should-retry` is the provider's own word on retrying. `now`
    (default: the system clock) dates the reset headers that name a time."""
    if now is None:
        now = SYSTEM_CLOCK.time()
    error_type, message = parse_error_body(raw)
    should = headers.get("x-should-retry")
    error = provider_error(
        provider,
        message or excerpt(raw),
        status=status,
        error_type=error_type,
        request_id=request_id_of(headers),
        retry_after=parse_retry_after(headers, now=now),
        reset_after=reset_after(headers, now=now) if status == 429 else None,
        should_retry=should == "true" if should in ("true", "false") else None,
    )
    error.hint = _hint_for(status, isinstance(error, QuotaExhausted), provider)
    return error


def _hint_for(status: int, quota: bool, provider: str) -> str | None:
    if quota:
        return "quota or billing exhausted: check the account's plan and credits; retrying will not help"
    if status in (401, 403):
        return f"the credential was rejected: run `rupu auth login --provider {provider}` or check its key"
    if status == 404:
        return "check the model id and the provider's base_url"
    if status == 413:
        return "the request is too large: shorten the input or compact the context"
    if status == 429:
        return "rate limited: wait and retry, or lower max_concurrency"
    return None


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait from `retry-after-ms` (preferred) or `retry-after` (seconds or an HTTP date,
    counted from `now`, default the system clock); None when absent or nonsensical (negative,
    infinite, unparseable)."""
    import math

    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            value = float(raw_ms) / 1000
            if math.isfinite(value) and value >= 0:
                return value
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        value = float(raw)
        return value if math.isfinite(value) and value >= 0 else None
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    delta = when.timestamp() - (SYSTEM_CLOCK.time() if now is None else now)
    return max(delta, 0.0) if math.isfinite(delta) else None


RATE_LIMIT_PREFIXES = ("x-ratelimit-", "anthropic-ratelimit-", "x-codex-", "retry-after")


def rate_limit_snapshot(headers: Mapping[str, str]) -> dict[str, str | int | float]:
    """Every quota header the provider sent, numbers as numbers."""
    snapshot: dict[str, str | int | float] = {}
    for name, value in headers.items():
        lowered = name.lower()
        if lowered.startswith(RATE_LIMIT_PREFIXES):
            snapshot[lowered] = _number(value)
    return snapshot


def _number(value: str) -> str | int | float:
    try:
        return int(value)
    except ValueError:
        try:
            return float(value)
        except ValueError:
            return value
