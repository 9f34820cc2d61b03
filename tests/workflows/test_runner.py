"""The scheduler: concurrency and its limits, declared order, fail-fast, continue_on_error, retries,
timeouts, `when`, and provider sharing (reliability cases X8-X10)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from rupu.agents.spec import AgentSpec
from rupu.messages import AssistantTurn, Message, ToolSpec
from rupu.routing.target import RunTarget
from rupu.testing import FakeClock
from rupu.transcripts import TranscriptWriter
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

FAN_OUT = """
name: flow
steps:
  - id: fan
    agent: worker
    for_each: {items}
    {extra}
    prompt: "work on {{{{ item }}}}"
  - id: after
    agent: worker
    prompt: "after {{{{ steps.fan.success }}}}: {{{{ steps.fan.results | join(',') }}}}"
"""


def fan_out(workspace: Workspace, items: str, extra: str = "") -> None:
    write_agents(workspace, {"worker": "mock"})
    write_workflow(workspace, FAN_OUT.format(items=items, extra=extra))


async def test_fan_out_is_concurrent_and_results_keep_declared_order(workspace: Workspace) -> None:
    fan_out(workspace, "[a, b, c, d, e]")
    delays = {"a": 0.25, "b": 0.2, "c": 0.15, "d": 0.1, "e": 0.05}
    fake = FakeProvider(
        "mock",
        lambda prompt, _: Answer(prompt.upper(), delay=delays.get(prompt[-1], 0)),
    )
    recorder = Recorder()
    outcome = await run(start(make_engine(workspace, {"mock": fake})), recorder)
    assert outcome.status == "succeeded"
    assert fake.max_in_flight == 5
    fan = next(e for e in recorder.of("step_finished") if e["step"] == "fan")
    assert 250 <= fan["duration_ms"] < 600, "the units ran one after another (sum: 750 ms)"
    assert outcome.outputs["after"] == (
        "AFTER TRUE: WORK ON A,WORK ON B,WORK ON C,WORK ON D,WORK ON E"
    )


@pytest.mark.parametrize(
    ("extra", "config", "limit"),
    [
        ("max_parallel: 3", "", 3),
        ("", "[providers.mock]\nmax_concurrency = 2\n", 2),
    ],
)
async def test_in_flight_never_exceeds_the_limit(
    workspace: Workspace, extra: str, config: str, limit: int
) -> None:
    workspace.write_config(config)
    fan_out(workspace, "[" + ", ".join(f"i{n}" for n in range(12)) + "]", extra)
    fake = FakeProvider("mock", lambda prompt, _: Answer("x", delay=0.02))
    outcome = await run(start(make_engine(workspace, {"mock": fake})))
    assert outcome.status == "succeeded"
    assert fake.max_in_flight == limit


async def test_workflow_max_concurrency_spans_steps(workspace: Workspace) -> None:
    write_agents(workspace, {"worker": "mock"})
    write_workflow(
        workspace,
        """
name: flow
max_concurrency: 3
steps:
  - id: one
    agent: worker
    for_each: [a, b, c, d]
    prompt: "one {{ item }}"
  - id: two
    agent: worker
    for_each: [a, b, c, d]
    prompt: "two {{ item }}"
""",
    )
    fake = FakeProvider("mock", lambda prompt, _: Answer("x", delay=0.03))
    outcome = await run(start(make_engine(workspace, {"mock": fake})))
    assert outcome.status == "succeeded"
    assert len(fake.prompts) == 8
    assert fake.max_in_flight == 3


async def test_first_failure_cancels_siblings_within_two_seconds(workspace: Workspace) -> None:
    fan_out(workspace, "[fine, bad, slow1, slow2]")

    def respond(prompt: str, _: object) -> Answer:
        if prompt.endswith("bad"):
            return Answer(delay=0.05, error=boom("exploded"))
        if prompt.endswith("fine"):
            return Answer("fine")
        return Answer(delay=30)

    fake = FakeProvider("mock", respond)
    recorder = Recorder()
    began = time.monotonic()
    outcome = await run(start(make_engine(workspace, {"mock": fake})), recorder)
    assert time.monotonic() - began < 2
    assert outcome.status == "failed"
    assert outcome.error is not None
    assert "step 'fan' unit 1 (item 'bad') failed" in outcome.error
    assert "exploded" in outcome.error
    assert sorted(fake.cancelled) == ["work on slow1", "work on slow2"]
    failed_at = next(e["_at"] for e in recorder.of("unit_finished") if e["status"] == "failed")
    cancelled = [e for e in recorder.of("unit_finished") if e["status"] == "cancelled"]
    assert len(cancelled) == 2
    assert all(e["_at"] - failed_at < 2 for e in cancelled)
    assert not [e for e in recorder.of("step_started") if e["step"] == "after"]


async def test_parallel_failure_names_the_entry(workspace: Workspace) -> None:
    write_agents(workspace, {"worker": "mock"})
    write_workflow(
        workspace,
        """
name: flow
steps:
  - id: reviews
    parallel:
      - {id: security, agent: worker, prompt: "security"}
      - {id: style, agent: worker, prompt: "style"}
""",
    )
    fake = FakeProvider(
        "mock",
        lambda p, _: Answer(delay=0.05, error=boom("no")) if p == "security" else Answer(delay=30),
    )
    outcome = await run(start(make_engine(workspace, {"mock": fake})))
    assert outcome.status == "failed"
    assert outcome.error is not None
    assert "step 'reviews' entry 'security' failed" in outcome.error
    assert fake.cancelled == ["style"]


async def test_continue_on_error_finishes_partially_and_later_steps_see_it(
    workspace: Workspace,
) -> None:
    fan_out(workspace, "[a, bad, c]", "continue_on_error: true")
    fake = FakeProvider(
        "mock",
        lambda p, _: (
            Answer(error=boom())
            if p.endswith("bad")
            else Answer(p[-1] if p.startswith("work") else p, delay=0.05)
        ),
    )
    outcome = await run(start(make_engine(workspace, {"mock": fake})))
    assert outcome.status == "partial"
    assert outcome.failed == ["fan"]
    assert outcome.outputs["after"] == "after False: a,,c"
    assert fake.cancelled == []


async def test_retries_and_timeout(workspace: Workspace) -> None:
    write_agents(workspace, {"worker": "mock"})
    write_workflow(
        workspace,
        """
name: flow
defaults:
  timeout: 200ms
  retries: 2
steps:
  - id: slow
    agent: worker
    prompt: "go"
""",
    )
    calls: list[int] = []

    def respond(prompt: str, _: object) -> Answer:
        calls.append(1)
        return Answer(delay=5) if len(calls) < 3 else Answer("third time")

    clock = FakeClock()
    slept = clock.sleeps

    recorder = Recorder()
    fake = FakeProvider("mock", respond)
    outcome = await run(start(make_engine(workspace, {"mock": fake}, sleep=clock.sleep)), recorder)
    assert outcome.status == "succeeded"
    assert outcome.outputs == {"slow": "third time"}
    assert slept == [1.0, 2.0]
    retries = recorder.of("unit_retry")
    assert [r["error"] for r in retries] == ["timed out after 0.2s"] * 2


async def test_permanent_errors_are_not_retried(workspace: Workspace) -> None:
    write_agents(workspace, {"worker": "mock"})
    write_workflow(
        workspace, "name: flow\nsteps:\n  - {id: a, agent: worker, prompt: go, retries: 3}\n"
    )
    fake = FakeProvider("mock", lambda p, _: Answer(error=boom("bad key", status=401)))
    outcome = await run(start(make_engine(workspace, {"mock": fake})))
    assert outcome.status == "failed"
    assert len(fake.prompts) == 1


@pytest.mark.parametrize(
    ("message", "status", "retried"),
    [
        ("server error", 500, True),
        ("rate limited", 429, True),
        ("You exceeded your current quota, please check your plan and billing details", 429, False),
        ("payment required", 402, False),
        ("prompt is too long", 400, False),
        ("forbidden", 403, False),
    ],
)
async def test_unit_retries_follow_the_error_class(
    workspace: Workspace, message: str, status: int, retried: bool
) -> None:
    """A unit is retried for the classes routing would retry or fail over, never for quota, auth or
    a bad request (whatever the status says)."""
    write_agents(workspace, {"worker": "mock"})
    write_workflow(
        workspace, "name: flow\nsteps:\n  - {id: a, agent: worker, prompt: go, retries: 1}\n"
    )
    answers = [Answer(error=boom(message, status=status)), Answer("ok")]
    fake = FakeProvider("mock", lambda p, _: answers[min(len(fake.prompts) - 1, 1)])

    outcome = await run(start(make_engine(workspace, {"mock": fake}, sleep=FakeClock().sleep)))
    assert outcome.status == ("succeeded" if retried else "failed")
    assert len(fake.prompts) == (2 if retried else 1)


async def test_when_false_skips_and_later_steps_see_skipped(workspace: Workspace) -> None:
    write_agents(workspace, {"worker": "mock"})
    write_workflow(
        workspace,
        """
name: flow
inputs:
  deep: {type: bool, default: false}
steps:
  - id: scan
    agent: worker
    when: "{{ inputs.deep }}"
    prompt: scan
  - id: report
    agent: worker
    prompt: "skipped={{ steps.scan.skipped }} output=[{{ steps.scan.output }}]"
""",
    )
    fake = FakeProvider("mock", lambda p, _: Answer(p))
    outcome = await run(start(make_engine(workspace, {"mock": fake})))
    assert outcome.status == "succeeded"
    assert fake.prompts == ["skipped=True output=[]"]
    outcome = await run(start(make_engine(workspace, {"mock": fake}), inputs={"deep": "yes"}))
    assert fake.prompts[1:] == ["scan", "skipped=False output=[scan]"]


async def test_template_error_at_run_time_names_the_unit(workspace: Workspace) -> None:
    write_agents(workspace, {"worker": "mock"})
    write_workflow(
        workspace,
        """
name: flow
steps:
  - id: fan
    agent: worker
    for_each: [{path: a.py}, {name: b}]
    prompt: "review {{ item.path }}"
""",
    )
    fake = FakeProvider("mock")
    outcome = await run(start(make_engine(workspace, {"mock": fake})))
    assert outcome.status == "failed"
    assert outcome.error is not None
    assert "unit 1" in outcome.error and "has no attribute 'path'" in outcome.error
    assert fake.prompts == []


async def test_one_provider_instance_per_provider_and_it_is_closed(workspace: Workspace) -> None:
    workspace.write_config(
        '[providers.alpha]\nbase_url = "http://127.0.0.1:9"\ndefault_model = "m1"\n'
    )
    write_agents(workspace, {"worker": "mock", "other": "alpha"})
    write_workflow(
        workspace,
        """
name: flow
steps:
  - {id: a, agent: worker, prompt: a}
  - {id: b, agent: worker, prompt: b, for_each: [1, 2, 3]}
  - {id: c, agent: other, prompt: c}
  - {id: d, agent: other, prompt: d, provider: mock}
""",
    )
    fakes = {"mock": FakeProvider("mock"), "alpha": FakeProvider("alpha")}
    built: list[RunTarget] = []
    outcome = await run(start(make_engine(workspace, fakes, built=built)))
    assert outcome.status == "succeeded"
    assert sorted(t.provider for t in built) == ["alpha", "mock"]
    assert len(fakes["mock"].prompts) == 5 and fakes["alpha"].prompts == ["c"]
    assert all(f.closed for f in fakes.values())


async def test_nothing_new_starts_after_a_failure_even_without_awaits(
    workspace: Workspace,
) -> None:
    write_agents(workspace, {"worker": "mock"})
    write_workflow(
        workspace,
        """
name: flow
steps:
  - {id: a, agent: worker, prompt: fail}
  - {id: b, agent: worker, prompt: other}
  - {id: c, agent: worker, prompt: "{{ item }}", for_each: [x, y]}
""",
    )
    fake = FakeProvider("mock", lambda p, _: Answer(error=boom()) if p == "fail" else Answer(p))
    recorder = Recorder()
    outcome = await run(start(make_engine(workspace, {"mock": fake})), recorder)
    assert outcome.status == "failed"
    assert fake.prompts == ["fail"]
    assert [e["step"] for e in recorder.of("step_started")] == ["a"]


async def test_each_agent_run_gets_its_toolbox_from_the_seam(workspace: Workspace) -> None:
    write_agents(workspace, {"worker": "mock"})
    write_workflow(
        workspace,
        "name: flow\nsteps:\n  - {id: a, agent: worker, prompt: go, for_each: [1, 2]}\n",
    )
    opened: list[str] = []
    closed: list[str] = []

    class Tools:
        def __init__(self) -> None:
            self.specs = [ToolSpec("read_file", "Read a file.", {"type": "object"})]

        def audit(self) -> dict[str, object]:
            return {"tools": ["read_file"]}

        async def run_calls(self, turn: AssistantTurn, transcript: TranscriptWriter) -> Message:
            raise AssertionError("no tool calls expected")

    @asynccontextmanager
    async def opener(spec: AgentSpec) -> AsyncIterator[Tools]:
        opened.append(spec.name)
        try:
            yield Tools()
        finally:
            closed.append(spec.name)

    fake = FakeProvider("mock")
    engine = make_engine(workspace, {"mock": fake})
    engine.toolbox = opener
    outcome = await run(start(engine))
    assert outcome.status == "succeeded"
    assert opened == closed == ["worker", "worker"]
    assert [[t.name for t in r.tools] for r in fake.requests] == [["read_file"], ["read_file"]]
