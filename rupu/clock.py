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
