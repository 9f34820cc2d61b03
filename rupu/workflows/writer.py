"""Background file writes for run records.

Creating a file can cost a millisecond on some disks; with a thousand concurrent units that would
stall the event loop for a second. Transcripts and step results are therefore written by a few
threads. Every operation on one path goes to the same thread, so each file is written in order;
`flush()` waits until everything queued so far is on disk (the run calls it before it reports).
"""

from __future__ import annotations

import os
import queue
import threading
from pathlib import Path

_THREADS = 1
_Op = tuple[str, Path, bytes] | None


class RecordWriter:
    def __init__(self, threads: int = _THREADS) -> None:
        self._queues: list[queue.SimpleQueue[_Op]] = [queue.SimpleQueue() for _ in range(threads)]
        self._threads: list[threading.Thread] = []
        self._pending = 0
        self._idle = threading.Condition()
        self._error: OSError | None = None

    def _submit(self, kind: str, path: Path, data: bytes = b"") -> None:
        if not self._threads:
            for number, jobs in enumerate(self._queues):
                thread = threading.Thread(
                    target=self._work, args=(jobs,), name=f"rupu-records-{number}", daemon=True
                )
                thread.start()
                self._threads.append(thread)
        with self._idle:
            self._pending += 1
        self._queues[hash(path) % len(self._queues)].put((kind, path, data))

    def append(self, path: Path, data: bytes) -> None:
        """Appends to `path`, creating it (0600) on first use; the file stays open until `close`."""
        self._submit("append", path, data)

    def close(self, path: Path) -> None:
        self._submit("close", path)

    def replace(self, path: Path, data: bytes) -> None:
        """Writes `path` atomically: a temporary file, then a rename over the old one."""
        self._submit("replace", path, data)

    def flush(self) -> None:
        """Blocks until every queued write is done; raises the first write error, if any."""
        with self._idle:
            self._idle.wait_for(lambda: self._pending == 0)
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def shutdown(self) -> None:
        self.flush()
        for jobs in self._queues:
            jobs.put(None)
        for thread in self._threads:
            thread.join()
        self._threads.clear()

    def _work(self, jobs: queue.SimpleQueue[_Op]) -> None:
        handles: dict[Path, int] = {}
        while True:
            job = jobs.get()
            if job is None:
                break
            kind, path, data = job
            try:
                if kind == "append":
                    fd = handles.get(path)
                    if fd is None:
                        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                        handles[path] = fd
                    os.write(fd, data)
                elif kind == "close":
                    fd = handles.pop(path, None)
                    if fd is not None:
                        os.close(fd)
                else:
                    from rupu.workflows.store import write_atomic

                    write_atomic(path, data)
            except OSError as exc:
                self._error = self._error or exc
            finally:
                with self._idle:
                    self._pending -= 1
                    if self._pending == 0:
                        self._idle.notify_all()
        for fd in handles.values():
            os.close(fd)
