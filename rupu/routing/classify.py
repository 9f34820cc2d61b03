"""What went wrong, and what the router does about it.

Each provider failure falls into one `ErrorClass`; each class maps to one `Action` (after Omegon's
`upstream_errors.rs` and its provider failure matrix, wire-formats §6):

| action          | classes                                                          |
|-----------------|------------------------------------------------------------------|
| retry           | server_error, timeout, network, truncated (the provider's own retries; when they are used up and a fallback exists, the router moves on) |
| failover        | rate_limited, overloaded                                         |
| reauthenticate  | auth_invalid, auth_expired (tell the user; never switch credentials silently) |
| surface         | quota, bad_request, context_overflow, content_policy, unknown   |

A failure the provider worded as quota, credit or billing exhaustion (whatever its status: Anthropic
says "Your credit balance is too low" with a 400) arrives as `QuotaExhausted`, classified where the
provider's answer was read; the retry policy reads the same class, so what is not retried is never
failed over either.
"""

from __future__ import annotations

from typing import Literal

from rupu.errors import CredentialError, ProviderError, RupuError
from rupu.providers.failures import QuotaExhausted

ErrorClass = Literal[
    "rate_limited",
    "overloaded",
    "server_error",
    "timeout",
    "network",
    "truncated",
    "auth_invalid",
    "auth_expired",
    "quota",
    "bad_request",
    "context_overflow",
    "content_policy",
    "unknown",
]
Action = Literal["retry", "failover", "reauthenticate", "surface"]

ACTIONS: dict[ErrorClass, Action] = {
    "rate_limited": "failover",
    "overloaded": "failover",
    "server_error": "retry",
    "timeout": "retry",
    "network": "retry",
    "truncated": "retry",
    "auth_invalid": "reauthenticate",
    "auth_expired": "reauthenticate",
    "quota": "surface",
    "bad_request": "surface",
    "context_overflow": "surface",
    "content_policy": "surface",
    "unknown": "surface",
}

CONTEXT_MARKERS = (
    "context_length_exceeded",
    "context length",
    "context window",
    "maximum context",
    "prompt is too long",
    "input is too long",
    "too many tokens",
    "request_too_large",
    "reduce the length",
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

_TYPE_CLASSES: dict[str, ErrorClass] = {
    "rate_limit_error": "rate_limited",
    "rate_limit_exceeded": "rate_limited",
    "rate_limited": "rate_limited",
    "resource_exhausted": "rate_limited",
    "overloaded_error": "overloaded",
    "overloaded": "overloaded",
    "unavailable": "overloaded",
    "api_error": "server_error",
    "server_error": "server_error",
    "internal": "server_error",
    "timeout": "timeout",
    "stalled": "timeout",
    "network_error": "network",
    "truncated_stream": "truncated",
    "authentication_error": "auth_invalid",
    "permission_error": "auth_invalid",
    "unauthenticated": "auth_invalid",
    "permission_denied": "auth_invalid",
    "invalid_api_key": "auth_invalid",
    "invalid_request_error": "bad_request",
    "not_found_error": "bad_request",
    "invalid_argument": "bad_request",
    "tools_unsupported": "bad_request",
}


def classify(exc: RupuError) -> ErrorClass:
    if isinstance(exc, CredentialError):
        return "auth_invalid"
    if not isinstance(exc, ProviderError):
        return "unknown"
    error_type = (exc.error_type or "").lower()
    text = f"{error_type} {exc.message}".lower()
    status = exc.status
    if isinstance(exc, QuotaExhausted) or status == 402:
        return "quota"
    if status in (401, 403) or _type_class(error_type) in ("auth_invalid", "auth_expired"):
        return "auth_expired" if any(m in text for m in EXPIRED_MARKERS) else "auth_invalid"
    if status == 413 or any(m in text for m in CONTEXT_MARKERS):
        return "context_overflow"
    if any(m in text for m in POLICY_MARKERS):
        return "content_policy"
    if status == 429:
        return "rate_limited"
    if status in (498, 529) or "overloaded" in text:
        return "overloaded"
    by_type = _type_class(error_type)
    if by_type is not None:
        return by_type
    if status in (408, 504):
        return "timeout"
    if status is not None and status >= 500:
        return "server_error"
    if status is not None and 400 <= status < 500:
        return "bad_request"
    return "unknown"


def _type_class(error_type: str) -> ErrorClass | None:
    for part in error_type.replace("/", " ").split():
        found = _TYPE_CLASSES.get(part)
        if found is not None:
            return found
    return None


def action_for(error_class: ErrorClass) -> Action:
    return ACTIONS[error_class]


def describe(error_class: ErrorClass) -> str:
    return error_class.replace("_", " ")


def advice(error_class: ErrorClass, provider: str) -> str | None:
    """What the user should do about an error the router will not fix by itself."""
    match error_class:
        case "quota":
            return f"quota or billing exhausted on {provider}: add credits or raise the plan"
        case "auth_invalid" | "auth_expired":
            return (
                f"the credential for {provider} was rejected: run `rupu auth login --provider "
                f"{provider}` or fix its key"
            )
        case "bad_request":
            return (
                f"{provider} rejected the request as invalid: check the model id and the agent's "
                "options"
            )
        case "context_overflow":
            return "the conversation is larger than the model's context window: shorten the input or use a model with a larger window"
        case "content_policy":
            return f"{provider} refused the content under its usage policy: rephrase the request"
        case _:
            return None
