"""The retry policy every provider shares (`rupu.providers.retry`), driven by scripted attempts and a
recorded sleep: which failures are retried, how long each wait is, and that an attempt which already
streamed content is never retried."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import pytest

from rupu.errors import ProviderError
from rupu.messages import (
    RateLimitObserved,
    ResponseFinished,
    ResponseStarted,
    RetryScheduled,
    StreamEvent,
    TextDelta,
)
from rupu.providers.failures import provider_error
from rupu.providers.retry import RetryPolicy, stream_with_retries
from rupu.testing import FakeClock

Step = Sequence[StreamEvent] | tuple[Sequence[StreamEvent], ProviderError]


def scripted(steps: Sequence[Step]) -> tuple[Callable[[], AsyncIterator[StreamEvent]], list[int]]:
    """An attempt factory playing one step per attempt: events, then optionally an error."""
    calls: list[int] = []

    async def attempt() -> AsyncIterator[StreamEvent]:
        step = steps[len(calls)]
        calls.append(1)
        events, error = step if isinstance(step, tuple) else (step, None)
        for event in events:
            yield event
        if error is not None:
            raise error

    return attempt, calls


def failure(**kwargs: Any) -> ProviderError:
    """A failure as the raise site classifies it from its status and error type."""
    return provider_error("p", "boom", **kwargs)


DONE: list[StreamEvent] = [ResponseStarted("m"), TextDelta("ok"), ResponseFinished("end_turn")]


async def drive(
    steps: Sequence[Step], policy: RetryPolicy | None = None
) -> tuple[list[StreamEvent], FakeClock, int]:
    attempt, calls = scripted(steps)
    clock = FakeClock()
    events = [
        e async for e in stream_with_retries(attempt, policy or RetryPolicy(), sleep=clock.sleep)
    ]
    return events, clock, len(calls)


@pytest.mark.parametrize(
    ("retry", "nominal"), [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 8.0), (9, 8.0)]
)
def test_backoff_is_capped_exponential_with_jitter_between_three_quarters_and_one(
    retry: int, nominal: float
) -> None:
    policy = RetryPolicy()
    assert policy.backoff(retry, rng=lambda: 0.0) == 0.75 * nominal
    assert policy.backoff(retry, rng=lambda: 1.0) == nominal
    assert 0.75 * nominal <= policy.backoff(retry) <= nominal


@pytest.mark.anyio
async def test_retryable_failures_are_retried_with_backoff_then_succeed() -> None:
    events, clock, calls = await drive(
        [([], failure(status=503)), ([], failure(error_type="network_error")), DONE]
    )
    assert calls == 3
    assert 0.375 <= clock.sleeps[0] <= 0.5 and 0.75 <= clock.sleeps[1] <= 1.0
    scheduled = [e for e in events if isinstance(e, RetryScheduled)]
    assert [(r.attempt, r.reason) for r in scheduled] == [(1, "HTTP 503"), (2, "network_error")]
    assert [r.delay for r in scheduled] == clock.sleeps
    assert events[-1] == ResponseFinished("end_turn")


@pytest.mark.anyio
async def test_gives_up_after_max_retries_with_the_last_error() -> None:
    last = failure(status=529, error_type="overloaded_error")
    with pytest.raises(ProviderError) as caught:
        await drive([([], failure(status=529))] * 2 + [([], last)], RetryPolicy(max_retries=2))
    assert caught.value is last


@pytest.mark.anyio
async def test_max_retries_zero_means_one_attempt() -> None:
    with pytest.raises(ProviderError):
        await drive([([], failure(status=500)), DONE], RetryPolicy(max_retries=0))


@pytest.mark.anyio
async def test_non_retryable_errors_are_raised_at_once() -> None:
    attempt, calls = scripted([([], failure(status=400)), DONE])
    clock = FakeClock()
    with pytest.raises(ProviderError):
        _ = [e async for e in stream_with_retries(attempt, RetryPolicy(), sleep=clock.sleep)]
    assert (len(calls), clock.sleeps) == (1, [])


@pytest.mark.anyio
async def test_retry_after_replaces_backoff_up_to_the_cap() -> None:
    _, clock, _ = await drive([([], failure(status=429, retry_after=7.5)), DONE])
    assert clock.sleeps == [7.5]
    with pytest.raises(ProviderError) as caught:
        await drive([([], failure(status=429, retry_after=61.0)), DONE])
    assert caught.value.hint is not None and "61 s" in caught.value.hint


@pytest.mark.anyio
async def test_metadata_before_a_failure_does_not_block_a_retry() -> None:
    prelude: list[StreamEvent] = [
        RateLimitObserved({"x-ratelimit-remaining-requests": 0}),
        ResponseStarted("m"),
    ]
    _, clock, calls = await drive([(prelude, failure(error_type="overloaded_error")), DONE])
    assert calls == 2 and len(clock.sleeps) == 1


@pytest.mark.anyio
async def test_content_already_streamed_is_never_retried() -> None:
    partial: list[StreamEvent] = [ResponseStarted("m"), TextDelta("half an ans")]
    attempt, calls = scripted([(partial, failure(error_type="network_error")), DONE])
    clock = FakeClock()
    seen: list[StreamEvent] = []
    with pytest.raises(ProviderError):
        async for event in stream_with_retries(attempt, RetryPolicy(), sleep=clock.sleep):
            seen.append(event)
    assert (len(calls), clock.sleeps) == (1, [])
    assert seen == partial
