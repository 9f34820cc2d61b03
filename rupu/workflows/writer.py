"""Background file writes for run records.

Creating a file or calling `write(2)` can cost a millisecond on some disks; with a thousand
concurrent units that would stall the event loop for seconds. So every run-record write (event log,
unit results, transcripts, step results) is queued here and done by a few threads; each takes whatever has
queued up for it and joins the appends to each file into one `write(2)`.
`flush()` waits until everything queued so far is written; a run calls it before it reports.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from pathlib import Path

_Op = tuple[str, str, bytes]
_STOP = ("stop", "", b"")
# After a batch, wait this long so the next one is bigger: fewer wake-ups and fewer syscalls.
_BATCH_PAUSE = 0.002
# Several threads, because file creation is slow on some disks and overlaps well across threads;
# every path always goes to the same thread, which keeps each file's writes in order.
_THREADS = 4


class RecordWriter:
    def __init__(self, threads: int = _THREADS) -> None:
        self._queues: list[queue.SimpleQueue[_Op]] = [queue.SimpleQueue() for _ in range(threads)]
        self._threads: list[threading.Thread] = []
        self._lock = threading.Condition()
        self._queued = 0
        self._done = 0
        self._error: OSError | None = None

    def _submit(self, kind: str, path: str, data: bytes = b"") -> None:
        """Called from one thread only (the event loop's)."""
        if not self._threads:
            for number, jobs in enumerate(self._queues):
                thread = threading.Thread(
                    target=self._work, args=(jobs,), name=f"rupu-records-{number}", daemon=True
                )
                thread.start()
                self._threads.append(thread)
        self._queued += 1
        self._queues[hash(path) % len(self._queues)].put((kind, path, data))

    def append(self, path: str, data: bytes) -> None:
        """Appends to `path`, creating it (0600) on first use; the file stays open until `close`."""
        self._submit("append", path, data)

    def close(self, path: str) -> None:
        self._submit("close", path)

    def replace(self, path: str, data: bytes) -> None:
        """Writes `path` atomically: a temporary file, then a rename over the old one."""
        self._submit("replace", path, data)

    def flush(self) -> None:
        """Blocks until every write queued so far is done; raises the first write error, if any."""
        with self._lock:
            target = self._queued
            self._lock.wait_for(lambda: self._done >= target)
            error, self._error = self._error, None
        if error is not None:
            raise error

    def shutdown(self) -> None:
        if not self._threads:
            return
        self.flush()
        for jobs in self._queues:
            jobs.put(_STOP)
        for thread in self._threads:
            thread.join()
        self._threads.clear()

    def _work(self, queued: queue.SimpleQueue[_Op]) -> None:
        handles: dict[str, int] = {}
        try:
            while True:
                batch = [queued.get()]
                while True:
                    try:
                        batch.append(queued.get_nowait())
                    except queue.Empty:
                        break
                stop = any(job[0] == "stop" for job in batch)
                jobs = [job for job in batch if job[0] != "stop"]
                self._run(jobs, handles)
                with self._lock:
                    self._done += len(jobs)
                    self._lock.notify_all()
                if stop:
                    return
                time.sleep(_BATCH_PAUSE)
        finally:
            for fd in handles.values():
                os.close(fd)

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
                    from rupu.workflows.store import write_atomic

                    write_atomic(Path(path), data)
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
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                handles[path] = fd
            os.write(fd, b"".join(chunks))
        except OSError as exc:
            self._error = self._error or exc
