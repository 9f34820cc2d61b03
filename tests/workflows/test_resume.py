"""Approvals park a run; resume re-runs only failed, interrupted and unstarted units and reuses
completed outputs byte for byte (X12, X13, F13, F14)."""

from __future__ import annotations

import orjson
import pytest

from rupu.errors import ConfigError
from rupu.workflows.engine import Engine
from rupu.workflows.recordfile import read_events
from tests.conftest import Workspace
from tests.workflows.helpers import (
    Answer,
    FakeProvider,
    Recorder,
    boom,
    make_engine,
    run,
    start,
    write_agents,
    write_workflow,
)

pytestmark = pytest.mark.anyio

FLOW = """
name: flow
steps:
  - id: fan
    agent: worker
    for_each: [u0, u1, u2, u3, u4, u5]
    {extra}
    prompt: "unit {{{{ item }}}}"
  - id: sum
    agent: worker
    prompt: "sum {{{{ steps.fan.results | join('|') }}}}"
"""


def unit_lines(engine: Engine, run_id: str) -> list[bytes]:
    path = engine.paths.runs / run_id / "units.jsonl"
    return path.read_bytes().splitlines()


async def test_resume_after_fail_fast_reruns_only_failed_and_unstarted(
    workspace: Workspace,
) -> None:
    write_agents(workspace, {"worker": "mock"})
    write_workflow(workspace, FLOW.format(extra="max_parallel: 3"))

    def first(prompt: str, _: object) -> Answer:
        if prompt in ("unit u0", "unit u1"):
            return Answer(f'done {prompt[-2:]} ✓ "quoted"\n')
        if prompt == "unit u2":
            return Answer(delay=0.1, error=boom("flaky"))
        return Answer(delay=30)

    fake = FakeProvider("mock", first)
    engine = make_engine(workspace, {"mock": fake})
    outcome = await run(start(engine))
    assert outcome.status == "failed"
    run_id = outcome.run_id
    before = {(r["unit"], r["status"]): r for r in map(orjson.loads, unit_lines(engine, run_id))}
    assert {k for k in before if k[1] == "succeeded"} == {(0, "succeeded"), (1, "succeeded")}
    lines_before = unit_lines(engine, run_id)

    resumed = FakeProvider("mock", lambda p, _: Answer(f"fresh {p}"))
    engine = make_engine(workspace, {"mock": resumed})
    recorder = Recorder()
    outcome = await run(engine.reopen(run_id), recorder)
    assert outcome.status == "succeeded"
    assert sorted(resumed.prompts[:-1]) == ["unit u2", "unit u3", "unit u4", "unit u5"]
    assert [e["unit"] for e in recorder.of("unit_reused")] == [0, 1]
    after = unit_lines(engine, run_id)
    assert after[: len(lines_before)] == lines_before, "units.jsonl is append-only"
    rerun = [orjson.loads(line) for line in after[len(lines_before) :]]
    assert sorted((r["step"], r["unit"]) for r in rerun) == [
        ("fan", 2),
        ("fan", 3),
        ("fan", 4),
        ("fan", 5),
        ("sum", 0),
    ]
    step = orjson.loads((engine.paths.runs / run_id / "steps" / "fan.json").read_bytes())
    assert step["results"][:2] == [
        before[(0, "succeeded")]["output"],
        before[(1, "succeeded")]["output"],
    ]
    assert step["results"][0] == 'done u0 ✓ "quoted"\n'
    assert outcome.outputs["sum"].startswith("fresh sum done u0")


async def test_resume_after_partial_reruns_failed_units_and_what_read_them(
    workspace: Workspace,
) -> None:
    write_agents(workspace, {"worker": "mock"})
    write_workflow(workspace, FLOW.format(extra="continue_on_error: true"))
    fake = FakeProvider(
        "mock",
        lambda p, _: Answer(error=boom()) if p in ("unit u1", "unit u4") else Answer(p.upper()),
    )
    engine = make_engine(workspace, {"mock": fake})
    outcome = await run(start(engine))
    assert outcome.status == "partial"
    again = FakeProvider("mock", lambda p, _: Answer(p.upper()))
    outcome = await run(make_engine(workspace, {"mock": again}).reopen(outcome.run_id))
    assert outcome.status == "succeeded"
    assert again.prompts[:2] == ["unit u1", "unit u4"]
    assert again.prompts[2].startswith("sum UNIT U0|UNIT U1|")
    assert len(again.prompts) == 3


async def test_resume_of_a_succeeded_run_is_refused(workspace: Workspace) -> None:
    write_agents(workspace, {"worker": "mock"})
    write_workflow(workspace, "name: flow\nsteps:\n  - {id: a, agent: worker, prompt: hi}\n")
    engine = make_engine(workspace, {"mock": FakeProvider("mock")})
    outcome = await run(start(engine))
    with pytest.raises(ConfigError, match="already succeeded"):
        engine.reopen(outcome.run_id[:12])


async def test_torn_event_line_is_dropped_and_unknown_events_ignored(
    workspace: Workspace,
) -> None:
    write_agents(workspace, {"worker": "mock"})
    write_workflow(workspace, FLOW.format(extra="continue_on_error: true"))
    fake = FakeProvider("mock", lambda p, _: Answer(error=boom()) if p == "unit u3" else Answer(p))
    engine = make_engine(workspace, {"mock": fake})
    outcome = await run(start(engine))
    directory = engine.paths.runs / outcome.run_id
    with (directory / "events.jsonl").open("ab") as handle:
        handle.write(b'{"seq": 999, "type": "from_the_future", "extra": [1]}\n{"seq": 1000, "ty')
    with (directory / "units.jsonl").open("ab") as handle:
        handle.write(b'{"step": "fan", "unit": 0, "sta')
    execution = make_engine(workspace, {"mock": FakeProvider("mock")}).reopen(outcome.run_id)
    assert [w.split(": ")[1] for w in execution.warnings] == [
        "dropped a torn last line (17 bytes) left by a crash",
        "dropped a torn last line (31 bytes) left by a crash",
    ]
    outcome = await run(execution)
    assert outcome.status == "succeeded"
    units = [orjson.loads(line) for line in (directory / "units.jsonl").read_bytes().splitlines()]
    assert [(u["unit"], u["status"]) for u in units if u["step"] == "fan"][-1] == (3, "succeeded")
    kinds = [e["type"] for e in read_events(directory / "events.jsonl")]
    assert "from_the_future" in kinds and kinds[-1] == "run_finished"


async def test_a_record_from_a_newer_rupu_is_not_resumed(workspace: Workspace) -> None:
    write_agents(workspace, {"worker": "mock"})
    write_workflow(workspace, "name: flow\nsteps:\n  - {id: a, agent: worker, prompt: hi}\n")
    engine = make_engine(
        workspace, {"mock": FakeProvider("mock", lambda p, _: Answer(error=boom()))}
    )
    outcome = await run(start(engine))
    meta_path = engine.paths.runs / outcome.run_id / "run.json"
    meta = orjson.loads(meta_path.read_bytes())
    meta_path.write_bytes(orjson.dumps({**meta, "format": 99}))
    with pytest.raises(ConfigError, match="newer rupu"):
        engine.reopen(outcome.run_id)


GATED = """
name: flow
steps:
  - id: build
    agent: worker
    prompt: build
  - id: deploy
    agent: worker
    depends_on: [build]
    approval:
      prompt: "ship {{ steps.build.output }}?"
    prompt: deploy
  - id: announce
    agent: worker
    prompt: "announce {{ steps.deploy.output }}"
  - id: docs
    agent: worker
    prompt: docs
"""


async def test_approval_parks_then_approve_continues(workspace: Workspace) -> None:
    write_agents(workspace, {"worker": "mock"})
    write_workflow(workspace, GATED)
    fake = FakeProvider("mock", lambda p, _: Answer(p.upper()))
    engine = make_engine(workspace, {"mock": fake})
    recorder = Recorder()
    outcome = await run(start(engine), recorder)
    assert outcome.status == "awaiting_approval"
    assert outcome.awaiting == ["deploy"]
    assert sorted(fake.prompts) == ["build", "docs"]
    [asked] = recorder.of("approval_requested")
    assert asked["prompt"] == "ship BUILD?"

    fake = FakeProvider("mock", lambda p, _: Answer(p.upper()))
    execution = make_engine(workspace, {"mock": fake}).reopen(
        outcome.run_id, decide=(None, "approved", None)
    )
    outcome = await run(execution)
    assert outcome.status == "succeeded"
    assert fake.prompts == ["deploy", "announce DEPLOY"]


async def test_reject_skips_the_gate_and_what_follows(workspace: Workspace) -> None:
    write_agents(workspace, {"worker": "mock"})
    write_workflow(workspace, GATED)
    engine = make_engine(workspace, {"mock": FakeProvider("mock")})
    outcome = await run(start(engine))
    with pytest.raises(ConfigError, match="not waiting for approval"):
        make_engine(workspace, {"mock": FakeProvider("mock")}).reopen(
            outcome.run_id, decide=("build", "approved", None)
        )
    fake = FakeProvider("mock")
    execution = make_engine(workspace, {"mock": fake}).reopen(
        outcome.run_id, decide=("deploy", "rejected", "not on a Friday")
    )
    outcome = await run(execution)
    assert outcome.status == "rejected"
    assert fake.prompts == []
    directory = engine.paths.runs / outcome.run_id
    deploy = orjson.loads((directory / "steps" / "deploy.json").read_bytes())
    announce = orjson.loads((directory / "steps" / "announce.json").read_bytes())
    assert (deploy["status"], deploy["error"], deploy["decision"]) == (
        "rejected",
        "not on a Friday",
        "rejected",
    )
    assert announce["status"] == "skipped"
