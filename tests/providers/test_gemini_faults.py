"""Fault cases on the gemini routes: each is either retried after the right delay (recorded by an
injected sleep) or one clear error naming provider, status and Google's error status."""

from __future__ import annotations

import pytest

from rupu.errors import ProviderError
from rupu.messages import RetryScheduled
from rupu.testing import FakeClock
from tests.providers.gemini_support import (
    provider_for,
    request,
    run_turn,
    sso_credentials,
)
from tests.servers.base import Reply
from tests.servers.gemini import GeminiServer
from tests.servers.gemini_streams import (
    chunk,
    encode_sse,
    error_info,
    error_reply,
    html_bad_gateway,
    quota_failure,
    rate_limited,
    retry_info,
    stream,
    text_chunks,
    text_part,
)

pytestmark = pytest.mark.anyio


async def test_429_with_retry_delay_waits_that_long_then_succeeds() -> None:
    clock = FakeClock()
    with GeminiServer() as server:
        server.script.append(rate_limited("34.07s"))
        server.script.append(stream(text_chunks(["after the wait"])))
        events, turn = await run_turn(provider_for(server, clock=clock), request())
    assert clock.sleeps == [34.07]
    retries = [e for e in events if isinstance(e, RetryScheduled)]
    assert [(r.delay, r.reason) for r in retries] == [(34.07, "RESOURCE_EXHAUSTED")]
    assert turn.message.text() == "after the wait"
    assert len(server.requests) == 2


async def test_429_through_code_assist_envelope_is_retried_too() -> None:
    clock = FakeClock()
    with GeminiServer() as server:
        server.script.append(rate_limited("1.5s"))
        server.script.append(stream(text_chunks(["ok"])))
        provider = provider_for(
            server, credentials=sso_credentials(extras={"project": "test-project"}), clock=clock
        )
        _, turn = await run_turn(provider, request())
    assert clock.sleeps == [1.5]
    assert turn.message.text() == "ok"


async def test_429_daily_quota_is_not_retried_and_says_why() -> None:
    clock = FakeClock()
    with GeminiServer() as server:
        server.script.append(
            error_reply(
                429,
                "You exceeded your current quota, please check your plan and billing details.",
                "RESOURCE_EXHAUSTED",
                details=[
                    quota_failure("GenerateRequestsPerDayPerProjectPerModel-FreeTier"),
                    retry_info("3600s"),
                ],
            )
        )
        with pytest.raises(ProviderError) as caught:
            await run_turn(provider_for(server, clock=clock), request())
    error = caught.value
    assert clock.sleeps == []
    assert len(server.requests) == 1
    assert (error.provider, error.status, error.error_type) == ("gemini", 429, "RESOURCE_EXHAUSTED")
    assert error.model == "gemini-2.5-flash"
    assert not error.retryable
    assert "daily quota" in error.one_line()


async def test_429_asking_for_more_than_the_cap_fails_with_the_wait_named() -> None:
    clock = FakeClock()
    with GeminiServer() as server:
        server.script.append(rate_limited("900s"))
        with pytest.raises(ProviderError) as caught:
            await run_turn(provider_for(server, clock=clock), request())
    assert clock.sleeps == []
    assert "asked to wait 900 s" in caught.value.one_line()


async def test_500_is_retried_with_backoff_then_reported() -> None:
    clock = FakeClock()
    with GeminiServer() as server:
        for _ in range(3):
            server.script.append(error_reply(500, "Internal error encountered.", "INTERNAL"))
        with pytest.raises(ProviderError) as caught:
            await run_turn(provider_for(server, clock=clock), request())
    assert len(server.requests) == 3
    assert len(clock.sleeps) == 2
    assert 0.375 <= clock.sleeps[0] <= 0.5 and 0.75 <= clock.sleeps[1] <= 1.0
    error = caught.value
    assert (error.status, error.error_type) == (500, "INTERNAL")
    assert error.one_line().startswith("gemini (HTTP 500, INTERNAL): Internal error encountered.")


async def test_html_502_from_a_proxy_is_retried_and_reads_cleanly() -> None:
    with GeminiServer() as server:
        server.script.append(html_bad_gateway())
        server.script.append(html_bad_gateway())
        with pytest.raises(ProviderError) as caught:
            await run_turn(provider_for(server, max_retries=1), request())
    assert caught.value.status == 502
    assert "<html>" not in caught.value.one_line()
    assert "502 Bad Gateway" in caught.value.one_line()


async def test_invalid_key_names_the_fix() -> None:
    with GeminiServer() as server:
        server.script.append(
            error_reply(
                400,
                "API key not valid. Please pass a valid API key.",
                "INVALID_ARGUMENT",
                details=[error_info("API_KEY_INVALID")],
            )
        )
        with pytest.raises(ProviderError) as caught:
            await run_turn(provider_for(server), request())
    assert len(server.requests) == 1
    assert "GEMINI_API_KEY" in caught.value.one_line()


async def test_truncated_stream_is_retried_then_an_error() -> None:
    truncated = [chunk([text_part("half")])]  # no finishReason
    clock = FakeClock()
    with GeminiServer() as server:
        server.script.append(stream(truncated))
        server.script.append(stream(truncated))
        with pytest.raises(ProviderError) as caught:
            await run_turn(provider_for(server, clock=clock, max_retries=1), request())
    assert caught.value.error_type == "truncated_stream"
    # text was emitted before the stream broke off, so the partial turn is not retried
    assert len(server.requests) == 1


async def test_truncated_before_any_content_is_retried() -> None:
    empty_then_cut = [{"candidates": [], "modelVersion": "gemini-2.5-flash", "responseId": "r"}]
    clock = FakeClock()
    with GeminiServer() as server:
        server.script.append(stream(empty_then_cut))
        server.script.append(stream(text_chunks(["second try"])))
        _, turn = await run_turn(provider_for(server, clock=clock), request())
    assert turn.message.text() == "second try"
    assert len(clock.sleeps) == 1


async def test_mid_stream_disconnect_after_content_is_not_glued_to_a_retry() -> None:
    with GeminiServer() as server:
        server.script.append(stream(text_chunks(["one", "two", "three"]), drop_after=2))
        with pytest.raises(ProviderError) as caught:
            await run_turn(provider_for(server), request())
    assert caught.value.error_type in ("network_error", "truncated_stream")
    assert len(server.requests) == 1


async def test_in_stream_error_chunk_is_raised() -> None:
    body = [
        encode_sse(
            {"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}
        )
    ]
    with GeminiServer() as server:
        server.script.append(Reply(chunks=body))
        server.script.append(stream(text_chunks(["recovered"])))
        _, turn = await run_turn(provider_for(server), request())
    assert turn.message.text() == "recovered"
    assert len(server.requests) == 2


async def test_garbage_in_the_stream_is_an_error() -> None:
    with GeminiServer() as server:
        server.script.append(Reply(chunks=[b"data: {not json\r\n\r\n"]))
        with pytest.raises(ProviderError) as caught:
            await run_turn(provider_for(server, max_retries=0), request())
    assert caught.value.error_type == "invalid_stream"


@pytest.mark.parametrize(
    ("finish", "stop"),
    [
        ("MAX_TOKENS", "max_tokens"),
        ("SAFETY", "content_filter"),
        ("RECITATION", "content_filter"),
        ("PROHIBITED_CONTENT", "content_filter"),
        ("MALFORMED_FUNCTION_CALL", "error"),
        ("OTHER", "unknown"),
    ],
)
async def test_finish_reasons_map_to_stop_reasons(finish: str, stop: str) -> None:
    with GeminiServer() as server:
        server.script.append(stream(text_chunks(["partial"], finish=finish)))
        _, turn = await run_turn(provider_for(server), request())
    assert (turn.stop_reason, turn.raw_reason) == (stop, finish)


async def test_blocked_prompt_ends_as_content_filter() -> None:
    blocked = [
        {
            "promptFeedback": {"blockReason": "SAFETY"},
            "usageMetadata": {"promptTokenCount": 7, "totalTokenCount": 7},
            "modelVersion": "gemini-2.5-flash",
        }
    ]
    with GeminiServer() as server:
        server.script.append(stream(blocked))
        _, turn = await run_turn(provider_for(server), request())
    assert turn.stop_reason == "content_filter"
    assert turn.raw_reason == "PROMPT_SAFETY"
    assert turn.message.parts == []
    assert turn.usage.input_tokens == 7
