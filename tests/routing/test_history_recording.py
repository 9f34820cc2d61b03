"""What a route writes to the history: latency to the first token on the route's clock, a server
error once per turn (after the provider's own retries), a rate limit with its reset, and nothing
until the route closes."""

from __future__ import annotations

import pytest

from rupu.config import load_config
from rupu.messages import Message, ModelRequest
from rupu.paths import Paths
from rupu.routing.cooldown import CooldownRegistry
from rupu.routing.history import RouteHistory
from rupu.routing.plan import build_route_provider, route_for_target
from rupu.routing.target import RunTarget
from rupu.testing import FakeClock
from tests.conftest import Workspace
from tests.servers.base import RecordedRequest, Reply
from tests.servers.openai_chat import ChatCompletionsServer, error_reply, stream_reply, text_stream

ENV = {"RUPU_PRIMARY_API_KEY": "kp", "RUPU_SECONDARY_API_KEY": "ks"}


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("failure", "rate_limited"),
    [
        (error_reply(500, "boom", "server_error"), False),
        (error_reply(429, "slow down", "requests", headers={"retry-after": "90"}), True),
    ],
)
async def test_a_turn_that_failed_over_is_recorded_for_both_candidates(
    workspace: Workspace, failure: Reply, rate_limited: bool
) -> None:
    clock = FakeClock(advance_on_sleep=False)
    history = RouteHistory.under(workspace.home, clock=clock)

    def slow_answer(_: RecordedRequest) -> Reply:
        clock.advance(1.5)
        return stream_reply(text_stream(["ok"]))

    with (
        ChatCompletionsServer(api_key="kp") as primary,
        ChatCompletionsServer(api_key="ks") as secondary,
    ):
        workspace.write_config(
            f'[providers.primary]\nbase_url = "{primary.base_url}"\nmax_retries = 0\n'
            f'[providers.secondary]\nbase_url = "{secondary.base_url}"\n'
        )
        loaded = load_config(Paths(workspace.home, workspace.project, workspace.project))
        route = route_for_target(
            RunTarget("primary", "openai-compatible", "m1"), loaded, ENV, fallbacks=["secondary:m2"]
        )
        provider = build_route_provider(
            route, loaded, cooldowns=CooldownRegistry(clock), sleep=clock.sleep, history=history
        )
        primary.script.append(failure)
        secondary.script.append(slow_answer)
        request = ModelRequest(model="m1", system="", messages=[Message.user("hi")])
        async for _ in provider.stream(request):
            pass
        assert not (workspace.home / "routing").exists(), "written when the route closes"
        await provider.aclose()

    saved = RouteHistory.under(workspace.home, clock=clock).load().models
    assert saved["secondary:m2"].first_token_ms == 1500
    assert (saved["secondary:m2"].calls, saved["secondary:m2"].errors) == (1, 0)
    first = saved["primary:m1"]
    if rate_limited:
        assert first.rate_limit_reset == clock.now + 90 - 1.5
        assert (first.calls, first.errors) == (0, 0)
    else:
        assert first.rate_limit_reset is None
        assert (first.calls, first.errors, first.error_rate) == (1, 1, 0.3)
