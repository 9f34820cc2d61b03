"""Background file writes for run records.

Creating a file or calling `write(2)` can cost a millisecond on some disks; with a thousand
concurrent units that would stall the event loop for seconds. So every run-record write (event log,
unit results, transcripts, step results) is handed to a few writer threads. The event loop only
appends to an in-memory list; each thread wakes every `INTERVAL` seconds (or at once on `flush()`),
takes its whole list, joins the appends to each file into one `write(2)`, and keeps every file's
order (a path always belongs to the same thread). Waking on a timer rather than per write keeps the
threads from fighting the event loop for the GIL. Records reach the disk within `INTERVAL`; a run
calls `flush()` before it reports. When the process is out of file descriptors, a thread closes the
files it holds open (appends reopen them) and tries again for a while before it reports the error,
so a burst of finishing units does not lose a record.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from rupu.atomicfile import replace_file

_Op = tuple[str, str, bytes]
T = TypeVar("T")
INTERVAL = 0.02
# Several threads, because file creation is slow on some disks and overlaps well across threads.
THREADS = 4
# How long a write waits for descriptors to come free before its error is reported.
FD_RETRY_SECONDS = 10.0
_OUT_OF_FDS = frozenset({errno.EMFILE, errno.ENFILE})


class _Lane:
    """One writer thread's queue: a list the event loop appends to and the thread swaps out."""

    __slots__ = ("handles", "jobs", "lock", "thread", "wake")

    def __init__(self) -> None:
        self.jobs: list[_Op] = []
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.handles: dict[str, int] = {}
        self.thread: threading.Thread | None = None


class RecordWriter:
    def __init__(self, threads: int = THREADS) -> None:
        self._lanes = [_Lane() for _ in range(threads)]
        self._done = threading.Condition()
        self._queued = 0
        self._written = 0
        self._stopping = False
        self._error: OSError | None = None

    def _submit(self, path: str, *ops: _Op) -> None:
        lane = self._lanes[hash(path) % len(self._lanes)]
        if lane.thread is None:
            lane.thread = threading.Thread(target=self._work, args=(lane,), daemon=True)
            lane.thread.name = "rupu-records"
            lane.thread.start()
        with lane.lock:
            self._queued += len(ops)
            lane.jobs.extend(ops)

    def append(self, path: str, data: bytes) -> None:
        """Appends to `path`, creating it (0600) on first use; the file stays open until `close`."""
        self._submit(path, ("append", path, data))

    def close(self, path: str, last: bytes = b"") -> None:
        """Closes `path`, after appending `last` to it (one hand-over for both)."""
        if last:
            self._submit(path, ("append", path, last), ("close", path, b""))
        else:
            self._submit(path, ("close", path, b""))

    def replace(self, path: str, data: bytes) -> None:
        """Writes `path` atomically: a temporary file, then a rename over the old one."""
        self._submit(path, ("replace", path, data))

    def flush(self) -> None:
        """Blocks until every write queued so far is done; raises the first write error, if any."""
        target = self._queued
        for lane in self._lanes:
            lane.wake.set()
        with self._done:
            self._done.wait_for(lambda: self._written >= target)
            error, self._error = self._error, None
        if error is not None:
            raise error

    def shutdown(self) -> None:
        self.flush()
        self._stopping = True
        for lane in self._lanes:
            lane.wake.set()
            if lane.thread is not None:
                lane.thread.join()
                lane.thread = None
        self._stopping = False

    def _work(self, lane: _Lane) -> None:
        try:
            while True:
                lane.wake.wait(INTERVAL)
                lane.wake.clear()
                with lane.lock:
                    jobs, lane.jobs = lane.jobs, []
                if jobs:
                    self._run(jobs, lane.handles)
                    with self._done:
                        self._written += len(jobs)
                        self._done.notify_all()
                elif self._stopping:
                    return
        finally:
            for fd in lane.handles.values():
                os.close(fd)
            lane.handles.clear()

    def _run(self, jobs: list[_Op], handles: dict[str, int]) -> None:
        pending: dict[str, list[bytes]] = {}
        for kind, path, data in jobs:
            if kind == "append":
                pending.setdefault(path, []).append(data)
                continue
            self._write_pending(path, pending, handles)
            try:
                if kind == "close":
                    fd = handles.pop(path, None)
                    if fd is not None:
                        os.close(fd)
                else:
                    write = functools.partial(replace_file, Path(path), data, durable=False)
                    _patiently(write, handles)
            except OSError as exc:
                self._error = self._error or exc
        for path in list(pending):
            self._write_pending(path, pending, handles)

    def _write_pending(
        self, path: str, pending: dict[str, list[bytes]], handles: dict[str, int]
    ) -> None:
        chunks = pending.pop(path, None)
        if not chunks:
            return
        try:
            fd = handles.get(path)
            if fd is None:
                fd = _patiently(
                    lambda: os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), handles
                )
                handles[path] = fd
            os.write(fd, b"".join(chunks))
        except OSError as exc:
            self._error = self._error or exc


def _patiently(action: Callable[[], T], handles: dict[str, int]) -> T:
    """`action()`; while the process is out of descriptors, closes this thread's open files and
    tries again, for up to `FD_RETRY_SECONDS`."""
    deadline = time.monotonic() + FD_RETRY_SECONDS
    while True:
        try:
            return action()
        except OSError as exc:
            if exc.errno not in _OUT_OF_FDS or time.monotonic() > deadline:
                raise
        for fd in handles.values():
            os.close(fd)
        handles.clear()
        time.sleep(INTERVAL)


class TickFile:
    """An append-only file whose appends reach the disk within the same event-loop tick.

    Appends made while the loop runs one round of callbacks (a thousand units finishing together,
    say) are joined into one `write(2)`, scheduled with `call_soon`, so it happens before the loop
    waits for I/O or starts anything that was waiting on them. Outside a running asyncio loop every
    append is written at once.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None
        self._pending: list[bytes] = []
        self._scheduled = False

    def append(self, data: bytes) -> None:
        self._pending.append(data)
        if self._scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        self._scheduled = True
        loop.call_soon(self.flush)

    def flush(self) -> None:
        self._scheduled = False
        if not self._pending:
            return
        data, self._pending = b"".join(self._pending), []
        if self._fd is None:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.write(self._fd, data)

    def close(self) -> None:
        self.flush()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
