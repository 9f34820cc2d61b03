"""FallbackProvider against loopback servers: 429 with reset headers, 529, 5xx, quota, auth and bad
requests; mid-stream rules; cooldowns shared by 20 concurrent runs under an injected clock."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import anyio
import pytest

from rupu.config import LoadedConfig, load_config
from rupu.errors import ProviderError
from rupu.messages import FailedOver, Message, ModelRequest, StreamEvent
from rupu.paths import Paths
from rupu.providers.base import TurnBuilder
from rupu.routing.cooldown import CooldownRegistry
from rupu.routing.fallback import FallbackProvider
from rupu.routing.plan import Route, build_route_provider, route_for_target
from rupu.routing.target import RunTarget
from rupu.testing import FakeClock
from tests.conftest import Workspace
from tests.servers.openai_chat import (
    ChatCompletionsServer,
    error_reply,
    stream_reply,
    text_stream,
    usage,
)

ENV = {"RUPU_PRIMARY_API_KEY": "kp", "RUPU_SECONDARY_API_KEY": "ks"}
LIMITED = {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "30s"}


@dataclass
class Rig:
    primary: ChatCompletionsServer
    secondary: ChatCompletionsServer
    loaded: LoadedConfig
    # Waits are recorded, not slept, and do not move the clock: tests move it by hand.
    clock: FakeClock = field(default_factory=lambda: FakeClock(1_000_000.0, advance_on_sleep=False))
    cooldowns: CooldownRegistry = field(init=False)

    def __post_init__(self) -> None:
        self.cooldowns = CooldownRegistry(clock=self.clock)

    @property
    def sleeps(self) -> list[float]:
        return self.clock.sleeps

    def route(self, fallbacks: tuple[str, ...] = ("secondary:m2",)) -> Route:
        target = RunTarget("primary", "openai-compatible", "m1")
        return route_for_target(target, self.loaded, ENV, fallbacks=fallbacks)

    def provider(self, fallbacks: tuple[str, ...] = ("secondary:m2",)) -> FallbackProvider:
        return build_route_provider(
            self.route(fallbacks), self.loaded, cooldowns=self.cooldowns, sleep=self.clock.sleep
        )

    def primary_key(self) -> str:
        return self.route().candidates[0].key


@pytest.fixture
def rig(workspace: Workspace) -> Iterator[Rig]:
    with (
        ChatCompletionsServer(api_key="kp") as primary,
        ChatCompletionsServer(api_key="ks") as secondary,
    ):
        workspace.write_config(
            f'[providers.primary]\nbase_url = "{primary.base_url}"\nmax_retries = 2\n'
            f'[providers.secondary]\nbase_url = "{secondary.base_url}"\n'
            "[routing]\nmax_wait_secs = 60\n"
        )
        loaded = load_config(Paths(workspace.home, workspace.project, workspace.project))
        yield Rig(primary, secondary, loaded)


def ok(text: str = "from secondary") -> Any:
    return stream_reply(text_stream([text], with_usage=usage(4, 2)))


async def turn(provider: FallbackProvider, *, close: bool = True) -> tuple[Any, list[StreamEvent]]:
    builder = TurnBuilder(provider.name)
    events: list[StreamEvent] = []
    try:
        async for event in provider.stream(
            ModelRequest(model="m1", system="", messages=[Message.user("hi")])
        ):
            events.append(event)
            builder.add(event)
    finally:
        if close:
            await provider.aclose()
    return builder.result(), events


def failovers(events: list[StreamEvent]) -> list[FailedOver]:
    return [e for e in events if isinstance(e, FailedOver)]


@pytest.mark.anyio
async def test_rate_limit_fails_over_at_once_and_cools_the_primary_until_reset(rig: Rig) -> None:
    rig.primary.script.append(error_reply(429, "Rate limit reached", "requests", headers=LIMITED))
    rig.secondary.default_reply = lambda _: ok()
    result, events = await turn(rig.provider())
    assert result.message.text() == "from secondary"
    assert len(rig.primary.requests) == 1, "a rate limit with a fallback is not retried in place"
    assert rig.sleeps == []
    (moved,) = failovers(events)
    assert (moved.from_provider, moved.from_model) == ("primary", "m1")
    assert (moved.to_provider, moved.to_model) == ("secondary", "m2")
    assert moved.error_class == "rate_limited" and "Rate limit reached" in moved.reason
    assert moved.to_credential == "api-key from env RUPU_SECONDARY_API_KEY"
    assert result.served_by is not None and result.served_by.provider == "secondary"
    assert rig.secondary.requests[0].body["model"] == "m2"
    assert rig.cooldowns.remaining(rig.primary_key()) == 30

    rig.clock.now += 29
    _, events = await turn(rig.provider())
    assert len(rig.primary.requests) == 1, "the cooled-down primary was hit before its reset"
    (skipped,) = failovers(events)
    assert skipped.error_class == "cooling_down" and "1 s more" in skipped.reason

    rig.clock.now += 1.5
    rig.primary.script.append(ok("from primary"))
    result, events = await turn(rig.provider())
    assert result.message.text() == "from primary" and not failovers(events)
    assert result.served_by is None


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("headers", "cooldown"),
    [({"retry-after": "5"}, 5.0), ({"retry-after-ms": "2500"}, 2.5), ({}, 60.0)],
)
async def test_cooldown_length_comes_from_the_headers_else_the_default(
    rig: Rig, headers: dict[str, str], cooldown: float
) -> None:
    rig.primary.script.append(error_reply(429, "slow down", "rate_limit_error", headers=headers))
    rig.secondary.script.append(ok())
    await turn(rig.provider())
    assert rig.cooldowns.remaining(rig.primary_key()) == pytest.approx(cooldown)


@pytest.mark.anyio
async def test_overloaded_fails_over_without_cooldown(rig: Rig) -> None:
    rig.primary.script.append(error_reply(529, "Overloaded", "overloaded_error"))
    rig.secondary.script.append(ok())
    result, events = await turn(rig.provider())
    assert result.message.text() == "from secondary"
    assert failovers(events)[0].error_class == "overloaded"
    assert len(rig.primary.requests) == 1
    assert rig.cooldowns.remaining(rig.primary_key()) == 0


@pytest.mark.anyio
async def test_server_errors_retry_in_place_then_fail_over(rig: Rig) -> None:
    for _ in range(3):
        rig.primary.script.append(error_reply(503, "upstream down", "server_error"))
    rig.secondary.script.append(ok())
    result, events = await turn(rig.provider())
    assert len(rig.primary.requests) == 3, "max_retries = 2 on the primary first"
    assert len(rig.sleeps) == 2
    assert failovers(events)[0].error_class == "server_error"
    assert result.message.text() == "from secondary"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("reply", "words"),
    [
        (
            error_reply(429, "You exceeded your current quota", "insufficient_quota"),
            "quota or billing exhausted",
        ),
        (error_reply(400, "unknown parameter", "invalid_request_error"), "check the model id"),
        (
            error_reply(401, "Incorrect API key", "invalid_api_key"),
            "run `rupu auth login --provider primary`",
        ),
        (
            error_reply(400, "maximum context length is 8192 tokens", "invalid_request_error"),
            "context window",
        ),
    ],
)
async def test_quota_bad_request_auth_and_overflow_never_fail_over(
    rig: Rig, reply: Any, words: str
) -> None:
    rig.primary.script.append(reply)
    with pytest.raises(ProviderError) as info:
        await turn(rig.provider())
    assert rig.secondary.requests == []
    assert words in info.value.one_line()
    assert "not failed over" in info.value.one_line()
    assert rig.cooldowns.remaining(rig.primary_key()) == 0


@pytest.mark.anyio
async def test_no_failover_once_output_was_emitted(rig: Rig) -> None:
    chunks = text_stream(["Hel", "lo"], with_usage=usage())
    rig.primary.script.append(stream_reply(chunks, drop_after=2))
    with pytest.raises(ProviderError):
        await turn(rig.provider())
    assert rig.secondary.requests == []


@pytest.mark.anyio
async def test_failover_mid_stream_before_any_output(rig: Rig) -> None:
    chunks = text_stream(["never"], with_usage=usage())
    for _ in range(3):  # the role-only first chunk, then the connection drops
        rig.primary.script.append(stream_reply(chunks, drop_after=1))
    rig.secondary.script.append(ok())
    result, events = await turn(rig.provider())
    assert result.message.text() == "from secondary"
    assert failovers(events)[0].error_class in ("network", "truncated")


@pytest.mark.anyio
async def test_every_candidate_cooling_waits_for_the_first_reset(rig: Rig) -> None:
    route = rig.route()
    rig.cooldowns.cool_down(route.candidates[0].key, 20, "HTTP 429 rate limit")
    rig.cooldowns.cool_down(route.candidates[1].key, 40, "HTTP 429 rate limit")
    rig.primary.script.append(ok("after the wait"))
    result, events = await turn(rig.provider())
    assert rig.sleeps == [20]
    assert result.message.text() == "after the wait"
    assert any(e.kind == "retry_scheduled" for e in events)


@pytest.mark.anyio
async def test_every_candidate_cooling_too_long_fails_with_the_reset(rig: Rig) -> None:
    for candidate in rig.route().candidates:
        rig.cooldowns.cool_down(candidate.key, 600, "HTTP 429 rate limit")
    with pytest.raises(ProviderError) as info:
        await turn(rig.provider())
    message = info.value.one_line()
    assert "cooling down" in message and "600 s" in message and "add a fallback" in message
    assert rig.primary.requests == [] and rig.secondary.requests == []


@pytest.mark.anyio
async def test_last_candidate_still_retries_a_rate_limit_in_place(rig: Rig) -> None:
    rig.primary.script.append(
        error_reply(429, "slow down", "rate_limit_error", headers={"retry-after": "1"})
    )
    rig.primary.script.append(ok("second try"))
    result, _ = await turn(rig.provider(fallbacks=()))
    assert result.message.text() == "second try"
    assert rig.sleeps == [1.0]


@pytest.mark.anyio
async def test_rate_limit_waits_in_place_when_the_fallback_is_cooling(rig: Rig) -> None:
    rig.cooldowns.cool_down(rig.route().candidates[1].key, 300, "HTTP 429 rate limit")
    rig.primary.script.append(
        error_reply(429, "slow down", "rate_limit_error", headers={"retry-after": "2"})
    )
    rig.primary.script.append(ok("waited"))
    result, events = await turn(rig.provider())
    assert result.message.text() == "waited" and rig.sleeps == [2.0]
    assert not failovers(events) and rig.secondary.requests == []


@pytest.mark.anyio
async def test_cooldown_is_per_model_so_a_sibling_model_stays_open(rig: Rig) -> None:
    def reply(request: Any) -> Any:
        if request.body["model"] == "m1":
            return error_reply(429, "Rate limit reached", "requests", headers=LIMITED)
        return ok(f"from {request.body['model']}")

    rig.primary.default_reply = reply
    for _ in range(2):
        result, events = await turn(rig.provider(fallbacks=("primary:m-small",)))
        assert result.message.text() == "from m-small"
        assert failovers(events)[0].to_model == "m-small"
    assert [r.body["model"] for r in rig.primary.requests] == ["m1", "m-small", "m-small"]


@pytest.mark.anyio
async def test_all_failing_names_every_provider_tried(rig: Rig) -> None:
    rig.primary.script.append(error_reply(529, "Overloaded", "overloaded_error"))
    for _ in range(3):
        rig.secondary.script.append(error_reply(529, "Overloaded", "overloaded_error"))
    with pytest.raises(ProviderError) as info:
        await turn(rig.provider())
    assert "also tried: primary:m1 (overloaded)" in info.value.one_line()


@pytest.mark.anyio
async def test_twenty_concurrent_runs_skip_the_cooled_primary_until_its_reset(rig: Rig) -> None:
    rig.primary.default_reply = lambda _: error_reply(
        429, "Rate limit reached", "requests", headers=LIMITED
    )
    rig.secondary.default_reply = lambda _: ok()
    providers = [rig.provider() for _ in range(20)]
    served: list[str] = []

    async def one_turn(provider: FallbackProvider) -> None:
        result, _ = await turn(provider, close=False)
        served.append(result.served_by.provider if result.served_by else provider.name)

    async def wave() -> None:
        async with anyio.create_task_group() as group:
            for provider in providers:
                group.start_soon(one_turn, provider)

    try:
        await wave()
        first_wave = len(rig.primary.requests)
        assert 1 <= first_wave <= 20
        assert served == ["secondary"] * 20
        for _ in range(2):  # later turns of the same 20 runs, before the reset
            rig.clock.now += 10
            await wave()
        assert len(rig.primary.requests) == first_wave, "no request may hit the cooled primary"
        assert len(rig.secondary.requests) == 60
        rig.clock.now += 10.5  # past the 30 s reset
        rig.primary.default_reply = lambda _: ok("from primary")
        served.clear()
        await wave()
        assert served == ["primary"] * 20
        assert len(rig.primary.requests) == first_wave + 20
    finally:
        for provider in providers:
            await provider.aclose()
