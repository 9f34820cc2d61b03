"""The shared HTTP error mapping (`rupu.providers.http`): retry-after parsing, which statuses are
retryable, `x-should-retry`, quota detection, proxy HTML pages, rate-limit snapshots."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import orjson
import pytest

from rupu.providers.http import (
    error_from_response,
    excerpt,
    parse_retry_after,
    rate_limit_snapshot,
)
from rupu.testing import FakeClock


def envelope(error_type: str, message: str) -> bytes:
    return orjson.dumps({"type": "error", "error": {"type": error_type, "message": message}})


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "3"}, 3.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"retry-after-ms": "2500"}, 2.5),
        ({"retry-after-ms": "2500", "retry-after": "9"}, 2.5),
        ({"retry-after-ms": "soon", "retry-after": "9"}, 9.0),
        ({"retry-after": "0"}, 0.0),
        ({"retry-after": "-1"}, None),
        ({"retry-after": "inf"}, None),
        ({"retry-after": "nan"}, None),
        ({"retry-after": "later"}, None),
        ({"retry-after": "Wed, 21 Oct 100000 07:28:00 GMT"}, None),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0),
        ({}, None),
    ],
)
def test_retry_after_forms(headers: dict[str, str], expected: float | None) -> None:
    assert parse_retry_after(headers) == expected


def test_retry_after_as_a_future_http_date() -> None:
    when = datetime.now(UTC) + timedelta(seconds=30)
    delay = parse_retry_after({"retry-after": format_datetime(when, usegmt=True)})
    assert delay is not None and 28 <= delay <= 30.5


def test_times_in_headers_are_counted_from_the_clock_passed_in() -> None:
    clock = FakeClock()
    when = datetime.fromtimestamp(clock.time() + 30, UTC)
    headers = {"retry-after": format_datetime(when, usegmt=True)}
    assert parse_retry_after(headers, now=clock.time()) == 30.0
    limited = {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset": str(clock.time() + 90)}
    error = error_from_response("p", 429, limited, b"{}", now=clock.time())
    assert error.reset_after == 90.0


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (400, False),
        (401, False),
        (403, False),
        (404, False),
        (408, True),
        (409, True),
        (413, False),
        (422, False),
        (429, True),
        (500, True),
        (502, True),
        (503, True),
        (504, True),
        (529, True),
    ],
)
def test_which_statuses_are_retryable(status: int, retryable: bool) -> None:
    error = error_from_response(
        "anthropic", status, {"request-id": "req_1"}, envelope("some_error", "m")
    )
    assert error.retryable is retryable
    assert (error.status, error.error_type, error.request_id) == (status, "some_error", "req_1")


@pytest.mark.parametrize(
    ("status", "header", "retryable"),
    [(503, "false", False), (400, "true", True), (429, "false", False)],
)
def test_x_should_retry_overrides_the_status(status: int, header: str, retryable: bool) -> None:
    error = error_from_response("p", status, {"x-should-retry": header}, envelope("e", "m"))
    assert error.retryable is retryable


@pytest.mark.parametrize(
    "body",
    [
        envelope("insufficient_quota", "You exceeded your current quota"),
        envelope("rate_limit_error", "enforced_spend_limit_reached"),
        envelope("billing_error", "Your credit balance is too low"),
    ],
)
def test_quota_429s_are_not_retryable_and_say_so(body: bytes) -> None:
    error = error_from_response("p", 429, {}, body)
    assert not error.retryable
    assert error.hint is not None and "quota or billing" in error.hint


def test_html_error_page_becomes_a_short_plain_excerpt() -> None:
    page = (
        b"<html><head><style>h1{x:y}</style><script>var a=1;</script></head><body><h1>502 Bad Gateway</h1>"
        + b"<p>x</p>" * 200
        + b"</body></html>"
    )
    error = error_from_response("p", 502, {"cf-ray": "8a1b"}, page)
    head, _, shown = error.message.partition(": ")
    assert head == "p (HTTP 502)" and shown.startswith("502 Bad Gateway x x")
    assert "<" not in shown and "var a" not in shown and "x:y" not in shown
    assert shown.endswith("… [request id 8a1b]") and len(shown) < 200
    assert error.retryable
    assert excerpt(b"") == "(empty body)"


def test_rate_limit_snapshot_keeps_every_quota_header_with_numbers_as_numbers() -> None:
    headers = {
        "anthropic-ratelimit-requests-remaining": "49",
        "anthropic-ratelimit-unified-5h-utilization": "0.5",
        "anthropic-ratelimit-tokens-reset": "2026-01-01T00:00:00Z",
        "x-ratelimit-remaining-tokens": "1000",
        "retry-after": "3",
        "content-type": "text/event-stream",
    }
    assert rate_limit_snapshot(headers) == {
        "anthropic-ratelimit-requests-remaining": 49,
        "anthropic-ratelimit-unified-5h-utilization": 0.5,
        "anthropic-ratelimit-tokens-reset": "2026-01-01T00:00:00Z",
        "x-ratelimit-remaining-tokens": 1000,
        "retry-after": 3,
    }
