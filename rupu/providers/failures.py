"""Provider failures that need the user's action rather than time: classified once, where the
provider's answer is read, so the retry policy and the router both read the class instead of the
words.

`QuotaExhausted` (credit balance too low, spend limit, `insufficient_quota`, billing) is never
retried and never fails over: another attempt, or another route entry on the same account, would
not fix it, and a fallback on another account would spend money the user did not choose to spend.
"""

from __future__ import annotations

from rupu.errors import ProviderError

QUOTA_MARKERS = (
    "insufficient_quota",
    "billing",
    "credit_balance",
    "credit balance",
    "spend_limit",
    "spend limit",
    "usage limits",
    "quota_exceeded",
    "usage_limit_reached",
    "usage_not_included",
)


def is_quota_error(error_type: str | None, message: str | None) -> bool:
    """Whether a provider's error type and message say quota or billing is exhausted. Only the code
    that reads a provider's answer calls this; everything downstream reads `QuotaExhausted`."""
    text = f"{error_type or ''} {message or ''}".lower()
    return any(marker in text for marker in QUOTA_MARKERS)


class QuotaExhausted(ProviderError):
    """Quota, credit or billing exhausted: not retryable, whatever the status or headers say."""

    def __init__(
        self,
        provider: str,
        message: str,
        *,
        model: str | None = None,
        status: int | None = None,
        error_type: str | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
        reset_after: float | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(
            provider,
            message,
            model=model,
            status=status,
            error_type=error_type,
            request_id=request_id,
            retryable=False,
            retry_after=retry_after,
            reset_after=reset_after,
            hint=hint,
        )


def provider_error(
    provider: str,
    message: str,
    *,
    model: str | None = None,
    status: int | None = None,
    error_type: str | None = None,
    request_id: str | None = None,
    retryable: bool = False,
    retry_after: float | None = None,
    reset_after: float | None = None,
    hint: str | None = None,
) -> ProviderError:
    """A `ProviderError`, or a `QuotaExhausted` when the provider's type or message says so."""
    if status == 402 or is_quota_error(error_type, message):
        return QuotaExhausted(
            provider,
            message,
            model=model,
            status=status,
            error_type=error_type,
            request_id=request_id,
            retry_after=retry_after,
            reset_after=reset_after,
            hint=hint,
        )
    return ProviderError(
        provider,
        message,
        model=model,
        status=status,
        error_type=error_type,
        request_id=request_id,
        retryable=retryable,
        retry_after=retry_after,
        reset_after=reset_after,
        hint=hint,
    )


RateLimits = dict[str, str | int | float]
_RATE_LIMITS = "rate_limits"


def note_rate_limits(error: ProviderError, snapshot: RateLimits) -> ProviderError:
    """Keeps the quota headers of an error response (a 429 carries the most telling ones) with the
    error, for the retry wrapper to report as a `RateLimitObserved` event."""
    setattr(error, _RATE_LIMITS, dict(snapshot))
    return error


def rate_limits_of(error: ProviderError) -> RateLimits:
    snapshot = getattr(error, _RATE_LIMITS, None)
    return dict(snapshot) if isinstance(snapshot, dict) else {}
