"""The Copilot token exchange: request shape, parsing, the in-process cache, the 60 s re-mint margin,
single-flight, and what an account without Copilot is told."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import pytest

from rupu.auth.credentials import AuthMode
from rupu.errors import CredentialError, ProviderError
from rupu.providers.copilot_token import (
    DEFAULT_API_BASE,
    REMINT_MARGIN,
    CopilotTokenCache,
    api_base_of,
    parse_token_response,
    token_fields,
)
from rupu.providers.http import HttpClient
from rupu.testing import FakeClock
from tests.providers.copilot_setup import GITHUB_TOKEN, github_credential
from tests.servers.base import Reply
from tests.servers.copilot import CopilotServer, github_error, no_copilot_reply


@asynccontextmanager
async def token_cache(
    server: CopilotServer, *, github_token: str = GITHUB_TOKEN, mode: AuthMode = "api-key"
) -> AsyncIterator[CopilotTokenCache]:
    http = HttpClient("copilot")
    try:
        yield CopilotTokenCache(
            github_credential(github_token, mode),
            http=http,
            exchange_url=server.exchange_url,
            clock=server.clock,
        )
    finally:
        await http.aclose()


@pytest.mark.anyio
async def test_exchange_sends_github_token_and_editor_headers() -> None:
    with CopilotServer(clock=FakeClock()) as server:
        async with token_cache(server) as cache:
            token = await cache.get()
    request = server.exchange_requests[0]
    assert request.method == "GET"
    assert request.headers["authorization"] == f"token {GITHUB_TOKEN}"
    assert request.headers["editor-version"].startswith("vscode/")
    assert request.headers["editor-plugin-version"].startswith("copilot-chat/")
    assert request.headers["copilot-integration-id"] == "vscode-chat"
    assert request.headers["user-agent"].startswith("GitHubCopilotChat/")
    assert request.headers["x-github-api-version"]
    assert token.secret.reveal() in server.issued
    assert token.expires_at == server.issued[token.secret.reveal()]
    assert token.api_base == server.base_url
    assert token.refresh_in == server.lifetime - 300
    assert "cpt-canary" not in repr(token)


@pytest.mark.anyio
async def test_token_is_cached_until_near_expiry() -> None:
    clock = FakeClock()
    with CopilotServer(clock=clock) as server:
        async with token_cache(server) as cache:
            first = await cache.get()
            clock.now += 1000
            second = await cache.get()
    assert first is second
    assert server.exchanges == 1 == cache.exchanges


@pytest.mark.anyio
@pytest.mark.parametrize(("remaining", "exchanges"), [(61, 1), (60, 1), (59, 2), (0, 2), (-5, 2)])
async def test_remints_when_fewer_than_60_seconds_remain(remaining: int, exchanges: int) -> None:
    clock = FakeClock()
    with CopilotServer(clock=clock) as server:
        async with token_cache(server) as cache:
            first = await cache.get()
            clock.now = first.expires_at - remaining
            second = await cache.get()
    assert REMINT_MARGIN == 60
    assert server.exchanges == exchanges
    assert (second is first) == (exchanges == 1)
    if exchanges == 2:
        assert second.expires_at == clock.now + server.lifetime


@pytest.mark.anyio
async def test_fifty_concurrent_callers_share_one_exchange() -> None:
    with CopilotServer(clock=FakeClock()) as server:
        server.exchange_delay = 0.05
        async with token_cache(server) as cache:
            tokens = []

            async def one() -> None:
                tokens.append(await cache.get())

            async with anyio.create_task_group() as group:
                for _ in range(50):
                    group.start_soon(one)
    assert server.exchanges == 1
    assert len(tokens) == 50
    assert len({id(t) for t in tokens}) == 1


@pytest.mark.anyio
async def test_rejected_token_remints_once_for_many_callers() -> None:
    with CopilotServer(clock=FakeClock()) as server:
        async with token_cache(server) as cache:
            first = await cache.get()
            results = []

            async def reject() -> None:
                results.append(await cache.get(reject=first))

            async with anyio.create_task_group() as group:
                for _ in range(20):
                    group.start_soon(reject)
    assert server.exchanges == 2
    assert all(t is results[0] for t in results)
    assert results[0] is not first


@pytest.mark.anyio
@pytest.mark.parametrize("status", [401, 403, 404])
async def test_refused_exchange_says_subscription_and_fix(status: int) -> None:
    with CopilotServer(clock=FakeClock()) as server:
        server.exchange_script.append(no_copilot_reply(status))
        async with token_cache(server) as cache:
            with pytest.raises(CredentialError) as caught:
                await cache.get()
    text = caught.value.one_line()
    assert f"HTTP {status}" in text
    assert "paid GitHub Copilot subscription" in text
    assert "rupu auth login --provider copilot --mode sso" in text
    assert "COPILOT_GITHUB_TOKEN" in text
    assert "env GH_TOKEN" in text
    assert GITHUB_TOKEN not in text
    if status == 403:
        assert "Resource not accessible by integration" in text


@pytest.mark.anyio
async def test_bad_github_token_is_refused_without_showing_it() -> None:
    with CopilotServer(clock=FakeClock()) as server:
        async with token_cache(server, github_token="ghp_wrong_canary_token") as cache:
            with pytest.raises(CredentialError) as caught:
                await cache.get()
    assert "HTTP 401" in caught.value.one_line()
    assert "Bad credentials" in caught.value.one_line()
    assert "ghp_wrong_canary_token" not in caught.value.one_line()
    assert caught.value.exit_code == 4


@pytest.mark.anyio
async def test_sso_refusal_points_at_sign_in_again() -> None:
    with CopilotServer(clock=FakeClock()) as server:
        server.exchange_script.append(no_copilot_reply(404))
        async with token_cache(server, mode="sso") as cache:
            with pytest.raises(CredentialError) as caught:
                await cache.get()
    assert "run `rupu auth login --provider copilot --mode sso` again" in caught.value.one_line()


@pytest.mark.anyio
async def test_exchange_server_error_is_a_retryable_provider_error() -> None:
    with CopilotServer(clock=FakeClock()) as server:
        server.exchange_script.append(github_error(503, "Service Unavailable"))
        async with token_cache(server) as cache:
            with pytest.raises(ProviderError) as caught:
                await cache.get()
    assert caught.value.retryable
    assert caught.value.status == 503
    assert caught.value.one_line().startswith(
        "copilot (HTTP 503): the Copilot token exchange failed: Service Unavailable"
    )


@pytest.mark.anyio
async def test_exchange_answer_without_token_is_explained() -> None:
    with CopilotServer(clock=FakeClock()) as server:
        server.exchange_script.append(
            Reply(body=b'{"message": "ok"}', content_type="application/json")
        )
        async with token_cache(server) as cache:
            with pytest.raises(ProviderError, match="answered without a token"):
                await cache.get()


def test_api_host_from_endpoints_then_proxy_ep_then_default() -> None:
    token = "tid=1;exp=1800000600;proxy-ep=proxy.enterprise.githubcopilot.com;8kp=1:abc"
    assert token_fields(token)["proxy-ep"] == "proxy.enterprise.githubcopilot.com"
    endpoints = {"endpoints": {"api": "https://api.business.githubcopilot.com/"}}
    assert api_base_of(endpoints, token_fields(token)) == "https://api.business.githubcopilot.com"
    assert api_base_of({}, token_fields(token)) == "https://api.enterprise.githubcopilot.com"
    assert api_base_of({"endpoints": {}}, {}) == DEFAULT_API_BASE


def test_parsing_tolerates_a_changed_shape() -> None:
    now = 1_800_000_000.0
    token = "tid=1;exp=1800000900;proxy-ep=proxy.individual.githubcopilot.com"
    parsed = parse_token_response({"token": token, "new_field": [1, 2]}, now=now)
    assert parsed.expires_at == 1_800_000_900
    assert parsed.api_base == "https://api.individual.githubcopilot.com"
    by_refresh = parse_token_response({"token": "opaque", "refresh_in": 1500}, now=now)
    assert by_refresh.expires_at == now + 1500 + REMINT_MARGIN
    bare = parse_token_response({"token": "opaque", "expires_at": "soon"}, now=now)
    assert now < bare.expires_at <= now + 3600
    with pytest.raises(ProviderError):
        parse_token_response(["not", "an", "object"], now=now)


@pytest.mark.anyio
@pytest.mark.parametrize("lifetime", [30, 59, 100])
async def test_a_short_lived_token_is_used_not_reminted_on_every_request(lifetime: int) -> None:
    clock = FakeClock()
    with CopilotServer(clock=clock, lifetime=lifetime) as server:
        async with token_cache(server) as cache:
            first = await cache.get()
            again = await cache.get()
            clock.now += lifetime / 2 - 1
            still = await cache.get()
            clock.now += 2  # now less than half its lifetime is left
            fresh = await cache.get()
        server.assert_clean()
    assert first is again is still
    assert fresh is not first
    assert server.exchanges == 2
