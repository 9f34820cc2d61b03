"""Retrying a streamed response: the official SDKs' policy, extended past the point where they stop.

The error's class decides (`ProviderError.retryable`, classified where the provider's answer was
read): rate limits, overloads, server errors and interrupted streams (connection failures, timeouts,
truncated or unreadable streams) are retried, unless the provider's `x-should-retry` said otherwise, up
to `max_retries` times with backoff `min(0.5 * 2^n, 8) s` times a jitter in [0.75, 1]; `retry-after-ms`
and `retry-after` are honoured up to `max_retry_after`. An attempt that has already emitted content is
never retried here (its partial turn must not be glued to another): the error goes to the caller.
The quota headers of a failed response (a 429's) are passed on as a `RateLimitObserved` event first.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from rupu.auth.credentials import Credential, CredentialSource
from rupu.clock import SYSTEM_CLOCK
from rupu.errors import AuthRejected, ProviderError
from rupu.messages import RateLimitObserved, RetryScheduled, StreamEvent

Sleep = Callable[[float], Awaitable[None]]

_NOT_CONTENT = frozenset(
    {"response_started", "usage_reported", "rate_limit_observed", "retry_scheduled"}
)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """`give_up`, when set, names errors not to retry here even though they are retryable (a route
    with a fallback would rather move a rate-limited turn elsewhere than wait)."""

    max_retries: int = 2
    max_retry_after: float = 60.0
    base: float = 0.5
    cap: float = 8.0
    give_up: Callable[[ProviderError], bool] | None = None

    def backoff(self, retry_index: int, rng: Callable[[], float] = random.random) -> float:
        """Delay before retry number `retry_index` (0-based), jittered into [0.75, 1.0] x nominal."""
        nominal: float = min(self.base * 2**retry_index, self.cap)
        return nominal * (0.75 + 0.25 * rng())


async def stream_with_retries(
    attempt: Callable[[], AsyncIterator[StreamEvent]],
    policy: RetryPolicy,
    *,
    sleep: Sleep = SYSTEM_CLOCK.sleep,
) -> AsyncIterator[StreamEvent]:
    retries = 0
    while True:
        emitted = False
        try:
            async for event in attempt():
                if not emitted and event.kind not in _NOT_CONTENT:
                    emitted = True
                yield event
            return
        except ProviderError as exc:
            if exc.rate_limits:
                yield RateLimitObserved(dict(exc.rate_limits))
            if emitted or not exc.retryable or retries >= policy.max_retries:
                raise
            if policy.give_up is not None and policy.give_up(exc):
                raise
            delay = policy.backoff(retries)
            if exc.retry_after is not None:
                if exc.retry_after > policy.max_retry_after:
                    exc.hint = (
                        f"the provider asked to wait {exc.retry_after:.0f} s, more than the "
                        f"{policy.max_retry_after:.0f} s rupu waits; try again later"
                    )
                    raise
                delay = exc.retry_after
            retries += 1
            reason = exc.error_type or (f"HTTP {exc.status}" if exc.status else "error")
            yield RetryScheduled(attempt=retries, delay=delay, reason=reason)
            await sleep(delay)


def is_sign_in(credential: Credential) -> bool:
    return credential.mode == "sso"


async def with_fresh_credential_on_401(
    source: CredentialSource,
    attempt: Callable[[Credential], AsyncIterator[StreamEvent]],
    *,
    refreshable: Callable[[Credential], bool] = is_sign_in,
) -> AsyncIterator[StreamEvent]:
    """One attempt with the current credential. When the provider rejects a credential that a
    refresh can replace (`refreshable`: a sign-in token; a 401 arrives before any output, so nothing
    repeats), it is refreshed once and the attempt made again; an API key is never refreshed and the
    401 goes to the caller. A 403 (`AccessDenied`) is not refreshed: a new token would have the same
    rights."""
    credential = await source.get()
    try:
        async for event in attempt(credential):
            yield event
        return
    except ProviderError as exc:
        if not (isinstance(exc, AuthRejected) and exc.refresh_helps) or not refreshable(credential):
            raise
    credential = await source.get(force_refresh=True)
    async for event in attempt(credential):
        yield event
