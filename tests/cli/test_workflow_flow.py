"""Loop and sub-workflow steps against a real `rupu` process: the shipped examples dry-run on
`--provider mock`, and a run SIGKILLed inside a loop iteration or inside a called workflow resumes
re-running only the unit that was running and what comes after it (issue 13, acceptance 2 and 4)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from rupu.cli.workflow_view import LiveView
from rupu.testing import CliRunner
from rupu.workflows.events import StepFinished, StepStarted, UnitStarted
from tests.conftest import REPO_ROOT, Workspace, run_rupu
from tests.servers.base import RecordedRequest, Reply
from tests.servers.openai_chat import ChatCompletionsServer, stream_reply, text_stream, usage

EXAMPLES = REPO_ROOT / "workflows"
KEY = {"RUPU_ALPHA_API_KEY": "k"}


@pytest.mark.parametrize("name", ["review-fix-loop", "nested"])
def test_example_dry_runs_offline(name: str) -> None:
    result = run_rupu(
        "workflow", "run", str(EXAMPLES / f"{name}.yaml"), "--provider", "mock", "--format", "json"
    )
    assert result.code == 0, result.stderr
    events = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert events[-1]["type"] == "run_finished" and events[-1]["status"] == "succeeded"
    steps = [e["step"] for e in events if e["type"] == "unit_started"]
    prefix = "polish.improve" if name == "nested" else "improve"
    # On the mock the reviewer's answer is its own prompt, whose example lists one low finding.
    assert steps[:2] == [f"{prefix}.1.write", f"{prefix}.1.review"]
    iterations = [e for e in events if e["type"] == "loop_iteration_finished"]
    assert [(e["step"], e["iteration"], e["until"]) for e in iterations] == [(prefix, 1, True)]
    assert "Traceback" not in result.stderr


def test_nested_example_prints_the_summary_of_the_called_workflow() -> None:
    result = run_rupu(
        "workflow", "run", str(EXAMPLES / "nested.yaml"), "--provider", "mock", "--plain"
    )
    assert result.code == 0, result.stderr
    assert result.stdout.startswith("In two sentences, say what this is and how it was checked (1")
    assert "Write a Python function that checks whether a string is a palindrome." in result.stdout


LOOP = """
name: flow
steps:
  - id: start
    agent: worker
    prompt: quick start
  - id: fix
    max_iterations: 3
    loop:
      - id: edit
        agent: worker
        prompt: "quick edit {{ steps.start.output }} after '{{ loop.previous.check.output }}': {{ loop.iteration }}"
      - id: check
        agent: worker
        prompt: "check {{ loop.iteration }} {{ steps.edit.output }}"
    until: "{{ steps.check.output == 'clean' }}"
  - id: done
    agent: worker
    prompt: "quick done after {{ steps.fix.iterations }}"
"""

NESTED = """
name: flow
steps:
  - id: first
    agent: worker
    prompt: quick first
  - id: nested
    workflow: inner
    inputs: {seed: "{{ steps.first.output }}"}
  - id: last
    agent: worker
    prompt: "quick last {{ steps.nested.outputs.result }}"
"""

INNER = """
name: inner
inputs: {seed: {required: true}}
outputs: {result: "{{ steps.b.output }}"}
steps:
  - id: a
    agent: worker
    prompt: "quick a {{ inputs.seed }}"
  - id: b
    agent: worker
    prompt: "check 2 {{ steps.a.output }}"
"""


class Server(ChatCompletionsServer):
    """Answers `quick ...` with its last word upper-cased, `check 1 ...` with `dirty` and `check 2 ...`
    with `clean`, the last after 30 s while `slow` is set."""

    slow = True

    def answer(self, request: RecordedRequest) -> Reply:
        prompt = str(request.body["messages"][-1]["content"])
        if prompt.startswith("check"):
            text = "dirty" if prompt.startswith("check 1") else "clean"
            delay = 30.0 if self.slow and text == "clean" else 0.0
        else:
            text, delay = prompt.rsplit(maxsplit=1)[-1].upper(), 0.0
        return stream_reply(text_stream([text], with_usage=usage()), delay=delay)


@pytest.fixture
def server(workspace: Workspace) -> Iterator[Server]:
    with Server(api_key="k") as found:
        found.default_reply = found.answer
        workspace.write_config(f'[providers.alpha]\nbase_url = "{found.base_url}"\n')
        workspace.write_agent(
            "worker", "---\nname: worker\nprovider: alpha\nmodel: m\n---\nWork.\n", project=True
        )
        (workspace.project / ".rupu" / "workflows").mkdir(parents=True, exist_ok=True)
        yield found


def write(workspace: Workspace, name: str, text: str) -> None:
    (workspace.project / ".rupu" / "workflows" / f"{name}.yaml").write_text(text)


def run_until_started(workspace: Workspace, step: str) -> tuple[subprocess.Popen[str], str]:
    """Starts `rupu workflow run flow --format json` and returns once the unit of `step` is running
    and on record as started."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "rupu", "workflow", "run", "flow", "--format", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env={**os.environ, **KEY, "PYTHONPATH": str(REPO_ROOT)},
        cwd=workspace.project,
    )
    assert proc.stdout is not None
    run_id = ""
    while True:
        line = proc.stdout.readline()
        assert line, proc.stderr.read() if proc.stderr else "rupu exited early"
        event = orjson.loads(line)
        run_id = event["run_id"]
        if event["type"] == "unit_started" and event["step"] == step:
            break
    events = workspace.home / "runs" / run_id / "events.jsonl"
    deadline = time.monotonic() + 10
    while not any(e["type"] == "unit_started" and e["step"] == step for e in lines(events)):
        assert time.monotonic() < deadline, "the unit_started event never reached the disk"
        time.sleep(0.01)
    return proc, run_id


def lines(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def kill_and_resume(
    workspace: Workspace, server: Server, step: str
) -> tuple[str, list[dict[str, Any]], list[str]]:
    """SIGKILLs the run once `step` is running, resumes it with a fast server, and returns the run id,
    the resumed run's events and the prompts it sent."""
    proc, run_id = run_until_started(workspace, step)
    proc.kill()
    proc.communicate(timeout=10)
    listed = orjson.loads(run_rupu("workflow", "runs", "--format", "json").stdout)["runs"][0]
    assert (listed["run_id"], listed["status"]) == (run_id, "interrupted")
    server.slow = False
    before = len(server.requests)
    resumed = run_rupu("workflow", "resume", run_id, "--format", "json", env=KEY)
    assert resumed.code == 0, resumed.stderr
    events = [orjson.loads(line) for line in resumed.stdout.splitlines()]
    assert events[-1]["status"] == "succeeded"
    prompts = [str(r.body["messages"][-1]["content"]) for r in server.requests[before:]]
    return run_id, events, prompts


def test_sigkill_inside_a_loop_iteration_resumes_at_that_iteration(
    workspace: Workspace, server: Server
) -> None:
    write(workspace, "flow", LOOP)
    run_id, events, prompts = kill_and_resume(workspace, server, "fix.2.check")
    reused = [e["step"] for e in events if e["type"] == "unit_reused"]
    assert reused == ["start", "fix.1.edit", "fix.1.check", "fix.2.edit"]
    assert prompts == ["check 2 2", "quick done after 2"]
    directory = workspace.home / "runs" / run_id
    checks = [(u["step"], u["status"]) for u in lines(directory / "units.jsonl")]
    assert checks.count(("fix.2.check", "succeeded")) == 1
    lost = [
        e["step"]
        for e in lines(directory / "events.jsonl")
        if e["type"] == "unit_finished" and e.get("status") == "interrupted"
    ]
    assert lost == ["fix.2.check"]
    fix = orjson.loads((directory / "steps" / "fix.json").read_bytes())
    assert (fix["status"], fix["iterations"], fix["converged"]) == ("succeeded", 2, True)
    assert events[-1]["outputs"] == {"done": "2"}


def test_sigkill_inside_a_called_workflow_resumes_inside_it(
    workspace: Workspace, server: Server
) -> None:
    write(workspace, "flow", NESTED)
    write(workspace, "inner", INNER)
    run_id, events, prompts = kill_and_resume(workspace, server, "nested.b")
    reused = [e["step"] for e in events if e["type"] == "unit_reused"]
    assert reused == ["first", "nested.a"]
    assert prompts == ["check 2 FIRST", "quick last clean"]
    shown = orjson.loads(run_rupu("workflow", "show-run", run_id, "--format", "json").stdout)
    assert shown["state"]["status"] == "succeeded"
    assert shown["units_done"] == shown["units_total"] == 4
    assert [s["step"] for s in shown["steps"]] == [
        "first",
        "nested",
        "nested.a",
        "nested.b",
        "last",
    ]
    text = run_rupu("workflow", "show-run", run_id).stdout
    assert "✓ nested.b  succeeded" in text


def test_the_live_view_lists_nested_steps_under_the_step_they_are_in() -> None:
    view = LiveView(["draft", "fix", "report"], err=io.StringIO())
    for event in (
        StepStarted(step="draft", kind="agent", units=1),
        StepStarted(step="fix", kind="loop"),
        StepStarted(step="fix.1.write", kind="agent", units=1),
        UnitStarted(step="fix.1.write", provider="mock", model="echo"),
        StepStarted(step="fix.1.review", kind="agent", units=1),
        StepFinished(step="fix.1.write", status="succeeded", tokens=5),
        StepStarted(step="fix.2.write", kind="agent", units=1),
    ):
        view.event(event)
    assert list(view.rows) == [
        "draft",
        "fix",
        "fix.1.write",
        "fix.1.review",
        "fix.2.write",
        "report",
    ]
    assert (view.rows["fix.1.write"].status, view.rows["fix.1.write"].tokens) == ("succeeded", 5)


def test_show_lists_the_steps_of_loops_and_called_workflows() -> None:
    result = run_rupu("workflow", "show", str(EXAMPLES / "nested.yaml"), "--provider", "mock")
    assert result.code == 0, result.stderr
    assert "1. polish   workflow review-fix-loop (review-fix-loop.yaml)\n" in result.stdout
    assert "  └ improve  loop: write → review, at most 4× until …\n" in result.stdout
    assert "    ├ write   writer on mock · echo\n" in result.stdout
    assert "    └ review  reviewer on mock · echo  [output json]\n" in result.stdout


def test_a_command_inside_a_loop_runs_each_iteration_and_until_reads_its_output(
    workspace: Workspace,
) -> None:
    path = workspace.project / "flows" / "flow.yaml"
    path.parent.mkdir()
    path.write_text(
        """name: flow
steps:
  - id: count
    max_iterations: 5
    loop:
      - id: tick
        run: "echo {{ loop.iteration * 10 }}"
    until: "{{ steps.tick.stdout | trim | int >= 30 }}"
  - id: after
    run: "echo done after {{ steps.count.iterations }}: {{ steps.count.last.tick.stdout | trim }}"
"""
    )
    with CliRunner(home=workspace.home, cwd=workspace.project) as cli:
        result = cli.invoke(["workflow", "run", str(path), "--plain", "--mode", "bypass"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "done after 3: 30"
    assert "count.3.tick running $ echo 30" in result.stderr
