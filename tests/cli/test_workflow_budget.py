"""Acceptance 3: a workflow whose `budget: {max_usd}` is below its cost stops before the call that
would cross it, exits 5, and its record shows a spend within the budget plus one call. Also step
budgets, `--max-usd` / `--max-tokens`, fan-outs, unpriced models and resume.

Every figure is worked out by hand: the provider `fake` costs $0.001 per input token and $0.002 per
output token; each agent's system prompt is "You write." (10 characters) and each prompt is 30
characters, so a call's input is estimated at 40 / 4 = 10 tokens; `maxTokens: 100` is its output
allowance. Worst case: 10·0.001 + 100·0.002 = $0.21. The fake answers with exactly that usage (10
in, 100 out), so every call costs its worst case: $0.21.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from rupu.messages import ModelRequest, Usage
from rupu.testing import CliRunner, FunctionProvider, Turn, use_provider
from rupu.workflows.recordfile import read_events
from tests.conftest import Workspace

CONFIG = """
[providers.fake]
base_url = "http://127.0.0.1:9/v1"

[pricing.fake."fake-1"]
input = 1000
output = 2000
cache_read = 100
cache_write = 1000
"""
AGENT = """---
name: writer
provider: {provider}
model: {model}
maxTokens: 100
tools: []
---
You write.
"""
CALL_USD = 0.21


def prompt(label: str) -> str:
    text = f"part {label} ".ljust(30, ".")
    assert len(text) == 30
    return text


def chain(budget: str = "budget:\n  max_usd: 0.5\n") -> str:
    steps = "".join(
        f"  - id: {s}\n    agent: writer\n    prompt: '{prompt(s)}'\n"
        + (f"    depends_on: [{prev}]\n" if prev else "")
        for s, prev in zip("abcd", ["", "a", "b", "c"], strict=True)
    )
    return f"name: flow\n{budget}steps:\n{steps}"


def answer(request: ModelRequest) -> Turn:
    return Turn("ok", usage=Usage(input_tokens=10, output_tokens=100, reported=True))


@pytest.fixture
def project(workspace: Workspace) -> Path:
    workspace.write_config(CONFIG)
    workspace.write_agent("writer", AGENT.format(provider="fake", model="fake-1"), project=True)
    return workspace.project


def write_flow(workspace: Workspace, text: str) -> None:
    directory = workspace.project / ".rupu" / "workflows"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "flow.yaml").write_text(text)


def cli(workspace: Workspace) -> CliRunner:
    return CliRunner(home=workspace.home, cwd=workspace.project, env={"RUPU_TRUST": "1"})


def only_run(workspace: Workspace) -> Path:
    (run,) = [p for p in (workspace.home / "runs").glob("run_*")]
    return run


def units(run: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in (run / "units.jsonl").read_text().splitlines()]


def state(run: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = orjson.loads((run / "state.json").read_bytes())
    return loaded


def test_the_run_stops_before_the_call_that_would_cross_the_budget(
    project: Path, workspace: Workspace
) -> None:
    # Cost of the whole chain: 4 · $0.21 = $0.84, above the $0.50 budget.
    # a: $0.00 spent + $0.21 worst case = $0.21 <= $0.50: sent, $0.21 spent.
    # b: $0.21 + $0.21 = $0.42 <= $0.50: sent, $0.42 spent.
    # c: $0.42 + $0.21 = $0.63 > $0.50: not sent; the run stops, d never starts.
    write_flow(workspace, chain())
    fake = FunctionProvider(answer, name="fake")
    with cli(workspace) as rupu, use_provider(fake):
        result = rupu.invoke(["workflow", "run", "flow", "--plain"])
    assert result.exit_code == 5, result.output
    assert len(fake.requests) == 2
    message = (
        "budget reached: the workflow's budget of $0.5000 could be exceeded: $0.4200 spent, and "
        "the next call of step 'c' may cost up to $0.2100; it was not sent"
    )
    assert "rupu: error: run run_" in result.stderr and message in result.stderr
    run = only_run(workspace)
    recorded = state(run)
    assert recorded["status"] == "failed" and recorded["failed"] == ["c"]
    assert recorded["cost_usd"] == 0.42 <= 0.5 + CALL_USD
    assert recorded["tokens"] == 2 * 110
    assert recorded["budget_reached"] == {
        "budget": "the workflow's budget",
        "limit": "max_usd",
        "step": "c",
        "spent_usd": 0.42,
        "spent_tokens": 220,
        "message": message,
    }
    assert [(u["step"], u["status"], u["cost_usd"]) for u in units(run)] == [
        ("a", "succeeded", 0.21),
        ("b", "succeeded", 0.21),
        ("c", "failed", None),  # never sent: nothing spent
    ]
    events = list(read_events(run / "events.jsonl"))
    assert [e["step"] for e in events if e["type"] == "budget_exceeded"] == ["c"]
    assert not [e for e in events if e.get("step") == "d" and e["type"] == "step_started"]
    assert next(e for e in events if e["type"] == "run_finished")["cost_usd"] == 0.42

    with cli(workspace) as rupu:
        shown = rupu.invoke(["workflow", "show-run", run.name])
    assert f"budget: {message}" in shown.stdout and "$0.4200" in shown.stdout


def test_resume_with_a_higher_limit_counts_what_the_run_spent_before(
    project: Path, workspace: Workspace
) -> None:
    write_flow(workspace, chain())
    with cli(workspace) as rupu, use_provider(FunctionProvider(answer, name="fake")) as fake:
        assert rupu.invoke(["workflow", "run", "flow", "--plain"]).exit_code == 5
        run = only_run(workspace).name
        # $0.42 spent before; c and d need $0.42 more: $0.84 total. A limit of $0.80 lets c run
        # ($0.42 + $0.21 = $0.63) and stops d ($0.63 + $0.21 = $0.84 > $0.80).
        again = rupu.invoke(["workflow", "resume", run, "--plain", "--max-usd", "0.8"])
        assert again.exit_code == 5, again.output
        assert "the run's budget of $0.8000 could be exceeded: $0.6300 spent" in again.stderr
        assert len(fake.requests) == 3
        done = rupu.invoke(["workflow", "resume", run, "--plain", "--max-usd", "0.84"])
    assert done.exit_code == 0, done.output
    assert len(fake.requests) == 4
    assert state(only_run(workspace))["cost_usd"] == 0.84


def test_a_fan_out_cannot_overspend_with_calls_in_flight(
    project: Path, workspace: Workspace
) -> None:
    # Five concurrent units of $0.21 each against --max-usd 0.5 (over the workflow's $10): each
    # holds its worst case while in flight, so only two are sent ($0.42); the third would hold
    # $0.63. The flag replaces the workflow's max_usd.
    item_prompt = "item {{ item }} ".ljust(30 + len("{{ item }}") - 1, ".")
    write_flow(
        workspace,
        "name: flow\nbudget: {max_usd: 10}\nsteps:\n  - id: fan\n    agent: writer\n"
        f"    for_each: ['1', '2', '3', '4', '5']\n    prompt: '{item_prompt}'\n",
    )

    async def slow(request: ModelRequest) -> Turn:
        import anyio  # lazy: only this test's double waits

        await anyio.sleep(0.05)
        return answer(request)

    fake = FunctionProvider(slow, name="fake")
    with cli(workspace) as rupu, use_provider(fake):
        result = rupu.invoke(["workflow", "run", "flow", "--plain", "--max-usd", "0.5"])
    assert result.exit_code == 5, result.output
    assert len(fake.requests) == 2
    recorded = state(only_run(workspace))
    assert recorded["cost_usd"] == 0.42 and recorded["budget_reached"]["budget"] == (
        "the run's budget"
    )


def test_a_step_budget_stops_the_run_even_with_continue_on_error(
    project: Path, workspace: Workspace
) -> None:
    # Step b may use 200 tokens: its first call holds 10 + 100 = 110 and uses 110; a corrective
    # re-prompt is not involved, so a second unit of b (for_each) would need 220 > 200.
    write_flow(
        workspace,
        "name: flow\nsteps:\n"
        f"  - id: a\n    agent: writer\n    prompt: '{prompt('a')}'\n"
        "  - id: b\n    agent: writer\n    depends_on: [a]\n    continue_on_error: true\n"
        "    max_parallel: 1\n    budget: {max_tokens: 200}\n    for_each: ['1', '2']\n"
        f"    prompt: '{prompt('b')}'\n",
    )
    with cli(workspace) as rupu, use_provider(FunctionProvider(answer, name="fake")) as fake:
        result = rupu.invoke(["workflow", "run", "flow", "--plain", "--max-tokens", "10000"])
    assert result.exit_code == 5, result.output
    assert len(fake.requests) == 2
    assert (
        "step 'b' budget of 200 tokens could be exceeded: 110 spent, and the next call of step "
        "'b' may use up to 110; it was not sent"
    ) in result.stderr


def test_an_unpriced_model_counts_tokens_and_says_usd_cannot_be_enforced(
    project: Path, workspace: Workspace
) -> None:
    # groq is a hosted preset whose prices rupu does not know.
    workspace.write_agent("writer", AGENT.format(provider="groq", model="m-1"), project=True)
    write_flow(workspace, chain("budget: {max_usd: 0.01, max_tokens: 300}\n"))
    with cli(workspace) as rupu, use_provider(FunctionProvider(answer, name="groq")) as fake:
        result = rupu.invoke(["workflow", "run", "flow", "--plain"])
    # 110 tokens a call: a (110), b (220); c would hold 330 > 300.
    assert result.exit_code == 5, result.output
    assert len(fake.requests) == 2
    run = only_run(workspace)
    notes = [e["message"] for e in read_events(run / "events.jsonl") if e["type"] == "run_note"]
    assert notes == [
        "the workflow's budget in USD cannot be enforced for groq:m-1: its price is unknown, so "
        "only its tokens are counted (add a [pricing] entry to config.toml)"
    ]
    assert "cannot be enforced for groq:m-1" in result.stderr
    recorded = state(run)
    assert recorded["cost_usd"] is None and recorded["budget_reached"]["limit"] == "max_tokens"


def test_workflow_show_lists_budgets_and_cache_settings(
    project: Path, workspace: Workspace
) -> None:
    write_flow(
        workspace,
        "name: flow\nbudget: {max_usd: 2.5, max_tokens: 100000}\nsteps:\n"
        f"  - id: a\n    agent: writer\n    prompt: '{prompt('a')}'\n    budget: {{max_usd: 1}}\n"
        f"  - id: b\n    agent: writer\n    prompt: '{prompt('b')}'\n    cache: true\n",
    )
    with cli(workspace) as rupu:
        text = rupu.invoke(["workflow", "show", "flow"]).stdout
        described = orjson.loads(
            rupu.invoke(["workflow", "show", "flow", "--format", "json"]).stdout
        )
    assert "budget: $2.50 · 100,000 tokens for the whole run" in text
    assert "[budget $1.00]" in text and "[cache]" in text
    assert described["budget"] == {"max_usd": 2.5, "max_tokens": 100000}
    steps = {s["id"]: s for s in described["steps"]}
    assert steps["a"]["budget"] == {"max_usd": 1.0, "max_tokens": None}
    assert (steps["a"]["cache"], steps["b"]["cache"]) == (None, True)
