"""Opening rupu's SQLite files (the run index, the step cache) so several processes share them.

WAL mode and a busy timeout let several rupu processes write at once. SQLite skips its busy handler
where waiting could deadlock (two processes switching a brand-new file to WAL at the same moment),
so the set-up retries "locked" itself, within the same timeout.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

BUSY_TIMEOUT_MS = 30_000
_LOCKED = frozenset({5, 6})  # SQLITE_BUSY, SQLITE_LOCKED


def open_shared(
    path: Path, schema: str, *, migrate: Callable[[sqlite3.Connection], None] | None = None
) -> sqlite3.Connection:
    """An autocommit connection to `path` in WAL mode with `schema` created (and `migrate` run).
    A new file is made 0600 before SQLite opens it, so its -wal and -shm files get that mode too."""
    with contextlib.suppress(FileExistsError):
        path.touch(mode=0o600, exist_ok=False)
    connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)

    def prepare() -> None:
        connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        current = connection.execute("PRAGMA journal_mode").fetchone()
        if (
            not current or current[0] != "wal"
        ):  # WAL is stored in the file: set once, by one process
            mode = connection.execute("PRAGMA journal_mode = WAL").fetchone()
            if mode and mode[0] != "wal":  # pragma: no cover - filesystems without WAL support
                connection.execute("PRAGMA journal_mode = DELETE")
        connection.execute("PRAGMA synchronous = NORMAL")
        connection.executescript(schema)
        if migrate is not None:
            migrate(connection)

    try:
        retry_while_locked(prepare)
    except BaseException:
        connection.close()
        raise
    return connection


def retry_while_locked(action: Callable[[], None]) -> None:
    """Runs `action`, again after a short sleep while SQLite says busy or locked, up to the timeout."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    delay = 0.005
    while True:
        try:
            action()
            return
        except sqlite3.OperationalError as exc:
            code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
            if code not in _LOCKED or time.monotonic() + delay > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.2)
