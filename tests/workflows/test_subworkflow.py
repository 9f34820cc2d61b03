"""`workflow:` steps: another workflow called by name or path with templated `inputs:`, its declared
`outputs:` read as `steps.<id>.outputs.<name>`, its agents found beside its own file, its steps
recorded under the step path (`nested.build`), recursion refused at load, and resume inside it."""

from __future__ import annotations

import orjson
import pytest

from rupu.errors import ConfigError
from tests.conftest import Workspace
from tests.workflows.helpers import (
    AGENT,
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

INNER = """
name: inner
inputs:
  topic: {type: string, required: true}
  times: {type: int, default: 1}
outputs:
  summary: "{{ steps.b.output }}"
  count: "{{ inputs.times * 2 }}"
steps:
  - id: a
    agent: worker
    prompt: "a {{ inputs.topic }} x{{ inputs.times }}"
  - id: b
    agent: worker
    prompt: "b {{ steps.a.output }}"
"""

OUTER = """
name: flow
inputs:
  subject: {default: cats}
steps:
  - id: first
    agent: worker
    prompt: first
  - id: nested
    workflow: inner
    inputs:
      topic: "{{ inputs.subject }} and {{ steps.first.output }}"
      times: 3
  - id: last
    agent: worker
    prompt: "last {{ steps.nested.outputs.summary }} {{ steps.nested.outputs.count }}"
"""


def upper() -> FakeProvider:
    return FakeProvider("mock", lambda p, _: Answer(p.upper()))


def lines(workspace: Workspace, run_id: str, name: str) -> list[dict[str, object]]:
    path = workspace.home / "runs" / run_id / name
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


async def test_called_workflow_runs_with_inputs_and_its_outputs_are_readable(
    workspace: Workspace,
) -> None:
    write_agents(workspace, {"worker": "mock"})
    write_workflow(workspace, INNER, name="inner")
    write_workflow(workspace, OUTER)
    fake = upper()
    recorder = Recorder()
    outcome = await run(start(make_engine(workspace, {"mock": fake})), recorder)
    assert outcome.status == "succeeded", outcome.error
    assert fake.prompts == [
        "first",
        "a cats and FIRST x3",
        "b A CATS AND FIRST X3",
        "last B A CATS AND FIRST X3 6",
    ]
    units = lines(workspace, outcome.run_id, "units.jsonl")
    assert [u["step"] for u in units] == ["first", "nested.a", "nested.b", "last"]
    directory = workspace.home / "runs" / outcome.run_id
    nested = orjson.loads((directory / "steps" / "nested.json").read_bytes())
    assert (nested["kind"], nested["status"]) == ("workflow", "succeeded")
    assert nested["outputs"] == {"summary": "B A CATS AND FIRST X3", "count": 6}
    assert nested["tokens"] == 10
    assert (directory / "steps" / "nested.b.json").is_file()
    assert (directory / "transcripts" / "nested.a.0.jsonl").is_file()
    finished = [e["step"] for e in recorder.of("step_finished")]
    assert finished == ["first", "nested.a", "nested.b", "nested", "last"]
    assert outcome.tokens == 20


async def test_a_called_workflow_finds_agents_beside_its_own_file(workspace: Workspace) -> None:
    write_agents(workspace, {"worker": "mock"})
    library = workspace.project / "lib"
    (library / "workflows").mkdir(parents=True)
    (library / "agents").mkdir()
    (library / "agents" / "helper.md").write_text(
        AGENT.format(name="helper", provider="mock", extra="")
    )
    (library / "workflows" / "tool.yaml").write_text(
        "name: tool\noutputs: {said: '{{ steps.h.output }}'}\n"
        "steps:\n  - {id: h, agent: helper, prompt: help}\n"
    )
    write_workflow(
        workspace,
        "name: flow\nsteps:\n  - {id: t, workflow: ../../lib/workflows/tool.yaml}\n"
        "  - {id: after, agent: worker, prompt: 'got {{ steps.t.outputs.said }}'}\n",
    )
    fake = upper()
    outcome = await run(start(make_engine(workspace, {"mock": fake})))
    assert outcome.status == "succeeded", outcome.error
    assert fake.prompts == ["help", "got HELP"]
    # The caller's own agents are not the called workflow's: `helper` exists only beside tool.yaml.
    write_workflow(workspace, "name: flow\nsteps:\n  - {id: h, agent: helper, prompt: help}\n")
    with pytest.raises(ConfigError, match="no agent named 'helper'"):
        start(make_engine(workspace, {"mock": upper()}))


async def test_direct_recursion_is_a_load_error(workspace: Workspace) -> None:
    write_agents(workspace, {"worker": "mock"})
    path = write_workflow(
        workspace, "name: flow\nsteps:\n  - id: again\n    workflow: flow\n", name="flow"
    )
    with pytest.raises(ConfigError) as caught:
        start(make_engine(workspace, {"mock": upper()}))
    assert caught.value.message == f"{path}:4: workflow recursion: flow ({path}:4) -> flow"


async def test_indirect_recursion_names_the_chain_with_file_and_line(workspace: Workspace) -> None:
    write_agents(workspace, {"worker": "mock"})
    first = write_workflow(
        workspace,
        "name: flow\nsteps:\n  - {id: x, agent: worker, prompt: p}\n  - {id: b, workflow: b}\n",
    )
    second = write_workflow(
        workspace, "name: b\nsteps:\n  - id: c\n    workflow: c.yaml\n", name="b"
    )
    write_workflow(workspace, "name: c\nsteps:\n  - {id: back, workflow: flow}\n", name="c")
    third = second.parent / "c.yaml"
    with pytest.raises(ConfigError) as caught:
        start(make_engine(workspace, {"mock": upper()}))
    assert caught.value.message == (
        f"{first}:4: workflow recursion: flow ({first}:4) -> b ({second}:4) -> c ({third}:3) -> flow"
    )


BAD_CALLS = {
    "unknown output": (
        "  - id: reader\n    agent: worker\n    prompt: '{{ steps.nested.outputs.sumary }}'  # <-\n",
        "reads steps.nested.outputs.sumary, but workflow 'inner' declares no output 'sumary' "
        "(did you mean 'summary'?)",
    ),
    "unknown input": (
        "  - id: other\n    workflow: inner\n    inputs:\n      topic: t\n      tmes: 2  # <-\n",
        "step 'other': workflow 'inner' has no input 'tmes' (did you mean 'times'?)",
    ),
    "missing input": (
        "  - id: other\n    workflow: inner  # <-\n",
        "step 'other': workflow 'inner' needs input 'topic'",
    ),
    "wrong input type": (
        "  - id: other\n    workflow: inner\n    inputs:\n      topic: t\n      times: many  # <-\n",
        "input 'times' must be a whole number (got 'many')",
    ),
    "unknown workflow": (
        "  - id: other\n    workflow: innr  # <-\n",
        "no workflow named 'innr' (did you mean 'inner'?)",
    ),
}


@pytest.mark.parametrize("case", list(BAD_CALLS))
async def test_bad_calls_are_refused_before_anything_runs(workspace: Workspace, case: str) -> None:
    write_agents(workspace, {"worker": "mock"})
    write_workflow(workspace, INNER, name="inner")
    extra, message = BAD_CALLS[case]
    text = OUTER.replace("  - id: last\n", extra + "  - id: last\n")
    path = write_workflow(workspace, text)
    expected = next(n for n, line in enumerate(text.splitlines(), 1) if line.endswith("# <-"))
    fake = upper()
    with pytest.raises(ConfigError) as caught:
        start(make_engine(workspace, {"mock": fake}))
    assert message in caught.value.message, caught.value.one_line()
    assert caught.value.one_line().startswith(f"{path}:{expected}:"), caught.value.one_line()
    assert fake.prompts == []
    assert not (workspace.home / "runs").exists() or not list(
        (workspace.home / "runs").glob("run_*")
    )


async def test_resume_reruns_only_what_did_not_finish_inside_the_called_workflow(
    workspace: Workspace,
) -> None:
    write_agents(workspace, {"worker": "mock"})
    write_workflow(workspace, INNER, name="inner")
    write_workflow(workspace, OUTER)
    flaky = FakeProvider(
        "mock", lambda p, _: Answer(error=boom()) if p.startswith("b ") else Answer(p.upper())
    )
    outcome = await run(start(make_engine(workspace, {"mock": flaky})))
    assert outcome.status == "failed"
    assert outcome.failed == ["nested"]
    assert outcome.error is not None and "nested.b" in outcome.error

    # Resume runs the called workflow as the run first read it, like the calling one.
    write_workflow(workspace, INNER.replace('"b {{', '"changed {{'), name="inner")
    fake = upper()
    recorder = Recorder()
    outcome = await run(make_engine(workspace, {"mock": fake}).reopen(outcome.run_id), recorder)
    assert outcome.status == "succeeded", outcome.error
    assert fake.prompts == ["b A CATS AND FIRST X3", "last B A CATS AND FIRST X3 6"]
    assert [e["step"] for e in recorder.of("unit_reused")] == ["first", "nested.a"]
    copies = orjson.loads((workspace.home / "runs" / outcome.run_id / "called.json").read_bytes())
    assert [(c["reference"], c["file"]) for c in copies] == [("inner", "called/0.yaml")]
