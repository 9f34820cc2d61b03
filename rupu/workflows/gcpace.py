"""The garbage collector's pace while a workflow runs.

CPython collects its youngest generation after every 700 net allocations of container objects, the
middle one after every tenth of those, and now and then walks every object the process holds. A
run with a thousand units in flight holds a few hundred thousand objects (coroutines, futures,
buffers) that stay alive until their unit ends and are then freed by reference counting, so those
collections find little garbage: with the default pace they took a quarter to nearly half of the
CPU time of `bench/workflows.py`'s `streamed` and `transport` runs. While a run goes, the youngest
generation is collected after every `RUN_THRESHOLD` allocations instead (the other two thresholds
are kept); the process's own thresholds are back when its last run ends. Garbage in reference
cycles is still collected, in larger batches.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

RUN_THRESHOLD = 10_000


class _Pace:
    """How many runs of this process are going, and the thresholds they replaced."""

    __slots__ = ("active", "saved")

    def __init__(self) -> None:
        self.active = 0
        self.saved: tuple[int, int, int] = gc.get_threshold()


_PACE = _Pace()


@contextmanager
def run_pace() -> Iterator[None]:
    """Collects less often while the body runs (runs may nest or overlap). A youngest-generation
    threshold of 0 (automatic collection off) or above `RUN_THRESHOLD` is left as it is."""
    if _PACE.active == 0:
        _PACE.saved = young, middle, old = gc.get_threshold()
        if 0 < young < RUN_THRESHOLD:
            gc.set_threshold(RUN_THRESHOLD, middle, old)
    _PACE.active += 1
    try:
        yield
    finally:
        _PACE.active -= 1
        if _PACE.active == 0:
            gc.set_threshold(*_PACE.saved)
