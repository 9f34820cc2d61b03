"""`FakeClock`: time that moves only when a test moves it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from rupu.clock import Clock, pop_clock, push_clock

DEFAULT_START = 1_800_000_000.0  # 2027-01-15, a fixed epoch so expiries in tests read the same


class FakeClock:
    """A `rupu.clock.Clock` for tests. `now` is the current epoch time; set it or `advance()` it.
    `sleep()` records the delay, moves time forward by it (unless `advance_on_sleep=False`) and
    returns at once, after one checkpoint so other tasks get to run. Calling the clock returns `now`,
    for APIs that take a plain `() -> float` time function."""

    def __init__(self, now: float = DEFAULT_START, *, advance_on_sleep: bool = True) -> None:
        self.now = now
        self.advance_on_sleep = advance_on_sleep
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        import anyio.lowlevel

        self.sleeps.append(seconds)
        if self.advance_on_sleep:
            self.now += max(seconds, 0.0)
        await anyio.lowlevel.checkpoint()


@contextlib.contextmanager
def use_clock(clock: Clock) -> Iterator[Clock]:
    """While the block runs, `clock` is the clock of this process: what rupu reads for decisions
    made outside any object a test can hand a clock to (route history and scores in an in-process
    `rupu` command run by `CliRunner`)."""
    push_clock(clock)
    try:
        yield clock
    finally:
        pop_clock(clock)
