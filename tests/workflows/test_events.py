"""Typed run events: every event survives JSONL and back, old records still read, and the events a
run logs are the ones observers see."""

from __future__ import annotations

import dataclasses
import re
import typing
from typing import ClassVar

import orjson
import pytest

from rupu.workflows import events
from rupu.workflows.dispatch import (
    LocalDispatcher,
    UnitBatch,
    UnitDispatcher,
    UnitExecutor,
    UnitReport,
)
from rupu.workflows.events import (
    RECORD_FORMAT,
    Event,
    RunFinished,
    StepStarted,
    UnitFinished,
    UnitProgress,
    UnitStarted,
    event_from_json,
    read_run_events,
)
from rupu.workflows.limits import ProviderPool
from rupu.workflows.plan import Plan
from tests.conftest import REPO_ROOT, Workspace
from tests.workflows.helpers import FakeProvider, make_engine, start, write_agents
from tests.workflows.helpers import write_workflow as write

FAN_OUT = """
name: flow
steps:
  - id: fan
    agent: writer
    for_each: [a, b]
    prompt: "do {{ item }}"
"""
EVENT_CLASSES = typing.get_args(events.RunEvent)
SAMPLE_VALUES: dict[str, object] = {
    "step": "fix.2.review",
    "status": "succeeded",
    "decision": "approved",
    "reason": "looks good",
    "prompt": "ship it?",
    "workflow": "flow",
    "kind": "for_each",
    "unit": 3,
    "units": 4,
    "tokens": 1234,
    "cost_usd": 0.0125,
    "duration_ms": 42,
    "attempt": 2,
    "delay": 1.5,
    "error": "boom",
    "errors": ["$.a: required"],
    "sub": "left",
    "item": {"path": "a.py"},
    "agent": "writer",
    "provider": "mock",
    "model": "m-1",
    "command": "python -m pytest -q",
    "fast": True,
    "inputs": {"topic": "x"},
    "steps": ["a", "b"],
    "overrides": {"provider": None},
    "failed": ["b"],
    "awaiting_approval": [],
    "outputs": {"b": "done"},
    "format": RECORD_FORMAT,
    "iteration": 2,
    "until": True,
    "node": "127.0.0.1/3f2a91c0",
    "redispatched": True,
    "cached_from": "run_earlier",
    "budget": "the workflow's budget",
    "limit": "max_usd",
    "spent_usd": 0.42,
    "spent_tokens": 220,
    "message": "budget reached: ...",
    "about": "budget",
}


def sample(cls: type[Event]) -> Event:
    values = {
        f.name: SAMPLE_VALUES[f.name]
        for f in dataclasses.fields(cls)
        if f.init and f.name not in ("seq", "ts", "run_id")
    }
    return cls(seq=7, ts=1700000000.5, run_id="run_x", **values)


@pytest.mark.parametrize("cls", EVENT_CLASSES, ids=lambda c: c.__name__)
def test_every_event_round_trips_through_json(cls: type[Event]) -> None:
    event = sample(cls)
    line = event.to_json()
    data = orjson.loads(line)
    assert data["type"] == event.to_dict()["type"]
    assert {"seq", "ts", "run_id", "type"} <= set(data)
    assert event_from_json(line) == event
    assert event_from_json(data) == event


def test_every_event_has_a_distinct_registered_type() -> None:
    types = [sample(cls).to_dict()["type"] for cls in EVENT_CLASSES]
    assert len(set(types)) == len(types)
    assert "unit_finished" in types and "unit_retry" in types  # the names format 1 wrote


def test_events_that_end_something_carry_tokens_and_cost() -> None:
    ended = (events.UnitFinished, events.StepFinished, events.RunFinished, events.UnitReused)
    for cls in (*ended, events.LoopIterationFinished):
        names = {f.name for f in dataclasses.fields(cls)}
        assert {"tokens", "cost_usd"} <= names, cls.__name__


def test_a_format_1_line_reads_with_defaults_for_fields_it_lacks() -> None:
    old = (
        b'{"seq": 9, "ts": 1.0, "type": "unit_finished", "run_id": "run_old", "step": "a",'
        b' "unit": 0, "status": "interrupted", "error": "the rupu process running this unit'
        b' stopped"}'
    )
    event = event_from_json(old)
    assert isinstance(event, UnitFinished)
    assert (event.step, event.status, event.tokens, event.cost_usd) == ("a", "interrupted", 0, None)


@pytest.mark.parametrize(
    "line",
    [
        b'{"type": "step_from_the_future", "step": "a"}',  # a type this rupu does not know
        b'{"type": "step_started", "step": 5}',  # a field of the wrong type
        b'{"type": "step_started", "step": "a", "units": true}',  # bool is not an int here
        b'{"type": "unit_finished", "step": "a"}',  # a required field missing
        b"[1, 2]",
    ],
)
def test_lines_this_rupu_cannot_read_are_none(line: bytes) -> None:
    assert event_from_json(line) is None


def test_unknown_fields_are_ignored() -> None:
    event = event_from_json(b'{"type": "step_started", "step": "a", "units": 2, "colour": "red"}')
    assert event == StepStarted(step="a", units=2)


@pytest.mark.anyio
async def test_a_run_logs_typed_events_and_observers_see_the_same_objects(
    workspace: Workspace,
) -> None:
    write_agents(workspace, {"writer": "mock"})
    write(workspace, FAN_OUT)
    engine = make_engine(workspace, {"mock": FakeProvider("mock")})
    execution = start(engine)
    seen: list[events.RunEvent] = []

    class Keep(events.Observer):
        def event(self, event: events.RunEvent) -> None:
            seen.append(event)

    outcome = await execution.run(Keep())
    assert outcome.status == "succeeded"
    logged = list(read_run_events(engine.paths.runs / outcome.run_id / "events.jsonl"))
    assert logged == [e for e in seen if not isinstance(e, UnitProgress)]
    assert [e.seq for e in logged] == list(range(1, len(logged) + 1))
    assert {e.run_id for e in logged} == {outcome.run_id}
    first, last = logged[0], logged[-1]
    assert isinstance(first, events.RunStarted) and first.format == RECORD_FORMAT
    assert isinstance(last, RunFinished) and last.tokens == outcome.tokens == 10
    started = [e for e in logged if isinstance(e, UnitStarted)]
    assert sorted(e.item for e in started) == ["a", "b"]
    progress = [e for e in seen if isinstance(e, UnitProgress)]
    assert {(e.step, e.unit, e.tokens) for e in progress} == {("fan", 0, 5), ("fan", 1, 5)}
    meta = orjson.loads((engine.paths.runs / outcome.run_id / "run.json").read_bytes())
    assert meta["format"] == RECORD_FORMAT


class CountingDispatcher(LocalDispatcher):
    """The in-process dispatcher, counting what the runner hands it."""

    batches: ClassVar[list[tuple[str, int]]] = []

    async def dispatch(self, batch: UnitBatch, report: UnitReport) -> None:
        self.batches.append((batch.step, len(batch.units)))
        await super().dispatch(batch, report)


@pytest.mark.anyio
async def test_units_run_through_the_engines_dispatcher(workspace: Workspace) -> None:
    write_agents(workspace, {"writer": "mock"})
    write(workspace, FAN_OUT)
    engine = make_engine(workspace, {"mock": FakeProvider("mock")})

    def counting(plan: Plan, pool: ProviderPool, executor: UnitExecutor) -> UnitDispatcher:
        return CountingDispatcher(pool, executor, max_concurrency=plan.max_concurrency)

    engine.dispatcher = counting
    CountingDispatcher.batches = []
    outcome = await start(engine).run()
    assert outcome.status == "succeeded"
    assert CountingDispatcher.batches == [("fan", 2)]


def test_the_workflows_page_documents_every_event_and_field() -> None:
    page = (REPO_ROOT / "docs" / "workflows.md").read_text()
    section = page.split("### Run events", 1)[1].split("<!-- events-table-end -->", 1)[0]
    rows = {
        match.group(1): match.group(2)
        for match in re.finditer(r"^\| `(\w+)` \| (.*?) \|[^|]*\|$", section, flags=re.MULTILINE)
    }
    for cls in EVENT_CLASSES:
        kind = sample(cls).to_dict()["type"]
        assert kind in rows, f"docs/workflows.md does not list event {kind}"
        documented = set(re.findall(r"`(\w+)`", re.sub(r"\([^)]*\)", "", rows[kind])))
        fields = {f.name for f in dataclasses.fields(cls) if f.init} - {"seq", "ts", "run_id"}
        assert fields == documented, f"{kind}: fields {fields} documented as {documented}"
