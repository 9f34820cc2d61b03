"""Classifying a provider's failure, once, where its answer is read: the HTTP seam and each
dialect's error explainer call `provider_error`, which picks the `ProviderError` subclass from the
status, the provider's error type and its words. Everything downstream (the retry policy, the
router, 401 re-authentication, workflow unit retries, context trimming) reads the class.

A failure worded as quota, credit or billing exhaustion is `QuotaExhausted` whatever its status
(Anthropic says "Your credit balance is too low" with a 400), so what is not retried is never
failed over either.
"""

from __future__ import annotations

from rupu.errors import (
    AccessDenied,
    AuthExpired,
    AuthRejected,
    BadRequest,
    ConnectionFailed,
    ContentRefused,
    ContextOverflow,
    Overloaded,
    ProviderError,
    QuotaExhausted,
    RateLimited,
    RateLimits,
    ServerError,
    StreamInterrupted,
    TimedOut,
)

__all__ = ["QuotaExhausted", "RateLimits", "class_for", "is_quota_error", "provider_error"]

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
CONTEXT_MARKERS = (
    "context_length_exceeded",
    "context length",
    "context window",
    "maximum context",
    "prompt is too long",
    "input is too long",
    "too many tokens",
    "request_too_large",
    "request too large",
    "reduce the length",
    "exceeds the maximum number of tokens",
    "input token count",
    "string_above_max_length",
)
POLICY_MARKERS = (
    "content_policy",
    "content policy",
    "content_filter",
    "content management policy",
    "safety",
    "moderation",
    "responsible ai",
)
EXPIRED_MARKERS = ("expired", "token has expired", "invalid_grant")

# Error types (and Google RPC statuses, lowercased) of the APIs rupu speaks.
TYPE_CLASSES: dict[str, type[ProviderError]] = {
    "rate_limit_error": RateLimited,
    "rate_limit_exceeded": RateLimited,
    "rate_limited": RateLimited,
    "resource_exhausted": RateLimited,
    "overloaded_error": Overloaded,
    "overloaded": Overloaded,
    "unavailable": Overloaded,
    "api_error": ServerError,
    "server_error": ServerError,
    "internal": ServerError,
    "internal_error": ServerError,
    "timeout": TimedOut,
    "stalled": TimedOut,
    "deadline_exceeded": TimedOut,
    "network_error": ConnectionFailed,
    "truncated_stream": StreamInterrupted,
    "malformed_stream": StreamInterrupted,
    "authentication_error": AuthRejected,
    "unauthenticated": AuthRejected,
    "invalid_api_key": AuthRejected,
    "permission_error": AccessDenied,
    "permission_denied": AccessDenied,
    "invalid_request_error": BadRequest,
    "not_found_error": BadRequest,
    "invalid_argument": BadRequest,
    "tools_unsupported": BadRequest,
}
# Words inside an unlisted error type (`internal_server_error`, `network_timeout`).
TYPE_WORDS: tuple[tuple[str, type[ProviderError]], ...] = (
    ("timeout", TimedOut),
    ("network", ConnectionFailed),
    ("server", ServerError),
)


def is_quota_error(error_type: str | None, message: str | None) -> bool:
    """Whether a provider's error type and message say quota or billing is exhausted."""
    text = f"{error_type or ''} {message or ''}".lower()
    return any(marker in text for marker in QUOTA_MARKERS)


def class_for(
    status: int | None, error_type: str | None, message: str | None
) -> type[ProviderError]:
    """The class of a provider's failure from its HTTP status (None in a stream), error type and
    message; the order is the precedence (quota wording beats a 429, a context overflow beats a
    400, the provider's own error type beats its words)."""
    kind = (error_type or "").lower()
    text = f"{kind} {message or ''}".lower()
    by_type = _by_type(kind)
    if status == 402 or is_quota_error(error_type, message):
        return QuotaExhausted
    if status in (401, 403) or (by_type is not None and issubclass(by_type, AuthRejected)):
        if status == 403 or by_type is AccessDenied:
            return AccessDenied
        return AuthExpired if any(m in text for m in EXPIRED_MARKERS) else AuthRejected
    if status == 413 or any(m in text for m in CONTEXT_MARKERS):
        return ContextOverflow
    if any(m in text for m in POLICY_MARKERS):
        return ContentRefused
    if status == 429:
        return RateLimited
    if status in (498, 529):
        return Overloaded
    if by_type is not None and by_type is not ServerError:
        return by_type
    if "overloaded" in text:  # a refinement of a generic server error
        return Overloaded
    if by_type is not None:
        return by_type
    if status in (408, 504):
        return TimedOut
    if status is not None and (status >= 500 or status == 409):
        return ServerError
    if status is not None and 400 <= status < 500:
        return BadRequest
    for word, cls in TYPE_WORDS:
        if word in kind:
            return cls
    return ProviderError


def _by_type(kind: str) -> type[ProviderError] | None:
    for part in kind.replace("/", " ").split():
        found = TYPE_CLASSES.get(part)
        if found is not None:
            return found
    return None


def provider_error(
    provider: str,
    message: str,
    *,
    model: str | None = None,
    status: int | None = None,
    error_type: str | None = None,
    request_id: str | None = None,
    retry_after: float | None = None,
    reset_after: float | None = None,
    rate_limits: RateLimits | None = None,
    should_retry: bool | None = None,
    hint: str | None = None,
    cls: type[ProviderError] | None = None,
) -> ProviderError:
    """The provider's failure as the class `class_for` picks (or `cls`, when the reader knows
    better, as Google's quota details do)."""
    chosen = cls or class_for(status, error_type, message)
    return chosen(
        provider,
        message,
        model=model,
        status=status,
        error_type=error_type,
        request_id=request_id,
        retry_after=retry_after,
        reset_after=reset_after,
        rate_limits=rate_limits,
        should_retry=should_retry,
        hint=hint,
    )
