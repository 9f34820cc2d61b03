"""The clock rupu reads for decisions that depend on time: when a cooled-down provider opens again,
whether a token is close enough to expiry to refresh, how long to wait before a retry.

Code that makes such a decision takes a `Clock` (default `SYSTEM_CLOCK`) instead of calling `time` or
`anyio.sleep` itself, so tests can hand it `rupu.testing.FakeClock` and move time by hand.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def time(self) -> float:
        """Seconds since the epoch (wall clock: token expiries and reset headers are epoch times)."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def time(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        import anyio  # not at import time: `rupu --help` stays fast

        await anyio.sleep(seconds)


SYSTEM_CLOCK: Clock = SystemClock()


_in_use: list[Clock] = []


def current_clock() -> Clock:
    """The clock of this process: `SYSTEM_CLOCK`, unless a test put another in place with
    `rupu.testing.use_clock` (the way `use_provider` stands in for a provider)."""
    return _in_use[-1] if _in_use else SYSTEM_CLOCK


def push_clock(clock: Clock) -> None:
    _in_use.append(clock)


def pop_clock(clock: Clock) -> None:
    if clock in _in_use:
        _in_use.remove(clock)
