"""The open-file budget: a fan-out of a thousand units must not run out of file descriptors.

At start rupu raises its soft `RLIMIT_NOFILE` to the hard limit (what `ulimit -n` allows without
privileges). Whatever it gets, a run keeps its units in flight within `unit_budget()`: each running
unit may hold a transcript, a provider connection and a tool's pipes at once, and a reserve is kept
for the run's own records, the index and the interpreter.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

# Per running unit: its transcript, a provider connection, a bash command's three pipes, an MCP
# server's pipes and log. Generous on purpose: a unit that waits costs time, a lost record does not
# come back.
FDS_PER_UNIT = 8
RESERVE = 64
# Some systems report an unlimited hard limit that setrlimit then refuses as a soft one.
_CEILING = 1 << 20


def raise_soft_limit() -> int | None:
    """Raises the soft open-file limit toward the hard one; returns the soft limit now in force
    (None where the platform has no such limit)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    goal = _CEILING if hard == resource.RLIM_INFINITY else min(hard, _CEILING)
    if soft != resource.RLIM_INFINITY and soft < goal:
        for target in (goal, min(goal, 65536), min(goal, 10240)):
            if target <= soft:
                break
            with contextlib.suppress(ValueError, OSError):
                resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
                return target
    return None if soft == resource.RLIM_INFINITY else soft


def open_count() -> int:
    """Descriptors this process has open now (0 where that cannot be read)."""
    for directory in ("/proc/self/fd", "/dev/fd"):
        with contextlib.suppress(OSError):
            return max(sum(1 for _ in Path(directory).iterdir()) - 1, 0)  # the listing's own
    return 0  # pragma: no cover - neither /proc nor /dev/fd


def unit_budget() -> int | None:
    """How many units may run at once without running out of descriptors (None: no limit)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return None
    return max(1, (soft - open_count() - RESERVE) // FDS_PER_UNIT)
