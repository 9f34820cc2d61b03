"""Providers resting after a rate limit, shared by every run in the process.

A provider that answered 429 is cooled down until its reset time (from `retry-after` or the
rate-limit reset headers, else `[routing] cooldown_secs`). While it cools, routes skip it instead of
every concurrent step hitting it again. Keys are `provider@base_url/model` (`Candidate.key`): two
endpoints that share a provider name (a gateway, a test server) never cool each other, and since
providers limit per model, a fallback to another model of the same provider stays open. The clock is
injectable (`rupu.clock.Clock`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from rupu.clock import SYSTEM_CLOCK, Clock


@dataclass(frozen=True, slots=True)
class Cooldown:
    until: float
    reason: str


class CooldownRegistry:
    def __init__(self, clock: Clock = SYSTEM_CLOCK) -> None:
        self.clock = clock
        self._entries: dict[str, Cooldown] = {}
        self._lock = threading.Lock()

    def cool_down(self, key: str, seconds: float, reason: str) -> Cooldown:
        """Rest `key` for `seconds` from now; an existing, later cooldown is kept."""
        until = self.clock.time() + max(seconds, 0.0)
        with self._lock:
            current = self._entries.get(key)
            if current is None or current.until < until:
                self._entries[key] = Cooldown(until, reason)
            return self._entries[key]

    def remaining(self, key: str) -> float:
        """Seconds until `key` may be used again (0 when it is not cooling)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return 0.0
            left = entry.until - self.clock.time()
            if left <= 0:
                del self._entries[key]
                return 0.0
            return left

    def entry(self, key: str) -> Cooldown | None:
        return self._entries.get(key) if self.remaining(key) > 0 else None

    def clear(self, key: str | None = None) -> None:
        with self._lock:
            if key is None:
                self._entries.clear()
            else:
                self._entries.pop(key, None)


COOLDOWNS = CooldownRegistry()
"""The process-wide registry every route uses unless it is handed another."""
