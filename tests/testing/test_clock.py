"""FakeClock drives rupu's time decisions through the `rupu.clock` seam, without sleeping: a
rate-limited provider's cooldown on a real route, the SSO refresh margin, retry backoff."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from rupu.auth.credentials import Secret
from rupu.auth.filestore import FileStore
from rupu.auth.oauth.tokens import TokenSet
from rupu.auth.refresh import SsoCredentialSource
from rupu.auth.stored import StoredCredential
from rupu.config import load_config
from rupu.errors import Overloaded, RateLimited
from rupu.messages import (
    Message,
    ModelRequest,
    ResponseFinished,
    RetryScheduled,
    StreamEvent,
    TextPart,
)
from rupu.paths import Paths
from rupu.providers.base import TurnBuilder
from rupu.providers.retry import RetryPolicy, stream_with_retries
from rupu.routing.cooldown import CooldownRegistry
from rupu.routing.plan import build_route_provider, route_for_target
from rupu.routing.target import RunTarget
from rupu.testing import FakeClock, ScriptedProvider, use_provider
from tests.conftest import Workspace


def test_fake_clock_moves_only_by_hand_and_by_its_own_sleeps() -> None:
    clock = FakeClock(100.0)
    assert clock.time() == clock() == 100.0
    clock.advance(2.5)
    assert clock.time() == 102.5


@pytest.mark.anyio
async def test_fake_clock_sleeps_return_at_once_and_record_the_delay() -> None:
    clock = FakeClock(100.0)
    await clock.sleep(30)
    assert (clock.time(), clock.sleeps) == (130.0, [30])
    frozen = FakeClock(100.0, advance_on_sleep=False)
    await frozen.sleep(30)
    assert (frozen.time(), frozen.sleeps) == (100.0, [30])


def ask(text: str) -> ModelRequest:
    return ModelRequest(model="m", system="", messages=[Message("user", [TextPart(text)])])


@pytest.mark.anyio
async def test_a_rate_limited_provider_rests_until_the_fake_clock_passes_its_cooldown(
    workspace: Workspace,
) -> None:
    clock = FakeClock()
    busy = ScriptedProvider(
        [RateLimited("busy", "slow down", status=429, retry_after=30)],
        name="busy",
    )
    spare = ScriptedProvider(["from spare", "spare again"], name="spare")
    loaded = load_config(Paths.discover({"RUPU_HOME": str(workspace.home)}, workspace.project))
    with use_provider(busy), use_provider(spare):
        route = route_for_target(
            RunTarget("busy", "registered", "m"), loaded, {}, fallbacks=["spare:m"]
        )
        provider = build_route_provider(
            route, loaded, cooldowns=CooldownRegistry(clock), sleep=clock.sleep
        )

        async def answer(text: str) -> str:
            builder = TurnBuilder(provider.name)
            async for event in provider.stream(ask(text)):
                builder.add(event)
            return "".join(
                p.text for p in builder.result().message.parts if isinstance(p, TextPart)
            )

        assert await answer("one") == "from spare"  # busy answered 429 and cools for 30 s
        clock.advance(29)
        assert await answer("two") == "spare again"  # still cooling: busy is not asked
        assert len(busy.requests) == 1
        clock.advance(1)
        busy.enqueue("busy is back")
        assert await answer("three") == "busy is back"
    assert clock.sleeps == []


class CountingRefresher:
    def __init__(self) -> None:
        self.calls = 0

    async def refresh(self, refresh_token: Secret) -> TokenSet:
        self.calls += 1
        return TokenSet(Secret(f"access-{self.calls}"), Secret("refresh-2"), expires_in=3600)


@pytest.mark.anyio
async def test_a_sign_in_refreshes_once_the_fake_clock_enters_the_60_second_margin(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    store = FileStore(tmp_path / "auth.json")
    stored = StoredCredential(
        provider="openai",
        mode="sso",
        secret=SecretStr("access-0"),
        refresh_token=SecretStr("refresh-1"),
        expires_at=clock.time() + 61,
        updated_at=clock.time(),
    )
    store.put(stored)
    refresher = CountingRefresher()
    source = SsoCredentialSource(
        stored,
        store=store,
        refresher=refresher,
        lock_dir=tmp_path / "locks",
        where="auth.json",
        clock=clock,
    )
    assert (await source.get()).secret.reveal() == "access-0"  # 61 s left: not yet
    clock.advance(2)
    assert (await source.get()).secret.reveal() == "access-1"  # 59 s left: refreshed
    assert refresher.calls == 1
    assert source.credential.expires_at == clock.time() + 3600


@pytest.mark.anyio
async def test_retry_backoff_waits_on_the_fake_clock() -> None:
    clock = FakeClock()
    flaky = ScriptedProvider(
        [
            Overloaded("flaky", "overloaded", status=529),
            RateLimited("flaky", "rate limited", status=429, retry_after=7.5),
            "done",
        ]
    )

    def attempt() -> AsyncIterator[StreamEvent]:
        return flaky.stream(ask("hi"))

    events = [e async for e in stream_with_retries(attempt, RetryPolicy(), sleep=clock.sleep)]
    retries = [e for e in events if isinstance(e, RetryScheduled)]
    assert clock.sleeps == [r.delay for r in retries]
    assert 0.375 <= clock.sleeps[0] <= 0.5 and clock.sleeps[1] == 7.5
    assert clock.time() == FakeClock().time() + sum(clock.sleeps)
    assert isinstance(events[-1], ResponseFinished)
