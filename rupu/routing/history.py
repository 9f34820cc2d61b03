"""What rupu has seen of each provider and model: latency to the first token, error rate, and the
last rate limit with its reset time. Kept in `$RUPU_HOME/routing/history.json`, written when a run's
route closes and read when a tier is resolved (`rupu.routing.score`).

The file is small and replaced atomically. Observations are kept in memory while a run goes and
applied to what is on disk when the route closes (re-read then), so two processes that close at
nearly the same time lose at most one of their updates to the same entry, never the file.

Rate limits are kept apart from the error rate: a 429 says "not now", which the reset time answers;
the error rate counts what says "not well" (server errors, timeouts, dropped streams, overload).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, assert_never

from pydantic import Field, ValidationError

from rupu.atomicfile import replace_file
from rupu.clock import Clock, current_clock
from rupu.errors import ConfigError
from rupu.strict import StrictModel

HISTORY_FILE = Path("routing") / "history.json"
SMOOTHING = 0.3  # weight of the newest sample in the moving averages
ERROR_CLASSES = frozenset({"server_error", "timeout", "network", "truncated", "overloaded"})


class ModelRecord(StrictModel):
    """One provider and model. `first_token_ms` and `error_rate` are moving averages (the newest
    call weighs 0.3); times are epoch seconds."""

    first_token_ms: float | None = None
    calls: int = Field(default=0, ge=0)
    errors: int = Field(default=0, ge=0)
    error_rate: float = Field(default=0.0, ge=0, le=1)
    rate_limited_at: float | None = None
    rate_limit_reset: float | None = None
    updated_at: float | None = None

    def limited_for(self, now: float) -> float:
        """Seconds until the last rate limit resets (0 when it has passed or there was none)."""
        if self.rate_limit_reset is None:
            return 0.0
        return max(self.rate_limit_reset - now, 0.0)


class HistoryFile(StrictModel):
    version: Literal[1] = 1
    models: dict[str, ModelRecord] = Field(default_factory=dict)


def history_key(provider: str, model: str) -> str:
    return f"{provider}:{model}"


# What one call showed, as plain data: (history key, what, value, when). A fan-out notes thousands
# of these before the route closes; tuples of strings and numbers are nothing the garbage collector
# has to walk, where a closure per call (a function and its cells) is.
ObservationKind = Literal["first_token", "outcome", "rate_limit"]
Observation = tuple[str, ObservationKind, float, float]


@dataclass(slots=True)
class RouteHistory:
    """The history under one `RUPU_HOME`. `record_*` notes what a call showed (in memory); `save()`
    writes it (blocks: call it off the event loop)."""

    path: Path
    clock: Clock
    _pending: list[Observation] = field(default_factory=list, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    @classmethod
    def under(cls, home: Path, *, clock: Clock | None = None) -> RouteHistory:
        return cls(home / HISTORY_FILE, clock or current_clock())

    def load(self) -> HistoryFile:
        """What is on disk with what this process has not saved yet applied on top."""
        data = self._read()
        with self._lock:
            pending = list(self._pending)
        return _applied(data, pending)

    def record(self, provider: str, model: str) -> ModelRecord:
        return self.load().models.get(history_key(provider, model), ModelRecord())

    def record_first_token(self, provider: str, model: str, seconds: float) -> None:
        self._note(provider, model, "first_token", max(seconds, 0.0) * 1000)

    def record_outcome(self, provider: str, model: str, error_class: str | None) -> None:
        """A call ended: fine (`None`) or with an error of `error_class`. Rate limits go through
        `record_rate_limit`; errors that were the request's fault (bad request, context overflow,
        policy, quota, credentials) say nothing about the endpoint and are not counted."""
        if error_class is not None and error_class not in ERROR_CLASSES:
            return
        self._note(provider, model, "outcome", 0.0 if error_class is None else 1.0)

    def record_rate_limit(self, provider: str, model: str, seconds: float) -> None:
        self._note(provider, model, "rate_limit", seconds)

    def _note(self, provider: str, model: str, kind: ObservationKind, value: float) -> None:
        with self._lock:
            self._pending.append((history_key(provider, model), kind, value, self.clock.time()))

    def save(self) -> None:
        """Applies the observations to the file as it is now and replaces it atomically; a
        `ConfigError` when the file is damaged or cannot be written (the observations are lost)."""
        with self._lock:
            if not self._pending:
                return
            pending, self._pending = self._pending, []
        data = _applied(self._read(), pending)
        text = data.model_dump_json(indent=2, exclude_none=True) + "\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            replace_file(self.path, text.encode(), durable=False)
        except OSError as exc:
            raise ConfigError(
                f"{self.path}: cannot write the route history: {exc.strerror}",
                hint=f"fix the permissions of {self.path.parent}",
            ) from None

    def _read(self) -> HistoryFile:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return HistoryFile()
        except OSError as exc:
            raise ConfigError(
                f"{self.path}: cannot read the route history: {exc.strerror}",
                hint="fix its permissions, or delete it (rupu starts a new one)",
            ) from None
        try:
            return HistoryFile.model_validate_json(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "the file"
            raise ConfigError(
                f"{self.path}: {where}: {first['msg']}",
                hint="delete the file (rupu starts a new one; only latency and rate-limit history "
                "is lost)",
            ) from None


def _applied(data: HistoryFile, pending: list[Observation]) -> HistoryFile:
    models = dict(data.models)
    for key, kind, value, when in pending:
        models[key] = _observed(models.get(key, ModelRecord()), kind, value, when)
    return data.model_copy(update={"models": models})


def _observed(entry: ModelRecord, kind: ObservationKind, value: float, when: float) -> ModelRecord:
    """`entry` after one observation: a first-token latency (ms), a call's outcome (1.0 failed,
    0.0 fine) or a rate limit (seconds until it resets)."""
    match kind:
        case "first_token":
            old = entry.first_token_ms
            average = value if old is None else old + SMOOTHING * (value - old)
            return entry.model_copy(
                update={"first_token_ms": round(average, 3), "updated_at": when}
            )
        case "outcome":
            rate = entry.error_rate + SMOOTHING * (value - entry.error_rate)
            return entry.model_copy(
                update={
                    "calls": entry.calls + 1,
                    "errors": entry.errors + int(value),
                    "error_rate": round(min(max(rate, 0.0), 1.0), 6),
                    "updated_at": when,
                }
            )
        case "rate_limit":
            reset = when + max(value, 0.0)
            return entry.model_copy(
                update={"rate_limited_at": when, "rate_limit_reset": reset, "updated_at": when}
            )
        case _:
            assert_never(kind)
