"""The step cache: every unit that succeeds is remembered by its input hash (the hash resume uses:
the agent file, the resolved provider, model and auth, the rendered prompt and the output contract),
and a step with `cache: true` (or every step, with `--cache`) takes the result of an equal unit
from any earlier run instead of calling the provider again. Such a unit is recorded as `cached`,
with no tokens and no cost.

The store is SQLite in WAL mode at `$RUPU_HOME/cache/steps.sqlite`, so several rupu processes read
and write it at once. Reads happen once per step (one query for all of its units); writes are
buffered and written in one transaction when the run's records are flushed, off the event loop. A
cache that cannot be read is not an error: the run calls the provider and says why.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson

from rupu.errors import RupuError
from rupu.filemodes import private_dir
from rupu.workflows.agent_calls import AgentCall
from rupu.workflows.sqlitefile import open_shared
from rupu.workflows.units import Unit, UnitOutcome, unit_record

CACHE_FILE = "steps.sqlite"
# How many keys one lookup query binds (SQLite's default limit on variables is 32766).
LOOKUP_CHUNK = 900
_SCHEMA = """
CREATE TABLE IF NOT EXISTS units (
    key TEXT PRIMARY KEY,
    output TEXT NOT NULL,
    json TEXT,
    run_id TEXT NOT NULL,
    step TEXT NOT NULL,
    agent TEXT NOT NULL,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    tokens INTEGER NOT NULL DEFAULT 0,
    cost_usd REAL,
    created REAL NOT NULL,
    hits INTEGER NOT NULL DEFAULT 0,
    last_hit REAL
) WITHOUT ROWID;
"""
CacheMode = Literal["auto", "on", "off"]
"""`auto`: steps with `cache: true` read the cache; `on` (`--cache`): every step that does not say
`cache: false`; `off` (`--no-cache`): none (fresh results are still written)."""


@dataclass(frozen=True, slots=True)
class CachedUnit:
    """A remembered unit result; `tokens` and `cost_usd` are what it cost when it ran."""

    key: str
    output: str
    json: Any
    run_id: str
    step: str
    tokens: int
    cost_usd: float | None


@dataclass(frozen=True, slots=True)
class CacheStats:
    entries: int
    hits: int
    tokens_saved: int
    usd_saved: float
    size_bytes: int
    path: Path


def cache_path(home: Path) -> Path:
    return home / "cache" / CACHE_FILE


def step_reads_cache(mode: CacheMode, step_cache: bool | None) -> bool:
    match mode:
        case "on":
            return step_cache is not False
        case "auto":
            return step_cache is True
        case "off":
            return False


@dataclass(slots=True)
class StepCache:
    path: Path
    _pending: list[tuple[Any, ...]] = field(default_factory=list)
    _hits: list[tuple[float, str]] = field(default_factory=list)
    problem: str | None = None  # why the cache could not be read, said once

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        private_dir(self.path.parent, home=self.path.parent.parent)
        db = open_shared(self.path, _SCHEMA)
        try:
            yield db
        finally:
            db.close()

    def lookup(self, keys: Sequence[str]) -> dict[str, CachedUnit]:
        """The remembered results among `keys` (none, when the cache cannot be read)."""
        if not keys or self.problem is not None:
            return {}
        found: dict[str, CachedUnit] = {}
        try:
            with self._connect() as db:
                for start in range(0, len(keys), LOOKUP_CHUNK):
                    chunk = list(keys[start : start + LOOKUP_CHUNK])
                    marks = ",".join("?" * len(chunk))
                    rows = db.execute(
                        "SELECT key, output, json, run_id, step, tokens, cost_usd FROM units"
                        f" WHERE key IN ({marks})",
                        chunk,
                    ).fetchall()
                    for key, output, value, run_id, step, tokens, cost in rows:
                        parsed = orjson.loads(value) if value is not None else None
                        found[key] = CachedUnit(key, output, parsed, run_id, step, tokens, cost)
        except (sqlite3.Error, OSError, orjson.JSONDecodeError, RupuError) as exc:
            self.problem = f"the step cache {self.path} could not be read ({exc}); units ran afresh"
            return {}
        now = time.time()
        self._hits.extend((now, key) for key in found)
        return found

    def remember(self, key: str, record: dict[str, Any]) -> None:
        """Buffers a succeeded unit's result (written by `flush`)."""
        value = record.get("json")
        self._pending.append(
            (
                key,
                str(record.get("output") or ""),
                orjson.dumps(value).decode() if value is not None else None,
                str(record.get("run_id") or ""),
                str(record.get("step") or ""),
                str(record.get("agent") or ""),
                str(record.get("provider") or ""),
                str(record.get("model") or ""),
                int(record.get("tokens") or 0),
                record.get("cost_usd"),
                time.time(),
            )
        )

    def flush(self) -> str | None:
        """Writes what was buffered in one transaction; returns a warning instead of raising (a run
        never fails because its cache could not be written)."""
        rows, self._pending = self._pending, []
        hits, self._hits = self._hits, []
        if not rows and not hits:
            return None
        try:
            with self._connect() as db:
                db.execute("BEGIN IMMEDIATE")
                db.executemany(
                    "INSERT OR REPLACE INTO units (key, output, json, run_id, step, agent,"
                    " provider, model, tokens, cost_usd, created) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    rows,
                )
                db.executemany("UPDATE units SET hits = hits + 1, last_hit = ? WHERE key = ?", hits)
                db.execute("COMMIT")
        except (sqlite3.Error, OSError, RupuError) as exc:
            return f"the step cache {self.path} could not be written ({exc})"
        return None

    def stats(self) -> CacheStats:
        if not self.path.exists():
            return CacheStats(0, 0, 0, 0.0, 0, self.path)
        with self._connect() as db:
            entries, hits, tokens, usd = db.execute(
                "SELECT COUNT(*), COALESCE(SUM(hits), 0), COALESCE(SUM(hits * tokens), 0),"
                " COALESCE(SUM(hits * COALESCE(cost_usd, 0)), 0) FROM units"
            ).fetchone()
        size = sum(
            p.stat().st_size
            for p in self.path.parent.glob(CACHE_FILE + "*")
            if p.name in (CACHE_FILE, CACHE_FILE + "-wal")
        )
        return CacheStats(
            int(entries), int(hits), int(tokens), round(float(usd), 12), size, self.path
        )

    def clear(self, *, workflow_step: str | None = None, older_than: float | None = None) -> int:
        """Deletes entries (all, or those of one step name, or those created before `older_than`);
        returns how many."""
        if not self.path.exists():
            return 0
        where: list[str] = []
        params: list[Any] = []
        if workflow_step is not None:
            where.append("step = ?")
            params.append(workflow_step)
        if older_than is not None:
            where.append("created < ?")
            params.append(older_than)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        with self._connect() as db:
            removed = db.execute(f"DELETE FROM units{clause}", params).rowcount
            if not where:
                db.execute("VACUUM")
        return int(removed)


@dataclass(slots=True)
class RunCache:
    """The step cache as one run uses it: which steps read it (`mode`), what its units find, and
    what they leave for later runs. Only agent units are cached: a `run` step's result depends on
    the workspace, not only on its inputs."""

    store: StepCache
    mode: CacheMode = "auto"
    _noted: bool = False

    def take(
        self, step_cache: bool | None, units: Sequence[Unit]
    ) -> tuple[list[UnitOutcome], list[Unit], str | None]:
        """The cached outcomes found for `units` (each with its `units.jsonl` record), the units
        still to run, and a note the first time the store cannot be read."""
        agents = [unit for unit in units if isinstance(unit.call, AgentCall)]
        if not agents or not step_reads_cache(self.mode, step_cache):
            return [], list(units), None
        found = self.store.lookup([unit.input_hash for unit in agents])
        note = None
        if self.store.problem is not None and not self._noted:
            self._noted, note = True, self.store.problem
        hits: list[UnitOutcome] = []
        left: list[Unit] = []
        for unit in units:
            hit = found.get(unit.input_hash) if isinstance(unit.call, AgentCall) else None
            if hit is None:
                left.append(unit)
            else:
                hits.append(cached_outcome(unit, hit))
        return hits, left, note

    def remember(self, unit: Unit, outcome: UnitOutcome, run_id: str) -> None:
        if outcome.ok and isinstance(unit.call, AgentCall):
            self.store.remember(unit.input_hash, {**outcome.record, "run_id": run_id})

    def write_during(self, work: Callable[[], None]) -> str | None:
        """Writes what was remembered on a thread while `work()` runs (the run record's flush);
        returns a warning when the store could not be written."""
        problems: list[str | None] = []
        writer = threading.Thread(target=lambda: problems.append(self.store.flush()), daemon=True)
        writer.start()
        try:
            work()
        finally:
            writer.join()
        return problems[0] if problems else None


def cached_outcome(unit: Unit, hit: CachedUnit) -> UnitOutcome:
    """A unit's outcome taken from the cache: no tokens, no cost, no transcript."""
    outcome = UnitOutcome(unit.index, "succeeded", hit.output, hit.json, cost_usd=0.0, cached=True)
    outcome.record = {
        **unit_record(unit, outcome, ""),
        "cached": True,
        "cached_from": hit.run_id,
        "transcript": None,
    }
    return outcome
