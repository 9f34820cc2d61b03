"""The session records: `$RUPU_HOME/sessions/<session id>.json`, one per session, naming the
directory it was started in, its agent and its runs in order (each run's provider and model). The
conversation is in the runs' transcripts; a record is small and replaced atomically on each run."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import orjson
from pydantic import Field, ValidationError

from rupu.atomicfile import replace_file
from rupu.errors import ConfigError, Location, UsageError
from rupu.filemodes import private_dir
from rupu.strict import StrictModel
from rupu.transcripts import new_run_id

SESSION_PREFIX = "ses_"


def new_session_id() -> str:
    """`ses_` + a ULID, sortable by time like run ids."""
    return SESSION_PREFIX + new_run_id().removeprefix("run_")


class SessionRun(StrictModel):
    run_id: str
    provider: str
    model: str
    started: float


class SessionRecord(StrictModel):
    id: str
    agent: str
    agent_path: str
    directory: str
    created: float
    updated: float
    title: str = ""
    runs: list[SessionRun] = Field(default_factory=list)

    def with_run(self, run: SessionRun) -> SessionRecord:
        return self.model_copy(update={"runs": [*self.runs, run], "updated": run.started})

    @property
    def last_run(self) -> SessionRun | None:
        return self.runs[-1] if self.runs else None


@dataclass(frozen=True, slots=True)
class SessionStore:
    home: Path

    @property
    def directory(self) -> Path:
        return self.home / "sessions"

    def path_of(self, session_id: str) -> Path:
        return self.directory / f"{session_id}.json"

    def new(self, *, agent: str, agent_path: str, directory: Path, title: str) -> SessionRecord:
        """A new session (not saved until its first run is added)."""
        now = time.time()
        return SessionRecord(
            id=new_session_id(),
            agent=agent,
            agent_path=agent_path,
            directory=str(directory),
            created=now,
            updated=now,
            title=_title(title),
        )

    def save(self, record: SessionRecord) -> None:
        folder = private_dir(self.directory, home=self.home)
        data = orjson.dumps(record.model_dump(mode="json"), option=orjson.OPT_INDENT_2)
        replace_file(folder / f"{record.id}.json", data, durable=False)

    def add_run(self, record: SessionRecord, run: SessionRun) -> SessionRecord:
        """`record` with `run` appended, saved. The record on disk is re-read under a lock, so two
        runs continuing one session at once both stay in it."""
        with self._locked():
            path = self.path_of(record.id)
            current = self.load(path) if path.is_file() else record
            updated = current.with_run(run)
            self.save(updated)
        return updated

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """An exclusive `flock` on `sessions/.lock` (the kernel drops it if the process dies)."""
        folder = private_dir(self.directory, home=self.home)
        fd = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def load(self, path: Path) -> SessionRecord:
        try:
            return SessionRecord.model_validate(orjson.loads(path.read_bytes()))
        except (orjson.JSONDecodeError, ValidationError) as exc:
            raise ConfigError(
                f"is not a session record ({type(exc).__name__})",
                location=Location(str(path)),
                hint=f"remove it (rupu session rm {path.stem}) to start afresh",
            ) from None

    def all(self) -> list[SessionRecord]:
        """Every readable session, the most recently used first (a damaged record is left out)."""
        if not self.directory.is_dir():
            return []
        records: list[SessionRecord] = []
        for path in self.directory.glob(f"{SESSION_PREFIX}*.json"):
            try:
                records.append(self.load(path))
            except (ConfigError, OSError):
                continue
        return sorted(records, key=lambda r: (r.updated, r.id), reverse=True)

    def latest_in(self, directory: Path) -> SessionRecord:
        """The most recently used session started in `directory`."""
        where = str(directory)
        for record in self.all():
            if record.directory == where:
                return record
        raise UsageError(
            f"no session to continue in {where}",
            hint="start one with rupu run --agent NAME or rupu chat --agent NAME; "
            "rupu session list --all lists sessions of other directories",
        )

    def find(self, ref: str) -> SessionRecord:
        """A session by its id or a unique start of it (with or without `ses_`)."""
        return self.load(self.resolve(ref))

    def resolve(self, ref: str) -> Path:
        """The record file of the session `ref` names (it may be damaged: see `load`)."""
        wanted = ref.strip()
        if not wanted.startswith(SESSION_PREFIX):
            wanted = SESSION_PREFIX + wanted
        exact = self.path_of(wanted)
        if exact.is_file():
            return exact
        matches = sorted(self.directory.glob(f"{wanted}*.json")) if self.directory.is_dir() else []
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise UsageError(
                f"no session {ref!r}", hint="rupu session list --all shows the session ids"
            )
        shown = ", ".join(m.stem for m in matches[:5])
        raise UsageError(
            f"{ref!r} matches {len(matches)} sessions ({shown})", hint="give more of the id"
        )

    def remove(self, record: SessionRecord) -> None:
        self.path_of(record.id).unlink(missing_ok=True)


def _title(prompt: str) -> str:
    line = " ".join(prompt.split())
    return line if len(line) <= 80 else line[:79] + "…"
