"""The SQLite index of workflow runs (`$RUPU_HOME/runs/index.sqlite`), for listing.

Several rupu processes write it at once (rupu.workflows.sqlitefile); every write is one short
transaction. The run directories stay the source of truth: the index only summarises them, so an
index that is not a readable SQLite database (or not ours) is deleted and rebuilt from the run
folders, with a warning on stderr.
"""

from __future__ import annotations

import contextlib
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rupu.workflows.sqlitefile import open_shared

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
    error TEXT,
    units_done INTEGER NOT NULL DEFAULT 0,
    units_total INTEGER NOT NULL DEFAULT 0,
    cost_usd REAL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS runs_created ON runs (created DESC);
"""
_COLUMNS = (
    "run_id, workflow, source, status, created, updated, steps_total, steps_done, failed, tokens,"
    " error, units_done, units_total, cost_usd"
)
# Absent from indexes written by rupu before them: name -> declaration.
_ADDED_COLUMNS = {
    "units_done": "INTEGER NOT NULL DEFAULT 0",
    "units_total": "INTEGER NOT NULL DEFAULT 0",
    "cost_usd": "REAL DEFAULT 0",
}
# SQLite result codes that say nothing about the file's content (busy, locked, I/O, disk full, ...):
# only the other errors make the index garbage worth rebuilding.
_TRANSIENT = frozenset({3, 5, 6, 7, 8, 9, 10, 13, 14})
RowSource = Callable[[], list[dict[str, Any]]]


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
    units_done: int = 0
    units_total: int = 0
    cost_usd: float | None = 0.0  # None: part of the run has no known price


def _is_garbage(exc: sqlite3.DatabaseError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code is None or (code & 0xFF) not in _TRANSIENT


def _say(text: str) -> None:
    sys.stderr.write(f"rupu: warning: {text}\n")
    sys.stderr.flush()


def _add_columns(connection: sqlite3.Connection) -> None:
    present = {row[1] for row in connection.execute("PRAGMA table_info(runs)")}
    for column, declaration in _ADDED_COLUMNS.items():
        if column not in present:
            connection.execute(f"ALTER TABLE runs ADD COLUMN {column} {declaration}")


class RunIndex:
    """`rebuild` lists the rows the run folders hold (for an index found to be garbage)."""

    def __init__(
        self,
        path: Path,
        *,
        rebuild: RowSource | None = None,
        notify: Callable[[str], None] = _say,
    ) -> None:
        self.path = path
        self._rebuild = rebuild
        self._notify = notify
        self._checked = False

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        if not self._checked:
            self._checked = True
            self._check()
        connection = self._open()
        try:
            yield connection
        finally:
            connection.close()

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        return open_shared(self.path, _SCHEMA, migrate=_add_columns)

    def _check(self) -> None:
        """Opens the index once and reads every row; garbage is replaced by a rebuilt index."""
        try:
            connection = self._open()
            try:
                connection.execute(f"SELECT {_COLUMNS} FROM runs").fetchall()
                connection.execute("PRAGMA quick_check").fetchall()
            finally:
                connection.close()
        except sqlite3.DatabaseError as exc:
            if not _is_garbage(exc):
                raise
            self._replace(str(exc))

    def _replace(self, reason: str) -> None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            with contextlib.suppress(FileNotFoundError):
                self.path.with_name(self.path.name + suffix).unlink()
        rows = self._rebuild() if self._rebuild is not None else []
        for row in rows:
            self.record(**row)
        self._notify(
            f"{self.path} was unreadable ({reason}); rebuilt it from {len(rows)} run "
            f"folder{'s' * (len(rows) != 1)}"
        )

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
        units_done: int = 0,
        units_total: int = 0,
        cost_usd: float | None = 0.0,
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
            units_done,
            units_total,
            cost_usd,
        )
        with self._connect() as db:
            db.execute(
                f"INSERT INTO runs ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
                " ON CONFLICT(run_id) DO UPDATE SET status=excluded.status,"
                " updated=excluded.updated, steps_total=excluded.steps_total,"
                " steps_done=excluded.steps_done, failed=excluded.failed,"
                " tokens=excluded.tokens, error=excluded.error,"
                " units_done=excluded.units_done, units_total=excluded.units_total,"
                " cost_usd=excluded.cost_usd",
                row,
            )

    def recent(self, *, limit: int = 50, workflow: str | None = None) -> list[RunRow]:
        query = f"SELECT {_COLUMNS} FROM runs"
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
            row = db.execute(f"SELECT {_COLUMNS} FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return RunRow(*row) if row else None

    def ids_starting(self, prefix: str) -> list[str]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT run_id FROM runs WHERE run_id LIKE ? ORDER BY created DESC",
                (prefix.replace("%", "") + "%",),
            ).fetchall()
        return [r[0] for r in rows]
