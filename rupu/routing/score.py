"""The order a tier's candidates are tried in: capability (the tier's preference list), observed
latency to the first token and error rate, and rate-limit state (after Omegon's scored routing).

A candidate's score is in seconds, lower first:

    score = 0.25 s x its place among the tier's available entries (capability: the list is the
                                                   preference)
          + its average latency to the first token     (2 s assumed while it has no history)
          + 5 s x its error rate                       (server errors, timeouts, dropped streams)

A candidate whose last rate limit has not reset goes behind every open one (soonest reset first),
whatever its score; once the reset passes it is ranked by its score again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from rupu.routing.history import HistoryFile, ModelRecord, history_key

PREFERENCE_STEP = 0.25
UNKNOWN_FIRST_TOKEN = 2.0
ERROR_COST = 5.0


@dataclass(frozen=True, slots=True)
class Scored:
    provider: str
    model: str
    position: int
    score: float
    limited_for: float
    record: ModelRecord
    reasons: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"{self.provider}:{self.model}"

    @property
    def rate_limited(self) -> bool:
        return self.limited_for > 0

    def order_key(self) -> tuple[bool, float, float, int]:
        return (self.rate_limited, self.limited_for, self.score, self.position)


def score_entry(
    provider: str, model: str, position: int, history: HistoryFile, now: float
) -> Scored:
    record = history.models.get(history_key(provider, model), ModelRecord())
    preference = PREFERENCE_STEP * position
    reasons = [f"place {position + 1} in the tier (+{preference:.2f} s)"]
    if record.first_token_ms is None:
        latency = UNKNOWN_FIRST_TOKEN
        reasons.append(f"no latency history (+{latency:.2f} s assumed)")
    else:
        latency = record.first_token_ms / 1000
        reasons.append(f"first token in {record.first_token_ms:.0f} ms (+{latency:.2f} s)")
    errors = ERROR_COST * record.error_rate
    if record.calls:
        reasons.append(
            f"error rate {record.error_rate:.0%} over {record.calls} calls (+{errors:.2f} s)"
        )
    limited_for = record.limited_for(now)
    if limited_for > 0:
        reasons.append(
            f"rate limited until {_when(record.rate_limit_reset)} ({limited_for:.0f} s more): "
            "behind every open candidate"
        )
    elif record.rate_limit_reset is not None:
        reasons.append(f"rate limit reset at {_when(record.rate_limit_reset)} (passed)")
    return Scored(
        provider=provider,
        model=model,
        position=position,
        score=round(preference + latency + errors, 4),
        limited_for=limited_for,
        record=record,
        reasons=tuple(reasons),
    )


def rank(entries: Sequence[tuple[str, str]], history: HistoryFile, now: float) -> list[Scored]:
    """`entries` (provider, model) in the tier's order, scored and sorted best first."""
    scored = [score_entry(p, m, i, history, now) for i, (p, m) in enumerate(entries)]
    return sorted(scored, key=Scored.order_key)


def _when(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    moment = dt.datetime.fromtimestamp(epoch, tz=dt.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")
