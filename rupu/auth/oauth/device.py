"""The device authorization grant (RFC 8628), as `gh auth login` uses it: show a code and a URL, then
poll the token endpoint until the user approves, denies, or the code expires.

Polling waits `interval` seconds (5 when the server names none) before every poll; `slow_down` adds
5 seconds (or adopts the server's larger new interval) for this and every later poll; the whole wait
is bounded by the code's `expires_in`. `sleep` and `clock` are injectable so tests run instantly.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from rupu.auth.oauth.tokens import DeviceCode, DevicePending, OAuthError, TokenClient, TokenSet
from rupu.clock import SYSTEM_CLOCK

DEFAULT_INTERVAL = 5.0
SLOW_DOWN_STEP = 5.0
MIN_INTERVAL = 0.05

Sleep = Callable[[float], Awaitable[None]]


@dataclass(slots=True)
class DevicePollStats:
    polls: int = 0
    slow_downs: int = 0
    intervals: list[float] | None = None


async def device_sign_in(
    client: TokenClient,
    *,
    show_code: Callable[[DeviceCode], None],
    sleep: Sleep | None = None,
    clock: Callable[[], float] = time.monotonic,
    stats: DevicePollStats | None = None,
) -> TokenSet:
    provider = client.profile.provider
    pause: Sleep = sleep or SYSTEM_CLOCK.sleep
    code = await client.request_device_code()
    show_code(code)
    interval = code.interval if code.interval is not None else DEFAULT_INTERVAL
    interval = max(interval, MIN_INTERVAL)
    deadline = clock() + code.expires_in
    slow_downs = 0
    if stats is not None:
        stats.intervals = []
    while True:
        if clock() + interval > deadline:
            raise _expired(provider, slow_downs)
        await pause(interval)
        if stats is not None:
            stats.polls += 1
            assert stats.intervals is not None
            stats.intervals.append(interval)
        try:
            result = await client.poll_device(code.device_code)
        except OAuthError as exc:
            raise _terminal(provider, exc, slow_downs) from None
        if isinstance(result, TokenSet):
            return result
        assert isinstance(result, DevicePending)
        if result.error == "slow_down":
            slow_downs += 1
            if stats is not None:
                stats.slow_downs += 1
            interval = max(interval + SLOW_DOWN_STEP, result.interval or 0.0)


def _expired(provider: str, slow_downs: int) -> OAuthError:
    drift = (
        " The server asked rupu to slow down; if this keeps happening, the system clock may be "
        "running fast (common in WSL and VMs)."
        if slow_downs
        else ""
    )
    return OAuthError(
        provider,
        "the device code expired before the sign-in was approved." + drift,
        error="expired_token",
        permanent=True,
        hint=f"run `rupu auth login --provider {provider} --mode sso` again",
    )


def _terminal(provider: str, exc: OAuthError, slow_downs: int) -> OAuthError:
    again = f"run `rupu auth login --provider {provider} --mode sso` again"
    if exc.error == "expired_token":
        return _expired(provider, slow_downs)
    if exc.error == "access_denied":
        return OAuthError(
            provider,
            "the sign-in was denied in the browser",
            error="access_denied",
            permanent=True,
            hint=again,
        )
    return OAuthError(
        provider,
        exc.message.removeprefix(f"{provider}: "),
        error=exc.error,
        status=exc.status,
        permanent=exc.permanent,
        hint=exc.hint or again,
    )
