"""The one HTTP provider over an injected transport (`ProviderSetup.transport`, an
`httpx.MockTransport`): retry and re-authentication paths need no server thread, for any dialect."""

from __future__ import annotations

import httpx
import pytest

from rupu.auth.credentials import Credential, FixedCredential, Secret
from rupu.config import ProviderConfig
from rupu.errors import AuthRejected, RateLimited
from rupu.messages import Message, ModelRequest, RetryScheduled, StreamEvent
from rupu.providers.base import ProviderSetup, TurnBuilder
from rupu.providers.registry import build_provider
from rupu.providers.retry import RetryPolicy
from rupu.testing import FakeClock
from tests.servers.openai_chat import text_stream

pytestmark = pytest.mark.anyio


def chat_setup(handler: httpx.MockTransport, **config: object) -> ProviderSetup:
    return ProviderSetup(
        name="gw",
        kind="openai-compatible",
        config=ProviderConfig.model_validate({"base_url": "http://gw.test/v1", **config}),
        credentials=FixedCredential(Credential("gw", "api-key", Secret("k-1"), "test")),
        retry=RetryPolicy(max_retries=2),
        clock=FakeClock(),
        transport=handler,
    )


def request() -> ModelRequest:
    return ModelRequest("m-1", "", [Message.user("hi")])


async def run(setup: ProviderSetup) -> tuple[list[StreamEvent], str]:
    provider = build_provider(setup)
    builder = TurnBuilder(setup.name)
    events: list[StreamEvent] = []
    try:
        async for event in provider.stream(request()):
            events.append(event)
            builder.add(event)
    finally:
        await provider.aclose()
    assert builder.finished is not None
    return events, builder.finished.message.text()


async def test_a_429_over_a_mock_transport_is_retried_then_answered() -> None:
    seen: list[httpx.Request] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        if len(seen) == 1:
            body = b'{"error": {"type": "rate_limit_error", "message": "slow down"}}'
            return httpx.Response(429, content=body, headers={"retry-after": "0"})
        stream = httpx.ByteStream(b"".join(text_stream(["Hel", "lo"])))
        return httpx.Response(200, stream=stream, headers={"content-type": "text/event-stream"})

    events, text = await run(chat_setup(httpx.MockTransport(handler)))
    assert text == "Hello"
    assert [e for e in events if isinstance(e, RetryScheduled)] == [
        RetryScheduled(attempt=1, delay=0.0, reason="rate_limit_error")
    ]
    assert [str(r.url) for r in seen] == ["http://gw.test/v1/chat/completions"] * 2
    assert seen[1].headers["authorization"] == "Bearer k-1"


async def test_a_rate_limit_past_the_retries_reaches_the_caller_classified() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        return httpx.Response(429, content=b'{"error": {"message": "slow"}}')

    with pytest.raises(RateLimited):
        await run(chat_setup(httpx.MockTransport(handler)))


async def test_an_api_key_rejected_is_not_refreshed() -> None:
    calls: list[str] = []

    def handler(req: httpx.Request) -> httpx.Response:
        calls.append(req.headers["authorization"])
        return httpx.Response(401, content=b'{"error": {"message": "bad key"}}')

    with pytest.raises(AuthRejected, match="bad key"):
        await run(chat_setup(httpx.MockTransport(handler)))
    assert calls == ["Bearer k-1"]
