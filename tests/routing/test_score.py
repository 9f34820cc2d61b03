"""Scores: capability (place in the tier), latency and errors add up in seconds; a rate-limited entry
goes last until its reset, then ranks by its score again."""

from __future__ import annotations

from rupu.routing.history import HistoryFile, ModelRecord
from rupu.routing.score import rank, score_entry

NOW = 1_800_000_000.0


def history(**records: ModelRecord) -> HistoryFile:
    return HistoryFile(models={k.replace("_", ":"): v for k, v in records.items()})


def test_the_score_adds_place_latency_and_errors() -> None:
    data = history(a_m=ModelRecord(first_token_ms=400, calls=10, errors=1, error_rate=0.1))
    scored = score_entry("a", "m", 2, data, NOW)
    assert scored.score == 0.5 + 0.4 + 0.5
    assert scored.reasons == (
        "place 3 in the tier (+0.50 s)",
        "first token in 400 ms (+0.40 s)",
        "error rate 10% over 10 calls (+0.50 s)",
    )


def test_untried_models_assume_two_seconds() -> None:
    assert score_entry("a", "m", 0, HistoryFile(), NOW).score == 2.0


def test_rate_limited_goes_last_until_its_reset() -> None:
    data = history(
        fast_m=ModelRecord(first_token_ms=100, rate_limited_at=NOW - 10, rate_limit_reset=NOW + 50),
        slow_m=ModelRecord(first_token_ms=4000),
    )
    entries = [("fast", "m"), ("slow", "m"), ("new", "m")]
    order = rank(entries, data, NOW)
    assert [s.provider for s in order] == ["new", "slow", "fast"]
    assert order[-1].rate_limited and "(50 s more)" in order[-1].reasons[-1]
    after = rank(entries, data, NOW + 51)
    assert [s.provider for s in after] == ["fast", "new", "slow"]
    assert after[0].reasons[-1].endswith("(passed)")


def test_equal_scores_keep_the_tier_order() -> None:
    order = rank([("a", "m"), ("b", "m")], HistoryFile(), NOW)
    assert [s.provider for s in order] == ["a", "b"]
