"""The device-code grant (RFC 8628) against scripted pending / slow_down / expired / denied
sequences, with an injected clock and sleep (G15), and the token client's error handling."""

from __future__ import annotations

import math

import pytest

from rupu.auth.credentials import Secret
from rupu.auth.oauth.device import DevicePollStats, device_sign_in
from rupu.auth.oauth.endpoints import OAuthProfile, oauth_profile
from rupu.auth.oauth.tokens import DeviceCode, OAuthError, TokenClient
from rupu.config import OAuthEndpoints
from rupu.errors import ConfigError, UsageError
from rupu.testing import FakeClock
from tests.servers.oauth import Fault, OAuthServer


def device_profile(server: OAuthServer) -> OAuthProfile:
    return OAuthProfile(
        provider="copilot",
        flow="device",
        device_code_url=server.device_code_url,
        token_url=server.token_url,
        client_id=server.client_id,
        scopes=("read:user",),
    )


async def run(
    server: OAuthServer, time: FakeClock, stats: DevicePollStats
) -> tuple[str, list[DeviceCode]]:
    shown: list[DeviceCode] = []
    tokens = await device_sign_in(
        TokenClient(device_profile(server)),
        show_code=shown.append,
        sleep=time.sleep,
        clock=time.time,
        stats=stats,
    )
    return tokens.access_token.reveal(), shown


@pytest.mark.anyio
async def test_pending_then_approved() -> None:
    time, stats = FakeClock(0.0), DevicePollStats()
    with OAuthServer(device_interval=5) as server:
        server.device_script.extend(["pending", "pending", "approve"])
        token, shown = await run(server, time, stats)
    assert token.startswith("at-") and shown[0].user_code == "WDJB-MJHT"
    assert stats.polls == 3 and time.sleeps == [5, 5, 5]


@pytest.mark.anyio
async def test_slow_down_adds_five_seconds_for_every_later_poll() -> None:
    """O13 / G15: the server's new interval (5 + 5) or +5 s, whichever is larger, and it sticks."""
    time, stats = FakeClock(0.0), DevicePollStats()
    with OAuthServer(device_interval=5, device_expires_in=900) as server:
        server.device_script.extend(
            ["pending", "slow_down", "pending", "slow_down", "pending", "approve"]
        )
        await run(server, time, stats)
    assert time.sleeps == [5, 5, 10, 10, 15, 15]
    assert stats.slow_downs == 2


@pytest.mark.anyio
async def test_missing_interval_means_five_seconds() -> None:
    """O14."""
    time, stats = FakeClock(0.0), DevicePollStats()
    with OAuthServer(device_interval=None) as server:
        server.device_script.extend(["pending", "slow_down", "approve"])
        await run(server, time, stats)
    assert time.sleeps == [5, 5, 10]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("step", "message"),
    [
        ("expired", "device code expired"),
        ("denied", "denied in the browser"),
        ("device_flow_disabled", "device_flow_disabled"),
    ],
)
async def test_terminal_errors_stop_polling(step: str, message: str) -> None:
    """O15, O16, O17: one clear message, and not one poll after a terminal error."""
    time, stats = FakeClock(0.0), DevicePollStats()
    with OAuthServer(device_interval=1) as server:
        server.device_script.extend(["pending", step, "approve"])
        with pytest.raises(OAuthError) as caught:
            await run(server, time, stats)
    assert message in caught.value.one_line()
    assert "rupu auth login --provider copilot --mode sso" in caught.value.one_line()
    assert server.counts["poll"] == 2 and stats.polls == 2


@pytest.mark.anyio
async def test_polling_is_bounded_by_expires_in() -> None:
    """O18 / G15: polls <= ceil(expires_in / interval) + 1, then 'expired'."""
    time, stats = FakeClock(0.0), DevicePollStats()
    with OAuthServer(device_interval=5, device_expires_in=60) as server:
        server.device_script.extend(["pending"] * 1000)
        with pytest.raises(OAuthError, match="expired"):
            await run(server, time, stats)
    assert stats.polls <= math.ceil(60 / 5) + 1
    assert time.now <= 60


@pytest.mark.anyio
async def test_form_encoded_errors_with_http_200_are_errors() -> None:
    """O11: GitHub-style answers: the error is in the body whatever the status and encoding."""
    time, stats = FakeClock(0.0), DevicePollStats()
    with OAuthServer(device_interval=1) as server:
        server.faults.append(Fault(200, {"error": "access_denied"}, form=True))
        with pytest.raises(OAuthError, match="denied"):
            await run(server, time, stats)


@pytest.mark.anyio
async def test_token_errors_keep_only_error_and_description() -> None:
    """O10: a body that also carries a token is reduced to its OAuth error fields."""
    profile = OAuthProfile(provider="openai", flow="pkce", token_url="", client_id="x")
    with OAuthServer() as server:
        profile = OAuthProfile(
            provider="openai", flow="pkce", token_url=server.token_url, client_id=server.client_id
        )
        server.faults.append(
            Fault(
                401,
                {
                    "error": "invalid_client",
                    "error_description": "bad client",
                    "access_token": "sk-LEAK",
                },
            )
        )
        with pytest.raises(OAuthError) as caught:
            await TokenClient(profile).refresh(Secret("rt-x"))
    text = caught.value.one_line() + repr(caught.value)
    assert "invalid_client (bad client)" in text and "sk-LEAK" not in text
    assert caught.value.permanent


def test_overrides_apply_and_plain_http_is_refused_off_loopback() -> None:
    """O26; overrides from [providers.<name>.oauth]."""
    profile = oauth_profile(
        "openai",
        OAuthEndpoints(
            token_url="http://127.0.0.1:9/token", client_id="mine", redirect_port=0, scopes=["a"]
        ),
    )
    assert (profile.token_url, profile.client_id, profile.redirect_ports, profile.scopes) == (
        "http://127.0.0.1:9/token",
        "mine",
        (0,),
        ("a",),
    )
    assert oauth_profile("openai").redirect_ports == (1455, 1457)
    assert oauth_profile("copilot").flow == "device"
    with pytest.raises(ConfigError, match="must be an https"):
        oauth_profile("openai", OAuthEndpoints(token_url="http://auth.example.com/token"))
    with pytest.raises(UsageError, match="no sign-in"):
        oauth_profile("oracle")
