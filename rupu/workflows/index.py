"""The SQLite index of workflow runs (`$RUPU_HOME/runs/index.sqlite`), for listing.

WAL mode and a busy timeout let several rupu processes write at once without "database is locked"
failures; every write is one short transaction. The run directories stay the source of truth: the
index only summarises them.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BUSY_TIMEOUT_MS = 30_000
_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    workflow TEXT NOT NULL,
    source TEXT NOT NULL,
    status TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    steps_total INTEGER NOT NULL DEFAULT 0,
    steps_done INTEGER NOT NULL DEFAULT 0,
    failed TEXT NOT NULL DEFAULT '',
    tokens INTEGER NOT NULL DEFAULT 0,
    error TEXT
);
CREATE INDEX IF NOT EXISTS runs_created ON runs (created DESC);
"""


@dataclass(frozen=True, slots=True)
class RunRow:
    run_id: str
    workflow: str
    source: str
    status: str
    created: float
    updated: float
    steps_total: int
    steps_done: int
    failed: str
    tokens: int
    error: str | None


class RunIndex:
    def __init__(self, path: Path) -> None:
        self.path = path

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        connection = sqlite3.connect(
            self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None
        )
        try:
            connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            mode = connection.execute("PRAGMA journal_mode = WAL").fetchone()
            if mode and mode[0] != "wal":  # pragma: no cover - filesystems without WAL support
                connection.execute("PRAGMA journal_mode = DELETE")
            connection.execute("PRAGMA synchronous = NORMAL")
            connection.executescript(_SCHEMA)
            yield connection
        finally:
            connection.close()

    def record(
        self,
        run_id: str,
        *,
        workflow: str,
        source: str,
        status: str,
        created: float,
        steps_total: int,
        steps_done: int = 0,
        failed: list[str] | None = None,
        tokens: int = 0,
        error: str | None = None,
    ) -> None:
        """Insert or update one run's row."""
        row = (
            run_id,
            workflow,
            source,
            status,
            created,
            time.time(),
            steps_total,
            steps_done,
            ",".join(failed or []),
            tokens,
            error,
        )
        with self._connect() as db:
            db.execute(
                "INSERT INTO runs (run_id, workflow, source, status, created, updated, steps_total,"
                " steps_done, failed, tokens, error) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
                " ON CONFLICT(run_id) DO UPDATE SET status=excluded.status,"
                " updated=excluded.updated, steps_total=excluded.steps_total,"
                " steps_done=excluded.steps_done, failed=excluded.failed,"
                " tokens=excluded.tokens, error=excluded.error",
                row,
            )

    def recent(self, *, limit: int = 50, workflow: str | None = None) -> list[RunRow]:
        query = "SELECT * FROM runs"
        params: list[Any] = []
        if workflow:
            query += " WHERE workflow = ?"
            params.append(workflow)
        query += " ORDER BY created DESC, run_id DESC LIMIT ?"
        params.append(limit)
        with self._connect() as db:
            return [RunRow(*row) for row in db.execute(query, params).fetchall()]

    def get(self, run_id: str) -> RunRow | None:
        with self._connect() as db:
            row = db.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return RunRow(*row) if row else None

    def ids_starting(self, prefix: str) -> list[str]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT run_id FROM runs WHERE run_id LIKE ? ORDER BY created DESC",
                (prefix.replace("%", "") + "%",),
            ).fetchall()
        return [r[0] for r in rows]
