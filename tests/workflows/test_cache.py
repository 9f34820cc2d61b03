"""The step cache store on its own: lookups in chunks, stats, clearing by step and age, an index of
runs written before `cost_usd` existed, and a store that is not a database."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from rupu.workflows.cache import LOOKUP_CHUNK, StepCache, cache_path, step_reads_cache
from rupu.workflows.index import RunIndex


def record(
    step: str, output: str, *, tokens: int = 10, cost: float | None = 0.01
) -> dict[str, object]:
    return {
        "step": step,
        "output": output,
        "json": {"out": output},
        "run_id": "run_a",
        "agent": "writer",
        "provider": "fake",
        "model": "m",
        "tokens": tokens,
        "cost_usd": cost,
    }


def test_results_are_found_by_key_across_lookup_chunks(tmp_path: Path) -> None:
    cache = StepCache(cache_path(tmp_path))
    keys = [f"k{i}" for i in range(LOOKUP_CHUNK + 5)]
    for key in keys:
        cache.remember(key, record("s", key))
    assert cache.flush() is None
    assert cache.path == tmp_path / "cache" / "steps.sqlite"
    assert (cache.path.stat().st_mode & 0o777) == 0o600
    found = StepCache(cache.path).lookup([*keys, "missing"])
    assert set(found) == set(keys)
    hit = found["k3"]
    assert (hit.output, hit.json, hit.run_id, hit.step, hit.tokens, hit.cost_usd) == (
        "k3",
        {"out": "k3"},
        "run_a",
        "s",
        10,
        0.01,
    )
    with sqlite3.connect(cache.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_stats_count_reuse_and_what_it_saved(tmp_path: Path) -> None:
    cache = StepCache(cache_path(tmp_path))
    assert cache.stats().entries == 0
    cache.remember("a", record("s", "a", tokens=100, cost=0.5))
    cache.remember("b", record("s", "b", tokens=7, cost=None))
    cache.flush()
    reader = StepCache(cache.path)
    reader.lookup(["a", "b"])
    reader.lookup(["a"])
    reader.flush()
    stats = reader.stats()
    assert (stats.entries, stats.hits, stats.tokens_saved, stats.usd_saved) == (2, 3, 207, 1.0)


def test_clear_by_step_and_by_age(tmp_path: Path) -> None:
    cache = StepCache(cache_path(tmp_path))
    assert cache.clear() == 0  # no store yet
    cache.remember("a", record("draft", "a"))
    cache.remember("b", record("polish", "b"))
    cache.flush()
    assert cache.clear(workflow_step="draft") == 1
    assert cache.clear(older_than=time.time() - 3600) == 0
    assert cache.clear(older_than=time.time() + 1) == 1
    assert cache.stats().entries == 0


def test_a_store_that_is_not_a_database_is_reported_not_raised(tmp_path: Path) -> None:
    path = cache_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"garbage" * 200)
    cache = StepCache(path)
    assert cache.lookup(["a"]) == {}
    assert cache.problem is not None and "could not be read" in cache.problem
    cache.remember("a", record("s", "a"))
    problem = cache.flush()
    assert problem is not None and "could not be written" in problem


def test_which_steps_read_the_cache() -> None:
    assert [step_reads_cache("auto", v) for v in (True, None, False)] == [True, False, False]
    assert [step_reads_cache("on", v) for v in (True, None, False)] == [True, True, False]
    assert [step_reads_cache("off", v) for v in (True, None, False)] == [False, False, False]


def test_an_index_written_before_cost_gains_the_column(tmp_path: Path) -> None:
    path = tmp_path / "index.sqlite"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE runs (run_id TEXT PRIMARY KEY, workflow TEXT NOT NULL, source TEXT NOT"
            " NULL, status TEXT NOT NULL, created REAL NOT NULL, updated REAL NOT NULL,"
            " steps_total INTEGER NOT NULL DEFAULT 0, steps_done INTEGER NOT NULL DEFAULT 0,"
            " failed TEXT NOT NULL DEFAULT '', tokens INTEGER NOT NULL DEFAULT 0, error TEXT)"
        )
        db.execute("INSERT INTO runs VALUES ('run_old','w','s','succeeded',1,1,1,1,'',5,NULL)")
    index = RunIndex(path)
    old = index.get("run_old")
    assert old is not None and old.cost_usd == 0
    index.record(
        "run_new",
        workflow="w",
        source="s",
        status="failed",
        created=2,
        steps_total=1,
        cost_usd=None,
    )
    index.record(
        "run_priced", workflow="w", source="s", status="ok", created=3, steps_total=1, cost_usd=0.25
    )
    assert [(r.run_id, r.cost_usd) for r in index.recent()] == [
        ("run_priced", 0.25),
        ("run_new", None),
        ("run_old", 0),
    ]
