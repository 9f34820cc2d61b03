"""Every fault the Anthropic route can produce, against the loopback server: a retry with the right
delay (recorded through the injected sleep), or one clear error naming provider, status, provider
error type and request id. Backoff is `min(0.5 * 2^n, 8) s` x jitter in [0.75, 1]; `retry-after-ms`
beats `retry-after`; both are honoured up to the 60 s cap."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from rupu.errors import ProviderError
from rupu.messages import RetryScheduled, StreamEvent, TextDelta
from rupu.testing import FakeClock
from tests.providers.anthropic_support import (
    RotatingTokens,
    make_provider,
    request,
    run_turn,
)
from tests.servers.anthropic import (
    AnthropicServer,
    Text,
    error_event,
    error_reply,
    html_502,
    response_stream,
    stream_reply,
)
from tests.servers.base import Reply

OK = response_stream([Text(["Hello", " there"])])


def in_backoff_window(delay: float, retry_index: int) -> bool:
    nominal: float = min(0.5 * 2**retry_index, 8.0)
    return 0.75 * nominal <= delay <= nominal


async def fails(
    server: AnthropicServer, **kwargs: Any
) -> tuple[ProviderError, list[StreamEvent], FakeClock]:
    clock = FakeClock()
    provider = make_provider(server.base_url, clock=clock, **kwargs)
    events: list[StreamEvent] = []
    with pytest.raises(ProviderError) as caught:
        async for event in provider.stream(request()):
            events.append(event)
    await provider.aclose()
    return caught.value, events, clock


async def succeeds(server: AnthropicServer, **kwargs: Any) -> tuple[list[StreamEvent], FakeClock]:
    clock = FakeClock()
    provider = make_provider(server.base_url, clock=clock, **kwargs)
    turn, events = await run_turn(provider, request())
    await provider.aclose()
    assert turn.message.text() == "Hello there"
    assert turn.stop_reason == "end_turn"
    return events, clock


def retries(events: list[StreamEvent]) -> list[RetryScheduled]:
    return [e for e in events if isinstance(e, RetryScheduled)]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "3"}, 3.0),
        ({"retry-after-ms": "2500", "retry-after": "10"}, 2.5),
        ({"retry-after": "0"}, 0.0),
    ],
)
async def test_429_waits_as_long_as_the_server_says(
    headers: dict[str, str], expected: float
) -> None:
    with AnthropicServer() as server:
        server.script.extend(
            [
                error_reply(429, "rate_limit_error", "Rate limited", headers=headers),
                stream_reply(OK),
            ]
        )
        events, clock = await succeeds(server)
    assert clock.sleeps == [expected]
    assert retries(events) == [RetryScheduled(attempt=1, delay=expected, reason="rate_limit_error")]
    assert len(server.requests) == 2


@pytest.mark.anyio
@pytest.mark.parametrize("garbage", ["-5", "soon", "nan", "inf"])
async def test_nonsense_retry_after_falls_back_to_backoff(garbage: str) -> None:
    with AnthropicServer() as server:
        server.script.extend(
            [
                error_reply(429, "rate_limit_error", "slow down", headers={"retry-after": garbage}),
                stream_reply(OK),
            ]
        )
        _, clock = await succeeds(server)
    assert len(clock.sleeps) == 1 and in_backoff_window(clock.sleeps[0], 0)


@pytest.mark.anyio
async def test_retry_after_above_the_cap_fails_at_once_and_says_why() -> None:
    with AnthropicServer() as server:
        server.script.append(
            error_reply(429, "rate_limit_error", "Rate limited", headers={"retry-after": "120"})
        )
        error, _, clock = await fails(server)
    assert clock.sleeps == [] and len(server.requests) == 1
    assert error.status == 429 and error.retry_after == 120
    assert error.hint is not None and "120 s" in error.hint and "60 s" in error.hint


@pytest.mark.anyio
async def test_529_overloaded_backs_off_exponentially_then_gives_one_clear_error() -> None:
    with AnthropicServer() as server:
        server.script.extend([error_reply(529, "overloaded_error", "Overloaded")] * 3)
        error, events, clock = await fails(server)
    assert len(server.requests) == 3
    assert len(clock.sleeps) == 2
    assert all(in_backoff_window(d, n) for n, d in enumerate(clock.sleeps))
    assert [r.delay for r in retries(events)] == clock.sleeps
    assert (error.provider, error.status, error.error_type, error.request_id) == (
        "anthropic",
        529,
        "overloaded_error",
        "req_err_1",
    )
    assert error.model == "claude-test-1"
    assert str(error) == "anthropic (HTTP 529, overloaded_error): Overloaded [request id req_err_1]"
    assert error.exit_code == 3


@pytest.mark.anyio
async def test_max_retries_from_config_bounds_the_attempts() -> None:
    with AnthropicServer() as server:
        server.script.extend([error_reply(529, "overloaded_error", "Overloaded")] * 6)
        _, _, clock = await fails(server, max_retries=5)
    assert len(server.requests) == 6
    assert all(in_backoff_window(d, n) for n, d in enumerate(clock.sleeps))
    assert max(clock.sleeps) <= 8.0 and clock.sleeps[-1] >= 6.0


@pytest.mark.anyio
async def test_500_then_success_is_retried() -> None:
    with AnthropicServer() as server:
        server.script.extend(
            [error_reply(500, "api_error", "Internal server error"), stream_reply(OK)]
        )
        events, clock = await succeeds(server)
    assert retries(events)[0].reason == "api_error" and in_backoff_window(clock.sleeps[0], 0)


@pytest.mark.anyio
async def test_html_502_from_a_proxy_is_retried_then_reported_without_markup() -> None:
    with AnthropicServer() as server:
        server.script.extend([html_502()] * 3)
        error, _, clock = await fails(server)
    assert len(server.requests) == 3 and len(clock.sleeps) == 2
    assert error.status == 502
    assert "502 Bad Gateway" in error.message and "nginx" in error.message
    assert "<" not in error.message and "color:red" not in error.message


@pytest.mark.anyio
async def test_x_should_retry_false_wins_over_a_429() -> None:
    with AnthropicServer() as server:
        server.script.append(
            error_reply(
                429, "rate_limit_error", "Rate limited", headers={"x-should-retry": "false"}
            )
        )
        error, _, clock = await fails(server)
    assert (len(server.requests), clock.sleeps, error.status) == (1, [], 429)


@pytest.mark.anyio
async def test_x_should_retry_true_wins_over_a_400() -> None:
    with AnthropicServer() as server:
        server.script.extend(
            [
                error_reply(
                    400, "invalid_request_error", "try again", headers={"x-should-retry": "true"}
                ),
                stream_reply(OK),
            ]
        )
        _, clock = await succeeds(server)
    assert len(clock.sleeps) == 1


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("status", "error_type", "message"),
    [
        (429, "rate_limit_error", "This request would exceed your account's monthly spend limit."),
        (429, "enforced_spend_limit_reached", "Spend limit reached for this workspace."),
        (400, "invalid_request_error", "You have reached your specified API usage limits."),
        (400, "billing_error", "Your credit balance is too low to access the Anthropic API."),
    ],
)
async def test_quota_and_billing_errors_are_not_retried(
    status: int, error_type: str, message: str
) -> None:
    with AnthropicServer() as server:
        server.script.append(error_reply(status, error_type, message))
        error, _, clock = await fails(server)
    assert (len(server.requests), clock.sleeps) == (1, [])
    assert not error.retryable
    assert error.hint is not None and "quota or billing" in error.hint
    assert (error.status, error.error_type, error.request_id) == (status, error_type, "req_err_1")


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("status", "error_type"),
    [
        (400, "invalid_request_error"),
        (403, "permission_error"),
        (404, "not_found_error"),
        (413, "request_too_large"),
    ],
)
async def test_client_errors_are_not_retried(status: int, error_type: str) -> None:
    with AnthropicServer() as server:
        server.script.append(error_reply(status, error_type, "nope"))
        error, _, clock = await fails(server)
    assert (len(server.requests), clock.sleeps, error.status, error.error_type) == (
        1,
        [],
        status,
        error_type,
    )
    assert error.hint


@pytest.mark.anyio
async def test_overloaded_event_before_any_content_is_retried() -> None:
    broken = [
        *response_stream([], terminal=False)[:2],
        error_event("overloaded_error", "Overloaded"),
    ]
    with AnthropicServer() as server:
        server.script.extend([stream_reply(broken), stream_reply(OK)])
        events, clock = await succeeds(server)
    assert retries(events)[0].reason == "overloaded_error"
    assert in_backoff_window(clock.sleeps[0], 0)


@pytest.mark.anyio
async def test_error_event_after_content_is_raised_not_retried() -> None:
    broken = [
        *response_stream([Text(["partial ", "answer"])], terminal=False)[:5],
        error_event("overloaded_error", "Overloaded"),
    ]
    with AnthropicServer() as server:
        server.script.extend([stream_reply(broken), stream_reply(OK)])
        error, events, clock = await fails(server)
    assert (len(server.requests), clock.sleeps) == (1, [])
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["partial ", "answer"]
    assert (error.error_type, error.request_id, error.status) == (
        "overloaded_error",
        "req_stream_err",
        None,
    )
    assert "error event in the response stream" in str(error)


@pytest.mark.anyio
async def test_disconnect_before_content_is_retried() -> None:
    with AnthropicServer() as server:
        server.script.extend([stream_reply(OK, drop_after=2), stream_reply(OK)])
        events, clock = await succeeds(server)
    assert retries(events)[0].reason == "network_error" and len(clock.sleeps) == 1


@pytest.mark.anyio
async def test_disconnect_mid_answer_is_an_error_and_no_turn_is_completed() -> None:
    with AnthropicServer() as server:
        server.script.extend([stream_reply(OK, drop_after=5), stream_reply(OK)])
        error, events, clock = await fails(server)
    assert (len(server.requests), clock.sleeps) == (1, [])
    assert any(isinstance(e, TextDelta) for e in events)
    assert not any(e.kind == "response_finished" for e in events)
    assert error.error_type == "network_error" and error.retryable


@pytest.mark.anyio
async def test_stream_ending_without_message_stop_is_truncated() -> None:
    truncated = response_stream([Text(["Hello", " there"])], terminal=False)
    with AnthropicServer() as server:
        server.script.extend([stream_reply(truncated), stream_reply(OK)])
        error, events, clock = await fails(server)
    assert (len(server.requests), clock.sleeps) == (1, [])
    assert (error.error_type, error.request_id) == ("truncated_stream", "req_test_123")
    assert "message_stop" in str(error)
    assert not any(e.kind == "response_finished" for e in events)


@pytest.mark.anyio
async def test_empty_truncated_stream_is_retried() -> None:
    with AnthropicServer() as server:
        server.script.extend(
            [stream_reply(response_stream([], terminal=False)[:2]), stream_reply(OK)]
        )
        events, _ = await succeeds(server)
    assert retries(events)[0].reason == "truncated_stream"


@pytest.mark.anyio
async def test_connection_refused_is_retried_then_named() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    clock = FakeClock()
    provider = make_provider(f"http://127.0.0.1:{port}", clock=clock)
    with pytest.raises(ProviderError) as caught:
        await run_turn(provider, request())
    await provider.aclose()
    assert len(clock.sleeps) == 2
    assert caught.value.error_type == "network_error"
    assert "connection failed" in str(caught.value)


@pytest.mark.anyio
async def test_configured_timeout_bounds_a_stalled_response() -> None:
    with AnthropicServer() as server:
        server.script.append(Reply(chunks=OK, delay=3.0))
        error, _, _ = await fails(server, max_retries=0, timeout=0.3)
    assert error.error_type == "timeout"


@pytest.mark.anyio
async def test_api_key_401_is_not_retried_and_names_the_key_source() -> None:
    from tests.providers.anthropic_support import api_key

    with AnthropicServer() as server:
        error, _, clock = await fails(server, credentials=api_key("sk-ant-wrong-canary"))
    assert (len(server.requests), clock.sleeps) == (1, [])
    assert (error.status, error.error_type) == (401, "authentication_error")
    assert error.hint is not None and "env ANTHROPIC_API_KEY" in error.hint
    assert "canary" not in error.one_line()


@pytest.mark.anyio
async def test_subscription_token_in_the_api_key_slot_gets_a_pointed_hint() -> None:
    from tests.providers.anthropic_support import api_key

    with AnthropicServer() as server:
        error, _, _ = await fails(server, credentials=api_key("sk-ant-oat01-canary"))
    assert error.hint is not None and "--mode sso" in error.hint
    assert "canary" not in error.one_line()


@pytest.mark.anyio
async def test_sso_401_refreshes_the_token_once_and_retries_once() -> None:
    tokens = RotatingTokens(["sso-expired", "sso-token-1"])
    with AnthropicServer(tokens=["sso-token-1"]) as server:
        server.script.append(stream_reply(OK))
        _, clock = await succeeds(server, credentials=tokens)
    assert tokens.refreshes == 1 and clock.sleeps == []
    assert [r.headers["authorization"] for r in server.requests] == [
        "Bearer sso-expired",
        "Bearer sso-token-1",
    ]
    for sent in server.requests:
        assert "x-api-key" not in sent.headers
        assert sent.headers["anthropic-beta"] == "claude-code-20250219,oauth-2025-04-20"
        assert sent.body["system"][0]["text"].startswith("You are Claude Code")


@pytest.mark.anyio
async def test_sso_401_after_a_refresh_is_reported_with_the_login_command() -> None:
    tokens = RotatingTokens(["sso-expired", "sso-also-expired"])
    with AnthropicServer(tokens=["sso-token-1"]) as server:
        error, _, clock = await fails(server, credentials=tokens)
    assert tokens.refreshes == 1 and len(server.requests) == 2 and clock.sleeps == []
    assert error.status == 401
    assert (
        error.hint is not None and "rupu auth login --provider anthropic --mode sso" in error.hint
    )


@pytest.mark.anyio
async def test_each_retry_asks_the_credential_source_again() -> None:
    tokens = RotatingTokens(["sso-token-1"])
    with AnthropicServer(tokens=["sso-token-1"]) as server:
        server.script.extend([error_reply(529, "overloaded_error", "Overloaded"), stream_reply(OK)])
        await succeeds(server, credentials=tokens)
    assert tokens.gets == 2 and tokens.refreshes == 0


@pytest.mark.anyio
async def test_a_stream_that_is_not_messages_json_is_named_malformed() -> None:
    garbage = [b"event: message_start\ndata: <html>oops</html>\n\n"]
    with AnthropicServer() as server:
        server.script.extend([stream_reply(garbage)] * 3)
        error, _, clock = await fails(server)
    assert error.error_type == "malformed_stream" and len(clock.sleeps) == 2
    assert error.hint is not None and "base_url" in error.hint
