"""Transcripts: one JSONL file per agent run at `$RUPU_HOME/transcripts/<run_id>.jsonl`.

Each line is `{"type": ..., "ts": <unix seconds>, "data": {...}}`. Types: `run_start`, `user_prompt`
(the prompt the run was given, `text`), `turn_start`,
`assistant_message`, `usage`, `retry`, `rate_limits`, `turn_end`, `error`, `run_complete`, `failover`, and the
tool events (`tool_audit`, `tool_call`, `permission`, `path_denied`, `file_edit`, `command_run`,
`tool_result`, `context_trimmed`; see docs/tools.md). A reader skips a torn last line and unknown types; a file without
`run_complete` is a run that was interrupted.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_run_id() -> str:
    """`run_` + a ULID: sortable by time, unique without coordination."""
    value = (int(time.time() * 1000) << 80) | secrets.randbits(80)
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "run_" + "".join(reversed(chars))


class TranscriptWriter:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = path
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._file: IO[bytes] = os.fdopen(fd, "ab", buffering=0)

    def write(self, kind: str, /, **data: Any) -> None:
        line = orjson.dumps({"type": kind, "ts": round(time.time(), 3), "data": data}, default=str)
        self._file.write(line + b"\n")

    def close(self) -> None:
        self._file.close()


@dataclass(slots=True)
class TranscriptSummary:
    run_id: str
    path: Path
    agent: str | None = None
    provider: str | None = None
    model: str | None = None
    status: str = "aborted"
    started: float | None = None
    total_tokens: int | None = None
    duration_ms: int | None = None
    prompt: str | None = None
    events: list[dict[str, Any]] = field(default_factory=list)


def read_events(path: Path) -> Iterator[dict[str, Any]]:
    """Every well-formed event; a torn or corrupt line is skipped."""
    with path.open("rb") as handle:
        for raw in handle:
            if not raw.strip():
                continue
            try:
                event = orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue
            if isinstance(event, dict) and isinstance(event.get("type"), str):
                yield event


def summarize(path: Path, *, keep_events: bool = False) -> TranscriptSummary:
    summary = TranscriptSummary(run_id=path.stem, path=path)
    for event in read_events(path):
        data = event.get("data") or {}
        if keep_events:
            summary.events.append(event)
        if event["type"] == "run_start":
            summary.agent = data.get("agent")
            summary.provider = data.get("provider")
            summary.model = data.get("model")
            summary.started = event.get("ts")
        elif event["type"] == "user_prompt" and summary.prompt is None:
            summary.prompt = str(data.get("text", ""))
        elif event["type"] == "run_complete":
            summary.status = data.get("status", "unknown")
            summary.total_tokens = data.get("total_tokens")
            summary.duration_ms = data.get("duration_ms")
    return summary


def list_transcripts(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    return sorted(directory.glob("run_*.jsonl"), reverse=True)


def summary_fields(summary: TranscriptSummary) -> dict[str, Any]:
    """One transcript's summary as `rupu transcript list --format json` prints it."""
    return {
        "run_id": summary.run_id,
        "agent": summary.agent,
        "provider": summary.provider,
        "model": summary.model,
        "status": summary.status,
        "started": summary.started,
        "total_tokens": summary.total_tokens,
        "duration_ms": summary.duration_ms,
        "prompt": summary.prompt,
        "path": str(summary.path),
    }
