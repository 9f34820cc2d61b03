"""Typed run events: one frozen dataclass per event a workflow run emits.

The runner builds these objects; the run record (`events.jsonl`), the live view, `--plain`,
`--format json`, resume and the index all consume the same objects. Each event's `type` is the
literal string written to JSONL (unchanged since record format 1, so old records still read);
`seq`, `ts` and `run_id` are stamped by the event log when the event is recorded.

Events are plain data (strings, numbers, lists, dicts), so they cross process boundaries as they
are (a distributed dispatcher, the HTML report). To add an event: a frozen dataclass with a
`type: Literal[...]` field (`init=False`), decorated with `@registered`, and a member of `RunEvent`.
Readers skip types they do not know and fields they do not know, so adding either is compatible.

Every event that ends something (a unit, a step, the run) carries `tokens` and `cost_usd`
(None: unpriced, or nothing was spent on a priced model yet).
"""

from __future__ import annotations

import types
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

import orjson

from rupu.workflows.recordfile import read_events

# The version of the run record layout (`run.json` "format", `run_started` "format"). 2: typed
# events with cost fields; format 1 records read unchanged.
RECORD_FORMAT = 2


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """What every event carries; `seq` (1, 2, ... per run) and `ts` (Unix seconds) are stamped
    when the event is logged."""

    seq: int = 0
    ts: float = 0.0
    run_id: str = ""

    def to_json(self) -> bytes:
        """One JSON object (no newline); fields in declaration order."""
        return orjson.dumps(self, default=str)

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _names(type(self))}


_SET = object.__setattr__


def stamp(event: Event, seq: int, ts: float, run_id: str) -> None:
    """Sets the log's fields of a new event (the event log does this once, before anyone else
    sees the event; frozen means frozen after that)."""
    _SET(event, "seq", seq)
    _SET(event, "ts", ts)
    _SET(event, "run_id", run_id)


E = TypeVar("E", bound=Event)
_REGISTRY: dict[str, type[Event]] = {}
# Per event class: field name -> the Python types a JSON value must have (None: anything goes).
_CHECKS: dict[type[Event], dict[str, tuple[type, ...] | None]] = {}
_NAMES: dict[type[Event], tuple[str, ...]] = {}


def registered(cls: type[E]) -> type[E]:
    """Makes `cls` readable by `event_from_json` under its `type`."""
    kind = next(f.default for f in fields(cls) if f.name == "type")
    assert isinstance(kind, str) and kind not in _REGISTRY, kind
    _REGISTRY[kind] = cls
    return cls


def _names(cls: type[Event]) -> tuple[str, ...]:
    names = _NAMES.get(cls)
    if names is None:
        names = _NAMES[cls] = tuple(f.name for f in fields(cls))
    return names


def _accepted(annotation: Any) -> tuple[type, ...] | None:
    origin = get_origin(annotation)
    if origin is Literal:
        return (str,)
    if origin in (Union, types.UnionType):
        found: list[type] = []
        for arg in get_args(annotation):
            accepted = _accepted(arg)
            if accepted is None:
                return None
            found.extend(accepted)
        return tuple(found)
    if annotation is float:
        return (int, float)
    if annotation is type(None):
        return (type(None),)
    if annotation in (str, int, bool):
        return (annotation,)
    if origin in (list, dict):
        return (origin,)
    return None


def _checks(cls: type[Event]) -> dict[str, tuple[type, ...] | None]:
    checks = _CHECKS.get(cls)
    if checks is None:
        hints = get_type_hints(cls)
        checks = _CHECKS[cls] = {f.name: _accepted(hints[f.name]) for f in fields(cls) if f.init}
    return checks


def event_from_json(raw: bytes | str | dict[str, Any]) -> RunEvent | None:
    """The event one JSONL line (or its parsed object) holds; None for a type this rupu does not
    know or a line whose fields have the wrong types. Unknown fields are ignored."""
    data = orjson.loads(raw) if isinstance(raw, bytes | str) else raw
    if not isinstance(data, dict):
        return None
    cls = _REGISTRY.get(str(data.get("type")))
    if cls is None:
        return None
    values: dict[str, Any] = {}
    for name, accepted in _checks(cls).items():
        if name not in data:
            continue
        value = data[name]
        if accepted is not None and (
            not isinstance(value, accepted) or (isinstance(value, bool) and bool not in accepted)
        ):
            return None
        values[name] = value
    try:
        event = cls(**values)
    except TypeError:  # a required field is missing
        return None
    return event  # type: ignore[return-value]  # every registered class is a RunEvent


def read_run_events(path: Path) -> Iterator[RunEvent]:
    """The events of one `events.jsonl`; torn, corrupt and unknown lines are skipped."""
    for data in read_events(path):
        event = event_from_json(data)
        if event is not None:
            yield event


# --- the run ---------------------------------------------------------------------------------


@registered
@dataclass(frozen=True, slots=True, kw_only=True)
class RunStarted(Event):
    type: Literal["run_started"] = field(default="run_started", init=False)
    workflow: str = ""
    inputs: dict[str, Any] = field(default_factory=dict)
    steps: list[str] = field(default_factory=list)
    overrides: dict[str, Any] = field(default_factory=dict)
    format: int = RECORD_FORMAT


@registered
@dataclass(frozen=True, slots=True, kw_only=True)
class RunResumed(Event):
    type: Literal["run_resumed"] = field(default="run_resumed", init=False)
    workflow: str = ""
    inputs: dict[str, Any] = field(default_factory=dict)
    steps: list[str] = field(default_factory=list)
    overrides: dict[str, Any] = field(default_factory=dict)
    format: int = RECORD_FORMAT


@registered
@dataclass(frozen=True, slots=True, kw_only=True)
class RunFinished(Event):
    type: Literal["run_finished"] = field(default="run_finished", init=False)
    status: str
    failed: list[str] = field(default_factory=list)
    awaiting_approval: list[str] = field(default_factory=list)
    error: str | None = None
    tokens: int = 0
    cost_usd: float | None = None
    duration_ms: int = 0
    outputs: dict[str, str] = field(default_factory=dict)


# --- steps -----------------------------------------------------------------------------------


@registered
@dataclass(frozen=True, slots=True, kw_only=True)
class StepStarted(Event):
    """`step` is the step's path: `build`, or `fix.2.review` for a step nested in a loop."""

    type: Literal["step_started"] = field(default="step_started", init=False)
    step: str
    kind: str = ""
    units: int = 0


@registered
@dataclass(frozen=True, slots=True, kw_only=True)
class StepFinished(Event):
    type: Literal["step_finished"] = field(default="step_finished", init=False)
    step: str
    status: str
    tokens: int = 0
    cost_usd: float | None = None
    duration_ms: int = 0
    error: str | None = None


@registered
@dataclass(frozen=True, slots=True, kw_only=True)
class ApprovalRequested(Event):
    type: Literal["approval_requested"] = field(default="approval_requested", init=False)
    step: str
    prompt: str = ""


@registered
@dataclass(frozen=True, slots=True, kw_only=True)
class ApprovalDecided(Event):
    type: Literal["approval_decided"] = field(default="approval_decided", init=False)
    step: str
    decision: str
    reason: str | None = None


# --- units -----------------------------------------------------------------------------------


@registered
@dataclass(frozen=True, slots=True, kw_only=True)
class UnitStarted(Event):
    type: Literal["unit_started"] = field(default="unit_started", init=False)
    step: str
    unit: int = 0
    sub: str | None = None  # the `parallel` entry
    item: Any = None  # the `for_each` item
    agent: str | None = None
    provider: str | None = None
    model: str | None = None
    command: str | None = None  # a `run` unit's command (its first line, cut short)
    fast: bool = False  # sent OpenAI's priority tier (fast mode)


@registered
@dataclass(frozen=True, slots=True, kw_only=True)
class UnitProgress(Event):
    """A streaming unit's running totals. Observers see it as usage is reported; it is not written
    to `events.jsonl` (the unit's `unit_finished` has the final figures)."""

    type: Literal["unit_progress"] = field(default="unit_progress", init=False)
    step: str
    unit: int = 0
    tokens: int = 0
    cost_usd: float | None = None


@registered
@dataclass(frozen=True, slots=True, kw_only=True)
class UnitRetried(Event):
    """The unit failed and runs again as `attempt` after `delay` seconds."""

    type: Literal["unit_retry"] = field(default="unit_retry", init=False)
    step: str
    unit: int = 0
    attempt: int = 0
    delay: float = 0.0
    error: str | None = None


@registered
@dataclass(frozen=True, slots=True, kw_only=True)
class ContractRetried(Event):
    """The unit's output broke its JSON contract; the agent is asked once more."""

    type: Literal["contract_retry"] = field(default="contract_retry", init=False)
    step: str
    unit: int = 0
    errors: list[str] = field(default_factory=list)


@registered
@dataclass(frozen=True, slots=True, kw_only=True)
class UnitFinished(Event):
    """`status`: succeeded, failed, cancelled or interrupted."""

    type: Literal["unit_finished"] = field(default="unit_finished", init=False)
    step: str
    unit: int = 0
    sub: str | None = None
    status: str
    tokens: int = 0
    cost_usd: float | None = None
    duration_ms: int = 0
    error: str | None = None


@registered
@dataclass(frozen=True, slots=True, kw_only=True)
class UnitReused(Event):
    """An earlier attempt's result, reused on resume; `tokens`/`cost_usd` are what that attempt
    spent (nothing is spent now)."""

    type: Literal["unit_reused"] = field(default="unit_reused", init=False)
    step: str
    unit: int = 0
    tokens: int = 0
    cost_usd: float | None = None


@registered
@dataclass(frozen=True, slots=True, kw_only=True)
class UnitPlaced(Event):
    """A unit sent to a worker of a cluster (`--executor ray`): `node` is the node's address and
    id; a unit re-dispatched after its worker died is placed again."""

    type: Literal["unit_placed"] = field(default="unit_placed", init=False)
    step: str
    unit: int = 0
    node: str = ""
    redispatched: bool = False


# --- loops -----------------------------------------------------------------------------------


@registered
@dataclass(frozen=True, slots=True, kw_only=True)
class LoopIterationStarted(Event):
    """Iteration `iteration` (from 1) of loop step `step` starts; its steps are `<step>.<n>.<id>`."""

    type: Literal["loop_iteration_started"] = field(default="loop_iteration_started", init=False)
    step: str
    iteration: int = 1


@registered
@dataclass(frozen=True, slots=True, kw_only=True)
class LoopIterationFinished(Event):
    """`status`: succeeded or failed; `until`: whether the loop's condition held after it (None when
    the iteration failed). `tokens`/`cost_usd`: what the iteration's units spent."""

    type: Literal["loop_iteration_finished"] = field(default="loop_iteration_finished", init=False)
    step: str
    iteration: int = 1
    status: str = "succeeded"
    until: bool | None = None
    tokens: int = 0
    cost_usd: float | None = None


# --- spend and the step cache ----------------------------------------------------


@registered
@dataclass(frozen=True, slots=True, kw_only=True)
class UnitCached(Event):
    """A unit's result taken from the step cache: computed by run `cached_from`; nothing is
    spent now."""

    type: Literal["unit_cached"] = field(default="unit_cached", init=False)
    step: str
    unit: int = 0
    sub: str | None = None
    cached_from: str = ""
    tokens: int = 0
    cost_usd: float | None = 0.0


@registered
@dataclass(frozen=True, slots=True, kw_only=True)
class BudgetExceeded(Event):
    """A spend limit stopped the run: `budget` names it ("the workflow's budget", "step 'x'
    budget"), `limit` is `max_usd` or `max_tokens`, `step` where the refused call was, and the
    spend its ledger had settled."""

    type: Literal["budget_exceeded"] = field(default="budget_exceeded", init=False)
    budget: str
    limit: str
    step: str | None = None
    spent_usd: float = 0.0
    spent_tokens: int = 0
    message: str = ""


@registered
@dataclass(frozen=True, slots=True, kw_only=True)
class RunNote(Event):
    """Something the user should know that does not stop the run: `about` is `budget` (a USD
    limit that cannot be enforced for an unpriced model) or `cache` (a step cache that could not
    be read or written)."""

    type: Literal["run_note"] = field(default="run_note", init=False)
    about: str
    message: str


RunEvent = (
    RunStarted
    | RunResumed
    | RunFinished
    | StepStarted
    | StepFinished
    | ApprovalRequested
    | ApprovalDecided
    | UnitStarted
    | UnitProgress
    | UnitRetried
    | ContractRetried
    | UnitFinished
    | UnitReused
    | UnitPlaced
    | LoopIterationStarted
    | LoopIterationFinished
    | UnitCached
    | BudgetExceeded
    | RunNote
)
# Events observers see but the log does not write.
UNLOGGED: frozenset[str] = frozenset({"unit_progress"})


class Observer:
    """Receives every run event as it is logged (and `UnitProgress` as usage streams); the live
    view, `--plain` and `--format json` are observers."""

    def event(self, event: RunEvent) -> None:
        return None


def add_costs(costs: Iterable[float | None]) -> float | None:
    """The sum of the priced costs; None when nothing was priced."""
    total: float | None = None
    for cost in costs:
        if cost is not None:
            total = (total or 0.0) + cost
    return None if total is None else round(total, 12)  # no 0.30000000000000004 in records
