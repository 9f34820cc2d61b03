"""Opening a brand-new SQLite file from several processes at once: the set-up (switching the file to
WAL) is where SQLite reports "database is locked" without waiting, so it is retried."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from rupu.workflows.sqlitefile import open_shared, retry_while_locked
from tests.workflows.helpers import run_scripts_at_once

OPENER = """
import sys
from pathlib import Path
from rupu.workflows.index import RunIndex
from rupu.workflows.sqlitefile import open_shared
folder = Path(sys.argv[1])
while not (folder / "go").exists():  # every process starts its set-up at the same moment
    pass
RunIndex(folder / "index.sqlite").record(
    "run_" + sys.argv[2], workflow="w", source="s", status="running", created=1, steps_total=1
)
open_shared(folder / "cache.sqlite", "CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY);").close()
"""


def _open_at_once(folder: Path, processes: int) -> list[tuple[int, str]]:
    def go() -> None:
        time.sleep(0.5)
        (folder / "go").touch()

    return run_scripts_at_once(
        OPENER, [[str(folder), str(n)] for n in range(processes)], started=go
    )


def test_processes_creating_the_same_files_at_once_all_succeed(tmp_path: Path) -> None:
    for trial in range(4):
        folder = tmp_path / str(trial)
        folder.mkdir()
        failures = [err for code, err in _open_at_once(folder, 8) if code != 0]
        assert failures == []
        with sqlite3.connect(folder / "index.sqlite") as db:
            assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
            assert db.execute("SELECT count(*) FROM runs").fetchone() == (8,)


def test_a_write_lock_held_elsewhere_is_waited_for(tmp_path: Path) -> None:
    path = tmp_path / "f.sqlite"
    open_shared(path, "CREATE TABLE IF NOT EXISTS t (k TEXT);").close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    attempts = 0

    def write() -> None:
        nonlocal attempts
        attempts += 1
        if attempts == 3:
            holder.execute("COMMIT")
        other = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            other.execute("INSERT INTO t VALUES ('x')")
        finally:
            other.close()

    retry_while_locked(write)
    assert attempts == 3
    holder.close()


def test_errors_other_than_locked_are_not_retried(tmp_path: Path) -> None:
    calls = 0

    def broken() -> None:
        nonlocal calls
        calls += 1
        sqlite3.connect(tmp_path / "x.sqlite").execute("SELECT * FROM missing")

    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        retry_while_locked(broken)
    assert calls == 1
