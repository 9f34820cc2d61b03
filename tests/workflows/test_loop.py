"""`loop:` steps: nested steps repeated until `until:` holds, at most `max_iterations` times; what each
iteration sees (`loop.iteration`, `loop.previous.<id>`, `steps.<inner>`), the loop's own result, the
records under step paths (`fix.2.review`), resume inside an iteration, and load-time errors."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import pytest

from rupu.errors import ConfigError
from rupu.messages import ModelRequest
from rupu.workflows.engine import plan_workflow
from rupu.workflows.loader import load_workflow
from rupu.workflows.lookup import load_reference
from rupu.workflows.plan import trust_findings
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

LOOP = """
name: flow
steps:
  - id: brief
    agent: worker
    prompt: brief
  - id: fix
    max_iterations: {max_iterations}
    on_max: {on_max}
    loop:
      - id: write
        agent: worker
        prompt: "write {{{{ loop.iteration }}}} from {{{{ loop.previous.review.output or steps.brief.output }}}}"
      - id: review
        agent: worker
        output: json
        prompt: "review {{{{ loop.iteration }}}}: {{{{ steps.write.output }}}}"
    until: "{{{{ steps.review.json.findings == 0 }}}}"
  - id: report
    agent: worker
    prompt: >-
      report after {{{{ steps.fix.iterations }}}} (converged {{{{ steps.fix.converged }}}}):
      {{{{ steps.fix.last.write.output }}}} / {{{{ steps.fix.output }}}}
"""


def loop_flow(workspace: Workspace, *, max_iterations: int = 4, on_max: str = "fail") -> None:
    write_agents(workspace, {"worker": "mock"})
    write_workflow(workspace, LOOP.format(max_iterations=max_iterations, on_max=on_max))


def reviewer(clean_at: int) -> FakeProvider:
    """Writes `W<n>`; the review of iteration n reports `clean_at - n` findings (at least 0)."""

    def respond(prompt: str, _: ModelRequest) -> Answer:
        if prompt == "brief":
            return Answer("B")
        if match := re.match(r"write (\d+) from", prompt):
            return Answer(f"W{match.group(1)}")
        if match := re.match(r"review (\d+):", prompt):
            return Answer(f'{{"findings": {max(clean_at - int(match.group(1)), 0)}}}')
        return Answer(prompt)

    return FakeProvider("mock", respond)


def records(workspace: Workspace, run_id: str, name: str) -> list[dict[str, object]]:
    path = workspace.home / "runs" / run_id / name
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def step_file(workspace: Workspace, run_id: str, step: str) -> dict[str, object]:
    data = orjson.loads((workspace.home / "runs" / run_id / "steps" / f"{step}.json").read_bytes())
    assert isinstance(data, dict)
    return data


async def test_loop_repeats_until_the_condition_holds_and_its_result_is_readable(
    workspace: Workspace,
) -> None:
    loop_flow(workspace)
    fake = reviewer(clean_at=3)
    recorder = Recorder()
    outcome = await run(start(make_engine(workspace, {"mock": fake})), recorder)
    assert outcome.status == "succeeded", outcome.error
    assert fake.prompts == [
        "brief",
        "write 1 from B",
        "review 1: W1",
        'write 2 from {"findings":2}',
        "review 2: W2",
        'write 3 from {"findings":1}',
        "review 3: W3",
        'report after 3 (converged True): W3 / {"findings":0}',
    ]
    assert outcome.outputs == {"report": fake.prompts[-1]}
    units = records(workspace, outcome.run_id, "units.jsonl")
    assert [u["step"] for u in units] == [
        "brief",
        "fix.1.write",
        "fix.1.review",
        "fix.2.write",
        "fix.2.review",
        "fix.3.write",
        "fix.3.review",
        "report",
    ]
    assert units[2]["transcript"] == "transcripts/fix.1.review.0.jsonl"
    fix = step_file(workspace, outcome.run_id, "fix")
    assert (fix["kind"], fix["status"], fix["iterations"], fix["converged"]) == (
        "loop",
        "succeeded",
        3,
        True,
    )
    assert fix["tokens"] == 6 * 5  # every inner unit's tokens (FakeProvider: 5 a call)
    assert step_file(workspace, outcome.run_id, "fix.2.review")["output"] == '{"findings":1}'
    started = [(e["step"], e["iteration"]) for e in recorder.of("loop_iteration_started")]
    assert started == [("fix", 1), ("fix", 2), ("fix", 3)]
    finished = [(e["iteration"], e["until"]) for e in recorder.of("loop_iteration_finished")]
    assert finished == [(1, False), (2, False), (3, True)]
    assert outcome.tokens == 8 * 5


async def test_on_max_fail_fails_the_run_naming_the_loop(workspace: Workspace) -> None:
    loop_flow(workspace, max_iterations=2)
    fake = reviewer(clean_at=10)
    outcome = await run(start(make_engine(workspace, {"mock": fake})))
    assert outcome.status == "failed"
    assert outcome.failed == ["fix"]
    assert outcome.error is not None
    assert "step 'fix'" in outcome.error and "2 iterations" in outcome.error
    assert not any(p.startswith("report") for p in fake.prompts)


async def test_on_max_continue_goes_on_with_the_last_iteration(workspace: Workspace) -> None:
    loop_flow(workspace, max_iterations=2, on_max="continue")
    fake = reviewer(clean_at=10)
    outcome = await run(start(make_engine(workspace, {"mock": fake})))
    assert outcome.status == "succeeded", outcome.error
    assert fake.prompts[-1] == 'report after 2 (converged False): W2 / {"findings":8}'


async def test_resume_inside_an_iteration_reruns_only_what_did_not_finish(
    workspace: Workspace,
) -> None:
    loop_flow(workspace)
    first = reviewer(clean_at=3)
    flaky = first.respond
    first.respond = lambda p, r: Answer(error=boom("flaky")) if p == "review 2: W2" else flaky(p, r)
    engine = make_engine(workspace, {"mock": first})
    outcome = await run(start(engine))
    assert outcome.status == "failed"
    assert "review 2: W2" in first.prompts

    again = reviewer(clean_at=3)
    recorder = Recorder()
    outcome = await run(make_engine(workspace, {"mock": again}).reopen(outcome.run_id), recorder)
    assert outcome.status == "succeeded", outcome.error
    assert again.prompts == [
        "review 2: W2",
        'write 3 from {"findings":1}',
        "review 3: W3",
        'report after 3 (converged True): W3 / {"findings":0}',
    ]
    assert [e["step"] for e in recorder.of("unit_reused")] == [
        "brief",
        "fix.1.write",
        "fix.1.review",
        "fix.2.write",
    ]


async def test_inner_steps_see_outer_steps_and_the_loop_waits_for_them(
    workspace: Workspace,
) -> None:
    write_agents(workspace, {"worker": "mock"})
    write_workflow(
        workspace,
        """
name: flow
steps:
  - id: fix
    max_iterations: 2
    on_max: continue
    loop:
      - id: step
        agent: worker
        prompt: "{{ steps.late.output }} {{ loop.iteration }}/{{ loop.max_iterations }}"
    until: "false"
    depends_on: [late]
  - id: late
    agent: worker
    prompt: late
""",
    )
    fake = FakeProvider("mock", lambda p, _: Answer(p.upper()))
    outcome = await run(start(make_engine(workspace, {"mock": fake})))
    assert outcome.status == "succeeded", outcome.error
    assert fake.prompts == ["late", "LATE 1/2", "LATE 2/2"]


BAD = {
    "no max_iterations": (
        "name: x\nsteps:\n  - id: fix  # <-\n    loop:\n"
        "      - {id: a, agent: w, prompt: p}\n    until: 'true'\n",
        "max_iterations",
    ),
    "until reads an unknown inner step": (
        "name: x\nsteps:\n  - id: fix\n    max_iterations: 2\n    loop:\n"
        "      - {id: review, agent: w, prompt: p}\n"
        "    until: '{{ steps.reveiw.output }}'  # <-\n",
        "reads unknown step 'reveiw' (did you mean 'review'?)",
    ),
    "inner step reads an unknown inner step": (
        "name: x\nsteps:\n  - id: fix\n    max_iterations: 2\n    loop:\n"
        "      - id: a\n        agent: w\n        prompt: '{{ steps.bb.output }}'  # <-\n"
        "      - {id: b, agent: w, prompt: p}\n    until: 'true'\n",
        "reads unknown step 'bb'",
    ),
    "inner id shadows an outer step": (
        "name: x\nsteps:\n  - {id: a, agent: w, prompt: p}\n  - id: fix\n    max_iterations: 2\n"
        "    loop:\n      - id: a  # <-\n        agent: w\n        prompt: p\n    until: 'true'\n",
        "step 'a' inside loop 'fix' has the id of a step of the workflow",
    ),
    "outer step reads an inner step": (
        "name: x\nsteps:\n  - id: fix\n    max_iterations: 2\n    loop:\n"
        "      - {id: inner, agent: w, prompt: p}\n    until: 'true'\n"
        "  - id: after\n    agent: w\n    prompt: '{{ steps.inner.output }}'  # <-\n",
        "reads unknown step 'inner'",
    ),
    "unknown variable inside the loop": (
        "name: x\nsteps:\n  - id: fix\n    max_iterations: 2\n    loop:\n"
        "      - id: a\n        agent: w\n        prompt: '{{ lop.iteration }}'  # <-\n"
        "    until: 'true'\n",
        "unknown variable 'lop' in step 'a' prompt (did you mean 'loop'?)",
    ),
    "unknown key inside a loop": (
        "name: x\nsteps:\n  - id: fix\n    max_iterations: 2\n    loop:\n"
        "      - id: a\n        agent: w\n        promt: p  # <-\n    until: 'true'\n",
        "unknown key 'steps.0.loop.0.promt' (did you mean 'prompt'?)",
    ),
    "bad value inside a loop": (
        "name: x\nsteps:\n  - id: fix\n    max_iterations: 2\n    loop:\n"
        "      - id: a\n        agent: w\n        prompt: p\n        retries: 99  # <-\n"
        "    until: 'true'\n",
        "invalid value for 'steps.0.loop.0.retries'",
    ),
    "approval inside a loop": (
        "name: x\nsteps:\n  - id: fix\n    max_iterations: 2\n    loop:\n"
        "      - id: a\n        agent: w\n        prompt: p\n        approval: {}  # <-\n"
        "    until: 'true'\n",
        "step 'a' inside loop 'fix' cannot wait for an approval",
    ),
    "loop field of another kind": (
        "name: x\nsteps:\n  - {id: a, agent: w, prompt: p}\n"
        "  - id: b\n    agent: w\n    prompt: '{{ steps.a.iterations }}'  # <-\n",
        "reads steps.a.iterations, but 'a' is not a loop step",
    ),
    "empty loop": (
        "name: x\nsteps:\n  - id: fix\n    max_iterations: 2\n    loop: []  # <-\n    until: 'true'\n",
        "lists no steps",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_loop_load_errors_name_file_and_line(tmp_path: Path, case: str) -> None:
    text, message = BAD[case]
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    expected = next(n for n, line in enumerate(text.splitlines(), 1) if line.endswith("# <-"))
    with pytest.raises(ConfigError) as caught:
        load_workflow(path)
    assert message in caught.value.message, caught.value.one_line()
    assert caught.value.one_line().startswith(f"{path}:{expected}:"), caught.value.one_line()


async def test_commands_inside_loops_and_called_workflows_need_the_projects_trust(
    workspace: Workspace,
) -> None:
    write_agents(workspace, {"worker": "mock"})
    write_workflow(
        workspace,
        "name: inner\nsteps:\n  - {id: test, run: pytest -q}\n",
        name="inner",
    )
    path = write_workflow(
        workspace,
        "name: flow\nsteps:\n  - id: fix\n    max_iterations: 2\n    loop:\n"
        "      - {id: lint, run: ruff check}\n    until: 'true'\n"
        "  - {id: call, workflow: inner}\n",
    )
    engine = make_engine(workspace, {"mock": FakeProvider("mock")})
    plan = plan_workflow(
        load_reference("flow", engine.paths), engine.paths, engine.config, inputs=None
    )
    found = [(f.location.line, f.what) for f in trust_findings(plan, engine.paths)]
    assert found == [
        (6, "workflow step 'lint' runs a command (`run: ruff check`)"),
        (3, "workflow step 'test' runs a command (`run: pytest -q`)"),
    ]
    assert path.name == "flow.yaml"


async def test_a_failed_inner_step_ends_the_loop_and_continue_on_error_lets_the_run_go_on(
    workspace: Workspace,
) -> None:
    write_agents(workspace, {"worker": "mock"})
    write_workflow(
        workspace,
        """
name: flow
steps:
  - id: fix
    continue_on_error: true
    max_iterations: 3
    loop:
      - {id: a, agent: worker, prompt: "a {{ loop.iteration }}"}
    until: "false"
  - id: after
    agent: worker
    prompt: "after {{ steps.fix.success }} {{ steps.fix.iterations }}"
""",
    )
    fake = FakeProvider("mock", lambda p, _: Answer(error=boom()) if p == "a 2" else Answer(p))
    outcome = await run(start(make_engine(workspace, {"mock": fake})))
    assert outcome.status == "partial"
    assert outcome.failed == ["fix"]
    assert fake.prompts == ["a 1", "a 2", "after False 2"]
    fix = step_file(workspace, outcome.run_id, "fix")
    assert fix["status"] == "failed"
    assert str(fix["error"]).startswith("iteration 2: step 'fix.2.a' failed: ")


async def test_a_skipped_loop_runs_nothing(workspace: Workspace) -> None:
    write_agents(workspace, {"worker": "mock"})
    write_workflow(
        workspace,
        """
name: flow
steps:
  - id: fix
    when: false
    max_iterations: 3
    loop:
      - {id: a, agent: worker, prompt: a}
    until: "true"
  - id: after
    agent: worker
    prompt: "after {{ steps.fix.skipped }}"
""",
    )
    fake = FakeProvider("mock", lambda p, _: Answer(p))
    outcome = await run(start(make_engine(workspace, {"mock": fake})))
    assert outcome.status == "succeeded", outcome.error
    assert fake.prompts == ["after True"]
