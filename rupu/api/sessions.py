"""Sessions for the CLI and the Python API: start one, find one to continue (the latest in a
directory, or by id), rebuild its conversation and add a run to it. Every `rupu run` and every turn of
`rupu chat` is a run of a session; see `rupu.sessions` for the records and the replay rules."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from rupu.agents.spec import AgentSpec
from rupu.api.agents import PreparedRun, load_agent
from rupu.api.session import Session
from rupu.messages import Message
from rupu.sessions.history import History, rebuild
from rupu.sessions.store import SessionRecord, SessionRun, SessionStore


def session_store(session: Session) -> SessionStore:
    return SessionStore(session.paths.home)


def session_directory(session: Session) -> Path:
    """The directory a session belongs to: where rupu was started."""
    return session.paths.cwd.resolve()


def find_session(session: Session, *, ref: str | None = None) -> SessionRecord:
    """The session `ref` names (an id or a unique start of one), else the latest one started in
    this directory. Raises `UsageError` when there is none."""
    store = session_store(session)
    if ref is not None:
        return store.find(ref)
    return store.latest_in(session_directory(session))


def session_agent(session: Session, record: SessionRecord) -> AgentSpec:
    """The agent a session was run with: its file when it is still there, else by name."""
    path = Path(record.agent_path)
    return load_agent(path if path.is_file() else record.agent, session=session)


def new_session(session: Session, spec: AgentSpec, prompt: str) -> SessionRecord:
    return session_store(session).new(
        agent=spec.name,
        agent_path=str(spec.path),
        directory=session_directory(session),
        title=prompt,
    )


def add_run(session: Session, record: SessionRecord, prepared: PreparedRun) -> SessionRecord:
    """Records `prepared` as the session's next run (before it runs, so a run stopped by Ctrl-C
    still belongs to the session) and saves the session."""
    run = SessionRun(
        run_id=prepared.run_id,
        provider=prepared.target.provider,
        model=prepared.target.model,
        started=time.time(),
    )
    return session_store(session).add_run(record, run)


@dataclass(frozen=True, slots=True)
class SessionStart:
    """A prepared run joined to its session: the record (saved with the run in it), the
    conversation to replay before the prompt (None for a new session) and what to tell the user."""

    record: SessionRecord
    history: list[Message] | None
    notes: list[str]


def start_session_run(
    session: Session, prepared: PreparedRun, prompt: str, *, record: SessionRecord | None
) -> SessionStart:
    """Joins `prepared` to `record` (None: a new session titled by `prompt`). Blocks (reads the
    transcripts, writes the record): call it off the event loop."""
    history = session_history(session, record) if record is not None else None
    notes = history_notes(history, prepared.target.provider) if history is not None else []
    base = record or new_session(session, prepared.spec, prompt)
    joined = add_run(session, base, prepared)
    return SessionStart(joined, history.messages if history is not None else None, notes)


def session_history(session: Session, record: SessionRecord) -> History:
    return rebuild(record, session.paths.transcripts)


def history_notes(history: History, provider: str) -> list[str]:
    """What the user should know about replaying `history` to `provider`: thinking it cannot take
    (made by another provider) and runs whose transcripts are gone."""
    notes: list[str] = []
    foreign = history.foreign_thinking(provider)
    if foreign:
        notes.append(
            f"{_blocks(foreign)} left out of the history: {provider} cannot take another "
            "provider's reasoning (the answers and tool calls are kept)"
        )
    if history.missing_runs:
        notes.append(
            f"{len(history.missing_runs)} earlier run(s) of this session have no transcript "
            f"({', '.join(history.missing_runs)}); their turns are missing from the history"
        )
    if history.damaged:
        notes.append(f"{history.damaged} damaged message record(s) in the transcripts were skipped")
    return notes


def _blocks(counts: Counter[str]) -> str:
    total = sum(counts.values())
    where = ", ".join(f"{n} from {p}" for p, n in sorted(counts.items()))
    return f"{total} thinking block{'s' if total != 1 else ''} ({where})"
