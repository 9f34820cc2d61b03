"""The anthropic provider's wire behaviour and config keys: URL, headers for both auth forms,
`headers`, `max_concurrency`, rate-limit snapshots, registration."""

from __future__ import annotations

import anyio
import pytest

from rupu.config import ProviderConfig
from rupu.messages import RateLimitObserved, ResponseStarted
from rupu.providers.anthropic import AnthropicProvider, messages_url
from rupu.providers.base import ProviderSetup
from rupu.providers.registry import build_provider
from tests.providers.anthropic_support import (
    RotatingTokens,
    api_key,
    make_provider,
    request,
    run_turn,
)
from tests.servers.anthropic import AnthropicServer, Text, Usage, response_stream, stream_reply
from tests.servers.base import RecordedRequest, Reply

OK = response_stream([Text(["Hello", " there"])])


@pytest.mark.parametrize(
    ("base", "url"),
    [
        ("https://api.anthropic.com", "https://api.anthropic.com/v1/messages"),
        ("https://api.anthropic.com/", "https://api.anthropic.com/v1/messages"),
        ("https://gw.example/anthropic/v1", "https://gw.example/anthropic/v1/messages"),
        ("https://gw.example/anthropic/v1/", "https://gw.example/anthropic/v1/messages"),
    ],
)
def test_messages_url_accepts_a_root_with_or_without_v1(base: str, url: str) -> None:
    assert messages_url(base) == url


def test_registry_builds_the_anthropic_provider_with_the_public_default_url() -> None:
    setup = ProviderSetup("anthropic", "anthropic", ProviderConfig(), api_key())
    provider = build_provider(setup)
    assert isinstance(provider, AnthropicProvider)
    assert provider._url == "https://api.anthropic.com/v1/messages"


@pytest.mark.anyio
async def test_api_key_request_headers_and_body() -> None:
    with AnthropicServer() as server:
        server.script.append(stream_reply(OK))
        provider = make_provider(server.base_url + "/v1")
        turn, events = await run_turn(provider, request("hello"))
        await provider.aclose()
    sent = server.requests[0]
    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == "test-key"
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.headers["content-type"] == "application/json"
    assert "authorization" not in sent.headers and "anthropic-beta" not in sent.headers
    assert sent.body == {
        "model": "claude-test-1",
        "max_tokens": 8192,
        "messages": [{"role": "user", "content": "hello"}],
        "stream": True,
        "system": "You are terse.",
    }
    assert isinstance(events[0], RateLimitObserved)
    assert events[0].snapshot["anthropic-ratelimit-requests-remaining"] == 49
    assert isinstance(events[1], ResponseStarted) and events[1].request_id == "req_test_123"
    assert turn.rate_limits["anthropic-ratelimit-tokens-remaining"] == 39000


@pytest.mark.anyio
async def test_subscription_utilisation_headers_are_kept_in_the_snapshot() -> None:
    headers = {
        "anthropic-ratelimit-unified-5h-utilization": "0.42",
        "anthropic-ratelimit-unified-7d-utilization": "0.1",
        "anthropic-ratelimit-unified-reset": "2026-01-01T05:00:00Z",
    }
    with AnthropicServer(tokens=["tok"]) as server:
        server.script.append(stream_reply(OK, headers=headers))
        provider = make_provider(server.base_url, credentials=RotatingTokens(["tok"]))
        turn, _ = await run_turn(provider, request())
        await provider.aclose()
    assert turn.rate_limits["anthropic-ratelimit-unified-5h-utilization"] == 0.42
    assert turn.rate_limits["anthropic-ratelimit-unified-reset"] == "2026-01-01T05:00:00Z"


@pytest.mark.anyio
async def test_configured_headers_are_sent_and_betas_merged_for_both_auth_forms() -> None:
    extra = {"X-Gateway-Team": "infra", "anthropic-beta": "context-1m-2025-08-07, oauth-2025-04-20"}
    with AnthropicServer(tokens=["tok"]) as server:
        server.script.extend([stream_reply(OK), stream_reply(OK)])
        for credentials in (api_key(), RotatingTokens(["tok"])):
            provider = make_provider(server.base_url, credentials=credentials, headers=extra)
            await run_turn(provider, request())
            await provider.aclose()
    keyed, signed_in = server.requests
    assert keyed.headers["x-gateway-team"] == signed_in.headers["x-gateway-team"] == "infra"
    assert keyed.headers["anthropic-beta"] == "context-1m-2025-08-07,oauth-2025-04-20"
    assert signed_in.headers["anthropic-beta"] == (
        "claude-code-20250219,oauth-2025-04-20,context-1m-2025-08-07"
    )


@pytest.mark.anyio
async def test_configured_headers_cannot_replace_the_credential() -> None:
    extra = {"x-api-key": "from-config", "Authorization": "Bearer from-config"}
    with AnthropicServer() as server:
        server.script.append(stream_reply(OK))
        provider = make_provider(server.base_url, headers=extra)
        await run_turn(provider, request())
        await provider.aclose()
    assert server.requests[0].headers["x-api-key"] == "test-key"
    assert "authorization" not in server.requests[0].headers


@pytest.mark.anyio
@pytest.mark.parametrize(("limit", "expected"), [(2, 2), (None, 5)])
async def test_max_concurrency_caps_requests_in_flight(limit: int | None, expected: int) -> None:
    def slow(_: RecordedRequest) -> Reply:
        return stream_reply(OK, chunk_delay=0.02)

    with AnthropicServer() as server:
        server.default_reply = slow
        provider = make_provider(server.base_url, max_concurrency=limit)
        texts: list[str] = []

        async def one() -> None:
            turn, _ = await run_turn(provider, request())
            texts.append(turn.message.text())

        async with anyio.create_task_group() as group:
            for _ in range(5):
                group.start_soon(one)
        await provider.aclose()
    assert texts == ["Hello there"] * 5
    assert server.max_in_flight == expected


@pytest.mark.anyio
async def test_usage_is_normalised_with_cache_apart_from_input() -> None:
    usage = Usage(input_tokens=20, output_tokens=7, cache_read=3000, cache_write=500)
    with AnthropicServer() as server:
        server.script.append(stream_reply(response_stream([Text(["x"])], usage=usage)))
        provider = make_provider(server.base_url)
        turn, _ = await run_turn(provider, request())
        await provider.aclose()
    assert (
        turn.usage.input_tokens,
        turn.usage.cache_read_tokens,
        turn.usage.cache_write_tokens,
    ) == (
        20,
        3000,
        500,
    )
    assert turn.usage.total_tokens == 3527


def test_gateway_bearer_scheme_sends_only_the_bearer() -> None:
    from rupu.auth.credentials import Credential, Secret

    provider = AnthropicProvider(
        ProviderSetup("copilot", "anthropic", ProviderConfig(base_url="http://gw"), None)
    )
    credential = Credential(
        "copilot", "api-key", Secret("tok-1"), "copilot token", extras={"auth_scheme": "bearer"}
    )
    headers = provider.headers(credential)
    assert headers["authorization"] == "Bearer tok-1"
    assert "x-api-key" not in headers and "anthropic-beta" not in headers
