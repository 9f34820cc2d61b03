"""Run records: `$RUPU_HOME/runs/<run_id>/`.

```
run.json              what ran: workflow name and source, inputs, overrides, format version
workflow.yaml         the workflow file as it was when the run started (resume runs this copy)
events.jsonl          append-only event log, one JSON object a line (rupu.workflows.events)
units.jsonl           append-only: each finished unit's result, written as it finishes; resume
                      reuses these byte for byte
state.json            the latest run status (rewritten atomically)
steps/<step>.json     each finished step's result (atomic)
transcripts/<step>.<n>.jsonl   one agent transcript per unit (n = 0 for a single-unit step)
lock                  flock held by the process executing the run
```

`events.jsonl` and `units.jsonl` are written by the event loop within the tick an event happens in
(one `write(2)` per tick for everything that happened in it); transcripts and step results go through the
background `RecordWriter`, so slow file creation never stalls the loop. A torn last line in a JSONL
file (a crash mid-write) is cut off with a warning when the run is opened again; readers skip event
types they do not know. A JSON record that is not readable (`run.json`, `state.json`, `steps/*.json`)
stops only the commands that need that run, with one line naming the file; other runs are unaffected.
"""

from __future__ import annotations

import fcntl
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from rupu.atomicfile import replace_file
from rupu.errors import ConfigError, did_you_mean
from rupu.filemodes import private_dir
from rupu.transcripts import TranscriptWriter
from rupu.version import __version__
from rupu.workflows.events import RECORD_FORMAT, RunEvent, stamp
from rupu.workflows.index import RunIndex
from rupu.workflows.progress import read_progress
from rupu.workflows.recordfile import (
    RUN_FIELDS,
    STATE_FIELDS,
    STEP_FIELDS,
    damaged,
    read_events,
    read_record,
)
from rupu.workflows.writer import RecordWriter, TickFile

FORMAT_VERSION = RECORD_FORMAT


def write_atomic(path: Path, payload: bytes, *, durable: bool = False) -> None:
    """Readers see the old file or the new one, never a partial write."""
    replace_file(path, payload, durable=durable)


def dump(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS, default=str)


def repair_jsonl(path: Path) -> tuple[int, str | None]:
    """Cuts off a torn last line (a crash mid-write), so the next append starts a fresh line.
    Returns the number of whole lines and a warning when something was cut."""
    if not path.exists():
        return 0, None
    raw = path.read_bytes()
    warning = None
    if raw and not raw.endswith(b"\n"):
        keep = raw.rfind(b"\n") + 1
        with path.open("r+b") as handle:
            handle.truncate(keep)
        warning = f"{path}: dropped a torn last line ({len(raw) - keep} bytes) left by a crash"
        raw = raw[:keep]
    return raw.count(b"\n"), warning


class EventLog:
    """Append-only JSON lines; each event is on disk within the event-loop tick it happened in."""

    def __init__(self, path: Path, run_id: str) -> None:
        self.path = path
        self.run_id = run_id
        self.seq, warning = repair_jsonl(path)
        self.warnings: list[str] = [warning] if warning else []
        self._file = TickFile(str(path))

    def append(self, event: RunEvent) -> RunEvent:
        """Stamps `event` with the next `seq`, the time and the run id, logs it and returns it.
        `event` must be new (not yet seen by anyone): it is stamped in place, which costs a tenth
        of `dataclasses.replace` on a path every unit takes several times."""
        self.seq += 1
        stamp(event, self.seq, round(time.time(), 3), self.run_id)
        self._file.append(event.to_json() + b"\n")
        return event

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()


class RunLock:
    """An exclusive `flock` on `<run>/lock`; the kernel drops it when the process dies."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self, run_id: str) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise ConfigError(
                f"run {run_id} is being executed by another rupu process (pid {holder})",
                hint="wait for it to finish, or stop that process first",
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def held_elsewhere(self) -> bool:
        if not self.path.exists():
            return False
        fd = os.open(self.path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class QueuedTranscript(TranscriptWriter):
    """A transcript (same lines as `TranscriptWriter`) written through the run's `RecordWriter`.

    Lines are handed to the writer in batches, at most `BATCH_SECONDS` apart and on `close()`, so
    a unit's handful of lines costs one hand-over, not one each; a transcript is on disk within
    `BATCH_SECONDS` plus the writer's interval, like the other background records.
    """

    BATCH_SECONDS = 0.1

    def __init__(self, path: str, writer: RecordWriter) -> None:  # no file is opened here
        self._target = path
        self._writer = writer
        self._lines: list[bytes] = []
        self._due = 0.0

    @property
    def path(self) -> Path:  # a Path only when asked: building one per unit is measurable
        return Path(self._target)

    @path.setter
    def path(self, value: Path) -> None:
        self._target = str(value)

    def write(self, kind: str, /, **data: Any) -> None:
        now = time.time()
        line = orjson.dumps({"type": kind, "ts": round(now, 3), "data": data}, default=str)
        self._lines.append(line + b"\n")
        if len(self._lines) == 1:
            self._due = now + self.BATCH_SECONDS
        elif now >= self._due:
            self._hand_over()

    def _hand_over(self) -> None:
        if self._lines:
            self._writer.append(self._target, b"".join(self._lines))
            self._lines = []

    def close(self) -> None:
        lines, self._lines = b"".join(self._lines), []
        self._writer.close(self._target, lines)


@dataclass(slots=True)
class RunRecord:
    """An open run directory."""

    run_id: str
    directory: Path
    meta: dict[str, Any]
    index: RunIndex
    events: EventLog | None = None
    lock: RunLock | None = None
    writer: RecordWriter = field(default_factory=RecordWriter)
    _root: str = ""
    _units: TickFile | None = None

    def __post_init__(self) -> None:
        self._root = str(self.directory)

    @property
    def created(self) -> float:
        return float(self.meta["created"])

    def open_log(self) -> EventLog:
        if self.events is None:
            self.events = EventLog(self.directory / "events.jsonl", self.run_id)
        return self.events

    def take_lock(self) -> None:
        self.lock = RunLock(self.directory / "lock")
        self.lock.acquire(self.run_id)

    def close(self) -> None:
        if self.events is not None:
            self.events.close()
            self.events = None
        self.writer.shutdown()
        if self._units is not None:
            self._units.close()
            self._units = None
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    def flush(self) -> None:
        """Everything appended so far is written (blocking: call it from a worker thread)."""
        for handle in (self.events, self._units):
            if handle is not None:
                handle.flush()
        self.writer.flush()

    @staticmethod
    def transcript_name(step: str, unit: int) -> str:
        """The transcript's path relative to the run directory."""
        return f"transcripts/{step}.{unit}.jsonl"

    def transcript(self, step: str, unit: int) -> QueuedTranscript:
        name = self.transcript_name(step, unit)
        return QueuedTranscript(f"{self._root}/{name}", self.writer)

    def append_unit(self, record: dict[str, Any]) -> None:
        """One finished unit as one line of `units.jsonl`, on disk before anything that waited for it
        starts: a unit that finished is not run again, even after a SIGKILL."""
        if self._units is None:
            self._units = TickFile(f"{self._root}/units.jsonl")
        self._units.append(orjson.dumps(record, default=str) + b"\n")

    def read_units(self) -> dict[tuple[str, int], dict[str, Any]]:
        """The latest record of every unit; torn or unreadable lines are skipped."""
        found: dict[tuple[str, int], dict[str, Any]] = {}
        for record in read_events(self.directory / "units.jsonl", key="step"):
            unit = record.get("unit", 0)
            if isinstance(unit, int) and not isinstance(unit, bool):
                found[(str(record["step"]), unit)] = record
        return found

    def write_step(self, step: str, record: dict[str, Any]) -> None:
        self.writer.replace(f"{self._root}/steps/{step}.json", dump(record))

    def read_step(self, step: str) -> dict[str, Any] | None:
        path = self.directory / "steps" / f"{step}.json"
        if not path.is_file():
            return None
        return read_record(path, STEP_FIELDS)

    def check_records(self) -> None:
        """Raises the one-line error of the first unreadable `state.json` or `steps/*.json`."""
        self.read_state()
        for path in sorted((self.directory / "steps").glob("*.json")):
            read_record(path, STEP_FIELDS)

    def write_state(self, state: dict[str, Any]) -> None:
        write_atomic(self.directory / "state.json", dump(state), durable=True)

    def read_state(self) -> dict[str, Any]:
        path = self.directory / "state.json"
        if not path.is_file():
            return {"status": "unknown"}
        state = read_record(path, STATE_FIELDS)
        return state

    def snapshot_text(self) -> str:
        return (self.directory / "workflow.yaml").read_text(encoding="utf-8")


class RunStore:
    def __init__(self, root: Path) -> None:
        self.root = private_dir(root, home=root.parent)
        self.index = RunIndex(root / "index.sqlite", rebuild=self.index_rows)

    def create(
        self,
        run_id: str,
        *,
        workflow: str,
        source: Path,
        text: str,
        inputs: dict[str, Any],
        overrides: dict[str, Any],
        steps: list[str],
    ) -> RunRecord:
        directory = self.root / run_id
        directory.mkdir(parents=True, mode=0o700)
        for sub in ("steps", "transcripts"):
            (directory / sub).mkdir(mode=0o700)
        meta: dict[str, Any] = {
            "format": FORMAT_VERSION,
            "run_id": run_id,
            "workflow": workflow,
            "source": str(source),
            "created": round(time.time(), 3),
            "inputs": inputs,
            "overrides": overrides,
            "steps": steps,
            "rupu_version": __version__,
        }
        write_atomic(directory / "workflow.yaml", text.encode("utf-8"))
        write_atomic(directory / "run.json", dump(meta), durable=True)
        record = RunRecord(run_id, directory, meta, self.index)
        record.write_state({"status": "running"})
        self.index.record(
            run_id,
            workflow=workflow,
            source=str(source),
            status="running",
            created=meta["created"],
            steps_total=len(steps),
        )
        return record

    def open(self, reference: str) -> RunRecord:
        run_id = self.resolve_id(reference)
        directory = self.root / run_id
        path = directory / "run.json"
        meta = read_record(path, RUN_FIELDS)
        if not all(isinstance(step, str) for step in meta["steps"]):
            raise damaged(path, "missing or wrong steps")
        if int(meta.get("format", 0)) > FORMAT_VERSION:
            raise ConfigError(
                f"run {run_id} was written by a newer rupu (record format {meta['format']})",
                hint="use that rupu version to resume or inspect it",
            )
        return RunRecord(run_id, directory, meta, self.index)

    def resolve_id(self, reference: str) -> str:
        if (self.root / reference / "run.json").is_file():
            return reference
        known = sorted(
            (p.name for p in self.root.glob("run_*") if (p / "run.json").is_file()), reverse=True
        )
        matches = [k for k in known if k.startswith(reference)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise ConfigError(
                f"'{reference}' matches {len(matches)} runs",
                hint="give more of the run id (see `rupu workflow runs`)",
            )
        raise ConfigError(
            f"no workflow run '{reference}'{did_you_mean(reference, known)}",
            hint="list runs with `rupu workflow runs`",
        )

    def index_rows(self) -> list[dict[str, Any]]:
        """An index row for every run folder whose `run.json` is readable (to rebuild the index)."""
        rows: list[dict[str, Any]] = []
        for directory in sorted(self.root.glob("run_*")):
            try:
                record = self.open(directory.name)
            except ConfigError:
                continue
            try:
                state = record.read_state()
            except ConfigError:
                state = {"status": "unreadable"}
            progress = read_progress(directory)
            tokens = state.get("tokens")
            cost = state.get("cost_usd", 0.0)
            failed = state.get("failed")
            rows.append(
                {
                    "run_id": record.run_id,
                    "workflow": str(record.meta["workflow"]),
                    "source": str(record.meta.get("source", "")),
                    "status": str(state["status"]),
                    "created": record.created,
                    "steps_total": len(record.meta["steps"]),
                    "steps_done": len(list((directory / "steps").glob("*.json"))),
                    "failed": [str(f) for f in failed] if isinstance(failed, list) else [],
                    "tokens": tokens if isinstance(tokens, int) else progress.tokens,
                    "error": str(state["error"]) if state.get("error") else None,
                    "units_done": progress.units_done,
                    "units_total": progress.units_total,
                    "cost_usd": cost if isinstance(cost, int | float) or cost is None else 0.0,
                }
            )
        return rows
