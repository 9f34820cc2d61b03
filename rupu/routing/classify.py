"""What went wrong, and what the router does about it.

Each provider failure falls into one `ErrorClass`; each class maps to one `Action` (after Omegon's
`upstream_errors.rs` and its provider failure matrix, wire-formats §6):

| action          | classes                                                          |
|-----------------|------------------------------------------------------------------|
| retry           | server_error, timeout, network, truncated (the provider's own retries; when they are used up and a fallback exists, the router moves on) |
| failover        | rate_limited, overloaded                                         |
| reauthenticate  | auth_invalid, auth_expired (tell the user; never switch credentials silently) |
| surface         | quota, bad_request, context_overflow, content_policy, unknown   |

The class is picked once, where the provider's answer was read (`rupu.providers.failures`); the
router only looks it up, so the retry policy and the router never disagree: a `QuotaExhausted` (what
is not retried) is never failed over either.
"""

from __future__ import annotations

from typing import Literal

from rupu.errors import CredentialError, ErrorClass, ProviderError, RupuError

__all__ = ["ACTIONS", "Action", "ErrorClass", "action_for", "advice", "classify", "describe"]

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


def classify(exc: RupuError) -> ErrorClass:
    if isinstance(exc, CredentialError):
        return "auth_invalid"
    if isinstance(exc, ProviderError):
        return exc.error_class
    return "unknown"


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
