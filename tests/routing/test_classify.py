"""Error classes and the action each one gets; reset-time parsing; the cooldown registry."""

from __future__ import annotations

import orjson
import pytest

from rupu.errors import CredentialError, ProviderError, RateLimited
from rupu.providers.failures import QuotaExhausted, provider_error
from rupu.providers.http import error_from_response
from rupu.providers.ratelimit import parse_duration, reset_after
from rupu.routing.classify import ErrorClass, action_for, advice, classify
from rupu.routing.cooldown import CooldownRegistry
from rupu.testing import FakeClock


def err(status: int | None, error_type: str | None = None, message: str = "x") -> ProviderError:
    """An error as a dialect's explainer raises it: classified from status, type and words."""
    return provider_error("p", message, status=status, error_type=error_type)


def answered(status: int, error_type: str | None, message: str) -> ProviderError:
    """An error as the HTTP seam raises it from a provider's answer (where quota is classified)."""
    body = orjson.dumps({"error": {"type": error_type, "message": message}})
    return error_from_response("p", status, {}, body)


@pytest.mark.parametrize(
    ("error", "expected", "action"),
    [
        (err(429, "rate_limit_exceeded", "Rate limit reached"), "rate_limited", "failover"),
        (
            answered(429, "insufficient_quota", "You exceeded your current quota"),
            "quota",
            "surface",
        ),
        (answered(429, None, "Your credit balance is too low; check billing"), "quota", "surface"),
        (
            answered(400, "invalid_request_error", "Your credit balance is too low to access"),
            "quota",
            "surface",
        ),
        (answered(429, "rate_limit_error", "Your credit balance is too low"), "quota", "surface"),
        (answered(402, None, "payment required"), "quota", "surface"),
        (err(402, None, "payment required"), "quota", "surface"),
        (err(529, "overloaded_error", "Overloaded"), "overloaded", "failover"),
        (err(503, None, "The model is overloaded"), "overloaded", "failover"),
        (err(498, None, "capacity"), "overloaded", "failover"),
        (err(None, "overloaded_error", "in-stream"), "overloaded", "failover"),
        (err(None, "rate_limit_error", "in-stream"), "rate_limited", "failover"),
        (err(500, "server_error", "boom"), "server_error", "retry"),
        (err(502, None, "bad gateway"), "server_error", "retry"),
        (err(504, None, "gateway timeout"), "timeout", "retry"),
        (err(None, "timeout", "timed out"), "timeout", "retry"),
        (err(None, "network_error", "connection failed"), "network", "retry"),
        (err(None, "truncated_stream", "ended early"), "truncated", "retry"),
        (err(401, "authentication_error", "invalid x-api-key"), "auth_invalid", "reauthenticate"),
        (err(401, None, "OAuth token has expired"), "auth_expired", "reauthenticate"),
        (err(403, "permission_error", "no access"), "auth_invalid", "reauthenticate"),
        (err(400, "invalid_request_error", "bad param"), "bad_request", "surface"),
        (err(404, "not_found_error", "model not found"), "bad_request", "surface"),
        (err(422, None, "unprocessable"), "bad_request", "surface"),
        (err(413, "request_too_large", "too big"), "context_overflow", "surface"),
        (
            err(400, "invalid_request_error", "This model's maximum context length is 8192"),
            "context_overflow",
            "surface",
        ),
        (err(400, None, "prompt is too long: 210000 tokens"), "context_overflow", "surface"),
        (err(400, "content_policy_violation", "blocked"), "content_policy", "surface"),
        (err(None, "max_turns", "the agent reached maxTurns"), "unknown", "surface"),
    ],
)
def test_classes_and_actions(error: ProviderError, expected: str, action: str) -> None:
    assert classify(error) == expected
    assert action_for(classify(error)) == action


def test_credential_error_is_reauthenticate() -> None:
    error = CredentialError("groq", "no API key found")
    assert action_for(classify(error)) == "reauthenticate"


@pytest.mark.parametrize(
    "error_class", ["quota", "auth_invalid", "bad_request", "context_overflow"]
)
def test_surfaced_classes_say_what_to_do(error_class: ErrorClass) -> None:
    text = advice(error_class, "groq")
    assert text is not None and len(text) > 30


def test_error_from_response_carries_the_reset_time() -> None:
    headers = {
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "6m0s",
        "x-ratelimit-remaining-tokens": "900",
        "x-ratelimit-reset-tokens": "12ms",
    }
    body = (
        b'{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}'
    )
    error = error_from_response("groq", 429, headers, body)
    assert error.reset_after == 360.0 and error.retry_after is None
    assert classify(error) == "rate_limited"
    assert error_from_response("groq", 500, headers, b"{}").reset_after is None


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("6m0s", 360.0), ("12ms", 0.012), ("1h2m3.5s", 3723.5), ("20", 20.0), ("20s", 20.0)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "soon", "-3", "inf", "5 minutes"])
def test_bad_durations(text: str) -> None:
    assert parse_duration(text) is None


def test_reset_formats() -> None:
    now = 1_700_000_000.0
    anthropic = {
        "anthropic-ratelimit-requests-remaining": "0",
        "anthropic-ratelimit-requests-reset": "2023-11-14T22:13:50Z",
        "anthropic-ratelimit-tokens-remaining": "5000",
        "anthropic-ratelimit-tokens-reset": "2023-11-14T22:13:30Z",
    }
    assert reset_after(anthropic, now=now) == pytest.approx(30.0)
    assert reset_after({"x-ratelimit-reset": str(now + 45)}, now=now) == pytest.approx(45.0)
    assert reset_after({"x-ratelimit-reset-after": "7"}, now=now) == 7.0
    soonest = {"x-ratelimit-reset-requests": "9s", "x-ratelimit-reset-tokens": "2s"}
    assert reset_after(soonest, now=now) == 2.0
    assert reset_after({"content-type": "json"}, now=now) is None


def test_cooldown_registry_with_an_injected_clock() -> None:
    clock = FakeClock(1000.0)
    registry = CooldownRegistry(clock=clock)
    registry.cool_down("groq@x", 30, "HTTP 429 rate limit")
    assert registry.remaining("groq@x") == 30
    registry.cool_down("groq@x", 10, "shorter")  # a shorter cooldown never cuts a longer one
    assert registry.remaining("groq@x") == 30
    assert registry.remaining("groq@y") == 0
    clock.advance(29.5)
    entry = registry.entry("groq@x")
    assert entry is not None and entry.reason == "HTTP 429 rate limit"
    clock.advance(0.5)
    assert registry.remaining("groq@x") == 0 and registry.entry("groq@x") is None


@pytest.mark.parametrize(
    "error",
    [
        answered(400, "invalid_request_error", "Your credit balance is too low to access"),
        answered(429, "rate_limit_error", "Your credit balance is too low"),
        answered(429, "insufficient_quota", "You exceeded your current quota"),
    ],
)
def test_what_is_not_retried_is_not_failed_over(error: ProviderError) -> None:
    assert isinstance(error, QuotaExhausted)
    assert error.retryable is False
    assert action_for(classify(error)) == "surface"


def test_words_alone_do_not_make_a_quota_error_downstream() -> None:
    """The router reads the class the raise site chose, not the message text."""
    error = RateLimited("p", "Your credit balance is too low", status=429)
    assert classify(error) == "rate_limited"
