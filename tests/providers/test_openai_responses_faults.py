"""Faults on the Responses routes: each one is either retried with the right delay (an injected sleep
records it) or ends in one clear error naming provider, status, error type and request id."""

from __future__ import annotations

import pytest

from rupu.clock import SYSTEM_CLOCK, Clock
from rupu.config import ProviderConfig
from rupu.errors import ProviderError
from rupu.messages import AssistantTurn, RetryScheduled, StreamEvent, TextDelta
from rupu.providers.base import TurnBuilder
from rupu.testing import FakeClock
from tests.providers.responses_support import make_provider, request, run_turn
from tests.servers.base import Reply
from tests.servers.openai_responses import (
    ResponsesServer,
    ResponseStream,
    error_reply,
    fake_jwt,
    stream_reply,
    usage,
)


def answer(text: str = "Done.") -> ResponseStream:
    return ResponseStream().text([text]).completed()


async def run_against(
    server: ResponsesServer, *, clock: Clock = SYSTEM_CLOCK
) -> tuple[AssistantTurn, list[StreamEvent]]:
    provider = make_provider(ProviderConfig(base_url=server.base_url), clock=clock)
    try:
        return await run_turn(provider, request())
    finally:
        await provider.aclose()


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("headers", "delay"),
    [({"retry-after": "2"}, 2.0), ({"retry-after-ms": "2500", "retry-after": "9"}, 2.5)],
)
async def test_429_waits_as_told_then_retries(headers: dict[str, str], delay: float) -> None:
    clock = FakeClock()
    with ResponsesServer() as server:
        server.script.append(
            error_reply(
                429, "Rate limit reached", "requests", code="rate_limit_exceeded", headers=headers
            )
        )
        server.script.append(stream_reply(answer()))
        turn, events = await run_against(server, clock=clock)
    assert clock.sleeps == [delay]
    assert len(server.requests) == 2
    assert [e.delay for e in events if isinstance(e, RetryScheduled)] == [delay]
    assert turn.message.text() == "Done."


@pytest.mark.anyio
async def test_insufficient_quota_429_is_not_retried_and_says_so() -> None:
    clock = FakeClock()
    with ResponsesServer() as server:
        server.script.append(
            error_reply(
                429,
                "You exceeded your current quota, please check your plan and billing details.",
                "insufficient_quota",
                code="insufficient_quota",
                headers={"retry-after": "1"},
            )
        )
        with pytest.raises(ProviderError) as caught:
            await run_against(server, clock=clock)
    error = caught.value
    assert clock.sleeps == []
    assert len(server.requests) == 1
    assert (error.status, error.error_type, error.request_id) == (
        429,
        "insufficient_quota",
        "req_err_1",
    )
    assert "quota" in error.one_line() and "retrying will not help" in error.one_line()
    assert error.exit_code == 3


@pytest.mark.anyio
async def test_chatgpt_usage_limit_is_not_retried() -> None:
    token = fake_jwt("acct-1")
    clock = FakeClock()
    with ResponsesServer(sso_token=token, account_id="acct-1") as server:
        server.script.append(
            Reply(
                status=429,
                body=b'{"error":{"type":"usage_limit_reached","message":"The usage limit has been reached",'
                b'"plan_type":"plus","resets_at":1900000000}}',
                content_type="application/json",
                headers={"x-codex-primary-used-percent": "100"},
            )
        )
        provider = make_provider(
            ProviderConfig(sso_base_url=server.base_url), secret=token, mode="sso", clock=clock
        )
        with pytest.raises(ProviderError) as caught:
            await run_turn(provider, request())
        await provider.aclose()
    assert len(server.requests) == 1 and clock.sleeps == []
    assert caught.value.error_type == "usage_limit_reached"
    assert "retrying will not help" in caught.value.one_line()


@pytest.mark.anyio
async def test_5xx_retries_with_backoff_then_gives_up_with_a_clear_error() -> None:
    clock = FakeClock()
    with ResponsesServer() as server:
        for _ in range(3):
            server.script.append(error_reply(500, "The server had an error", "server_error"))
        with pytest.raises(ProviderError) as caught:
            await run_against(server, clock=clock)
    assert len(server.requests) == 3
    assert 0.375 <= clock.sleeps[0] <= 0.5 and 0.75 <= clock.sleeps[1] <= 1.0
    assert (caught.value.status, caught.value.error_type) == (500, "server_error")
    assert "openai (HTTP 500, server_error): The server had an error [request id req_err_1]" in str(
        caught.value
    )


@pytest.mark.anyio
async def test_x_should_retry_false_is_obeyed() -> None:
    with ResponsesServer() as server:
        server.script.append(
            error_reply(503, "overloaded", "server_error", headers={"x-should-retry": "false"})
        )
        with pytest.raises(ProviderError):
            await run_against(server, clock=FakeClock())
    assert len(server.requests) == 1


@pytest.mark.anyio
async def test_retry_after_above_the_cap_is_not_slept() -> None:
    clock = FakeClock()
    with ResponsesServer() as server:
        server.script.append(
            error_reply(429, "slow down", "requests", headers={"retry-after": "3600"})
        )
        with pytest.raises(ProviderError) as caught:
            await run_against(server, clock=clock)
    assert clock.sleeps == []
    assert "3600 s" in (caught.value.hint or "")


@pytest.mark.anyio
async def test_html_502_from_a_proxy_is_retried_and_reported_without_tags() -> None:
    page = b"<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"
    with ResponsesServer() as server:
        for _ in range(3):
            server.script.append(Reply(status=502, body=page, content_type="text/html"))
        with pytest.raises(ProviderError) as caught:
            await run_against(server, clock=FakeClock())
    assert len(server.requests) == 3
    assert caught.value.status == 502
    assert "<" not in caught.value.message and "502 Bad Gateway" in caught.value.message


@pytest.mark.anyio
async def test_disconnect_before_any_content_is_retried() -> None:
    clock = FakeClock()
    with ResponsesServer() as server:
        server.script.append(stream_reply(answer(), drop_after=2))
        server.script.append(stream_reply(answer("Second try.")))
        turn, _ = await run_against(server, clock=clock)
    assert len(clock.sleeps) == 1
    assert turn.message.text() == "Second try."


@pytest.mark.anyio
async def test_disconnect_after_content_fails_and_the_partial_turn_is_not_complete() -> None:
    stream = ResponseStream().text(["one ", "two ", "three"]).completed()
    with ResponsesServer() as server:
        server.script.append(stream_reply(stream, drop_after=6))
        provider = make_provider(ProviderConfig(base_url=server.base_url), clock=FakeClock())
        builder = TurnBuilder("openai")
        seen: list[StreamEvent] = []
        with pytest.raises(ProviderError) as caught:
            async for event in provider.stream(request()):
                seen.append(event)
                builder.add(event)
        await provider.aclose()
    assert len(server.requests) == 1
    assert caught.value.error_type == "network_error"
    assert [e.text for e in seen if isinstance(e, TextDelta)] == ["one ", "two "]
    assert builder.finished is None
    with pytest.raises(ProviderError):
        builder.result()


@pytest.mark.anyio
async def test_truncated_stream_is_an_error_not_a_short_answer() -> None:
    stream = ResponseStream().text(["cut ", "off"])  # no terminal event; the server closes cleanly
    with ResponsesServer() as server:
        server.script.append(stream_reply(stream))
        with pytest.raises(ProviderError) as caught:
            await run_against(server, clock=FakeClock())
    assert caught.value.error_type == "truncated_stream"
    assert caught.value.request_id == "req_test_123"
    assert len(server.requests) == 1


@pytest.mark.anyio
async def test_truncated_stream_before_content_is_retried() -> None:
    clock = FakeClock()
    with ResponsesServer() as server:
        server.script.append(stream_reply(ResponseStream()))  # created, in_progress, then EOF
        server.script.append(stream_reply(answer("Whole.")))
        turn, _ = await run_against(server, clock=clock)
    assert len(clock.sleeps) == 1
    assert turn.message.text() == "Whole."


@pytest.mark.anyio
async def test_response_failed_names_code_and_message() -> None:
    with ResponsesServer() as server:
        server.script.append(
            stream_reply(ResponseStream().failed("invalid_prompt", "Your prompt was flagged."))
        )
        with pytest.raises(ProviderError) as caught:
            await run_against(server, clock=FakeClock())
    assert len(server.requests) == 1
    assert caught.value.error_type == "invalid_prompt"
    assert caught.value.message.startswith("openai (invalid_prompt): Your prompt was flagged.")
    assert caught.value.request_id == "req_test_123"


@pytest.mark.anyio
async def test_response_failed_with_server_error_before_content_is_retried() -> None:
    clock = FakeClock()
    with ResponsesServer() as server:
        server.script.append(stream_reply(ResponseStream().failed("server_error", "try again")))
        server.script.append(stream_reply(answer("Recovered.")))
        turn, _ = await run_against(server, clock=clock)
    assert len(clock.sleeps) == 1
    assert turn.message.text() == "Recovered."


@pytest.mark.anyio
async def test_sse_error_event_after_content_is_raised_with_its_code() -> None:
    stream = ResponseStream().text(["partial"])
    stream.error("server_error", "An error occurred while processing your request.")
    with ResponsesServer() as server:
        server.script.append(stream_reply(stream))
        provider = make_provider(ProviderConfig(base_url=server.base_url), clock=FakeClock())
        seen: list[object] = []
        with pytest.raises(ProviderError) as caught:
            async for event in provider.stream(request()):
                seen.append(event)
        await provider.aclose()
    assert len(server.requests) == 1
    assert any(isinstance(e, TextDelta) for e in seen)
    assert caught.value.error_type == "server_error"
    assert "An error occurred while processing" in caught.value.message


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("reason", "stop"), [("max_output_tokens", "max_tokens"), ("content_filter", "content_filter")]
)
async def test_incomplete_maps_to_a_stop_reason(reason: str, stop: str) -> None:
    with ResponsesServer() as server:
        server.script.append(stream_reply(ResponseStream().text(["Partial"]).incomplete(reason)))
        turn, _ = await run_against(server)
    assert (turn.stop_reason, turn.raw_reason) == (stop, reason)
    assert turn.message.text() == "Partial"


@pytest.mark.anyio
async def test_refusal_is_text_with_refusal_stop_reason() -> None:
    with ResponsesServer() as server:
        server.script.append(stream_reply(ResponseStream().text(["No."], refusal=True).completed()))
        turn, _ = await run_against(server)
    assert turn.message.text() == "No."
    assert turn.stop_reason == "refusal"


@pytest.mark.anyio
async def test_usage_is_normalised_and_rate_limits_are_observed() -> None:
    headers = {
        "x-ratelimit-remaining-requests": "499",
        "x-ratelimit-reset-tokens": "6m0s",
        "x-request-id": "req_usage",
    }
    with ResponsesServer() as server:
        server.script.append(
            stream_reply(
                ResponseStream()
                .reasoning([["r"]])
                .text(["x"])
                .completed(usage(30, 12, cached=10, reasoning=5)),
                headers=headers,
            )
        )
        turn, _ = await run_against(server)
    got = turn.usage
    assert (got.input_tokens, got.cache_read_tokens, got.output_tokens, got.reasoning_tokens) == (
        20,
        10,
        12,
        5,
    )
    assert got.reported and got.total_tokens == 42
    assert turn.rate_limits == {
        "x-ratelimit-remaining-requests": 499,
        "x-ratelimit-reset-tokens": "6m0s",
    }
    assert turn.request_id == "req_usage"


@pytest.mark.anyio
async def test_connection_dropped_after_the_terminal_event_is_still_a_complete_turn() -> None:
    chunks = [*answer("Complete.").chunks(), b": trailing comment\n\n"]
    with ResponsesServer() as server:
        server.script.append(stream_reply(chunks, drop_after=len(chunks) - 1))
        turn, _ = await run_against(server, clock=FakeClock())
    assert len(server.requests) == 1
    assert turn.message.text() == "Complete."
    assert turn.stop_reason == "end_turn"


@pytest.mark.anyio
async def test_events_after_the_terminal_event_are_ignored() -> None:
    stream = answer("Only this.")
    stream.emit(
        "response.output_text.delta",
        item_id="msg_1",
        output_index=0,
        content_index=0,
        delta=" and not this",
        logprobs=[],
    )
    with ResponsesServer() as server:
        server.script.append(stream_reply(stream))
        turn, events = await run_against(server)
    assert turn.message.text() == "Only this."
    assert events[-1].kind == "response_finished"


@pytest.mark.anyio
async def test_done_sentinel_from_a_proxy_is_ignored_and_garbage_is_reported() -> None:
    with ResponsesServer() as server:
        server.script.append(stream_reply([*answer("Fine.").chunks(), b"data: [DONE]\n\n"]))
        server.script.append(
            stream_reply([*ResponseStream().chunks(), b"event: x\ndata: <html>oops</html>\n\n"])
        )
        turn, _ = await run_against(server)
        with pytest.raises(ProviderError) as caught:
            await run_against(server, clock=FakeClock())
    assert turn.message.text() == "Fine."
    assert caught.value.error_type == "malformed_event"
    assert "proxies" in (caught.value.hint or "")
