"""`rupu run --max-usd / --max-tokens` (and `run_agent(max_usd=...)`): the call that could cross the
limit is not sent; the run stops with exit 5 naming the budget and the spend. Prices and estimates
are worked out by hand in the comments."""

from __future__ import annotations

from pathlib import Path

import pytest

from rupu.api import Session, run_agent
from rupu.errors import BudgetReached
from rupu.messages import Usage
from rupu.testing import CliRunner, ScriptedProvider, ToolCall, Turn, use_provider
from rupu.transcripts import read_events
from tests.conftest import Workspace

# A declared provider is priced by [pricing]; use_provider serves it in-process.
# $0.001 per input token, $0.002 per output token (cache writes cost as input).
CONFIG = """
[providers.fake]
base_url = "http://127.0.0.1:9/v1"

[pricing.fake."fake-1"]
input = 1000
output = 2000
cache_read = 100
cache_write = 1000
"""

# System prompt "You read." (9 characters); `tools: [read_file]` sends its definition too, so the
# multi-turn test below measures the estimate through the guard rather than by hand.
AGENT = """---
name: {name}
provider: fake
model: fake-1
maxTokens: 100
tools: {tools}
---
You read.
"""


@pytest.fixture
def project(workspace: Workspace) -> Path:
    workspace.write_config(CONFIG)
    workspace.write_agent("plain", AGENT.format(name="plain", tools="[]"), project=True)
    workspace.write_agent("reader", AGENT.format(name="reader", tools="[read_file]"), project=True)
    (workspace.project / "notes.txt").write_text("the answer is 42\n")
    return workspace.project


def cli(workspace: Workspace) -> CliRunner:
    return CliRunner(home=workspace.home, cwd=workspace.project, env={"RUPU_TRUST": "1"})


def test_a_first_call_over_the_budget_is_never_sent(project: Path, workspace: Workspace) -> None:
    # Input: "You read." (9) + "hello world" (11) = 20 characters -> 5 tokens; output allowance
    # maxTokens 100. Worst case 5·0.001 + 100·0.002 = $0.205 > $0.20.
    fake = ScriptedProvider(["never"], name="fake")
    with cli(workspace) as rupu, use_provider(fake):
        result = rupu.invoke(["run", "--agent", "plain", "--max-usd", "0.2", "hello world"])
    assert result.exit_code == 5, result.output
    assert fake.requests == []
    assert (
        "rupu: error: budget reached: the run's budget of $0.2000 could be exceeded: $0.00 spent, "
        "and the next call may cost up to $0.2050; it was not sent"
    ) in result.stderr
    # A cent more and it runs.
    with cli(workspace) as rupu, use_provider(ScriptedProvider(["hi"], name="fake")):
        assert rupu.invoke(["run", "--agent", "plain", "--max-usd", "0.21", "hello"]).exit_code == 0


def test_the_run_stops_between_turns_when_the_next_one_could_cross(
    project: Path, workspace: Workspace
) -> None:
    # Turn 1's worst case is its input (prompt, system prompt and the read_file definition: about
    # 123 tokens, $0.123) plus 100 output tokens ($0.20): about $0.32, within $0.40. It reads a
    # file and costs 50·0.001 + 20·0.002 = $0.09. Turn 2 sends all of turn 1's input and more, so
    # its worst case is above $0.32 too: $0.09 + $0.32 > $0.40, and it is never sent.
    fake = ScriptedProvider(
        [
            Turn(
                tool_calls=[ToolCall("read_file", {"path": "notes.txt"})],
                usage=Usage(input_tokens=50, output_tokens=20, reported=True),
            ),
            "unreachable",
        ],
        name="fake",
    )
    with cli(workspace) as rupu, use_provider(fake):
        result = rupu.invoke(["run", "--agent", "reader", "--max-usd", "0.4", "what is it?"])
    assert result.exit_code == 5, result.output
    assert len(fake.requests) == 1
    assert "$0.0900 spent, and the next call may cost up to $0.3" in result.stderr
    transcript = next((workspace.home / "transcripts").glob("*.jsonl"))
    events = list(read_events(transcript))
    done = next(e for e in events if e["type"] == "run_complete")["data"]
    assert done["cost_usd"] == 0.09 and done["status"] == "error"
    assert [e["data"]["limit"] for e in events if e["type"] == "budget_reached"] == ["max_usd"]


def test_max_tokens_counts_the_estimate_and_the_output_allowance(
    project: Path, workspace: Workspace
) -> None:
    # 5 estimated input tokens + 100 allowed output tokens = 105 > 104.
    with cli(workspace) as rupu, use_provider(ScriptedProvider(["x"], name="fake")) as fake:
        result = rupu.invoke(["run", "--agent", "plain", "--max-tokens", "104", "hello world"])
        assert result.exit_code == 5 and fake.requests == []
        assert "the run's budget of 104 tokens could be exceeded: 0 spent" in result.stderr
        ok = rupu.invoke(["run", "--agent", "plain", "--max-tokens", "105", "hello world"])
    assert ok.exit_code == 0, ok.output


def test_a_limit_that_is_not_positive_is_a_usage_error(project: Path, workspace: Workspace) -> None:
    with cli(workspace) as rupu:
        result = rupu.invoke(["run", "--agent", "plain", "--max-usd", "0", "hi"])
    assert result.exit_code == 2 and "--max-usd" in result.stderr


@pytest.mark.anyio
async def test_the_python_api_takes_the_same_limits(project: Path, workspace: Workspace) -> None:
    session = Session.from_environment(cwd=project, trust=True)
    fake = ScriptedProvider(["never"], name="fake")
    with use_provider(fake), pytest.raises(BudgetReached) as caught:
        await run_agent("plain", "hello world", max_usd=0.2, session=session)
    assert fake.requests == [] and caught.value.exit_code == 5
    assert caught.value.budget == "the run's budget" and caught.value.spent_usd == 0.0


def test_an_unpriced_model_says_once_that_usd_cannot_be_enforced(
    project: Path, workspace: Workspace
) -> None:
    # groq is a hosted preset whose prices rupu does not know: --max-usd counts nothing, so the
    # run goes on, and says so once (on stderr and in the transcript).
    agent = AGENT.format(name="fast", tools="[]").replace("provider: fake", "provider: groq")
    workspace.write_agent("fast", agent, project=True)
    with cli(workspace) as rupu, use_provider(ScriptedProvider(["hi"], name="groq")):
        result = rupu.invoke(["run", "--agent", "fast", "--max-usd", "0.000001", "hello"])
    assert result.exit_code == 0, result.output
    warning = (
        "warning: the run's budget in USD cannot be enforced for groq:fake-1: its price is "
        "unknown, so only its tokens are counted (add a [pricing] entry to config.toml)"
    )
    assert result.stderr.count(warning) == 1
    transcript = next((workspace.home / "transcripts").glob("*.jsonl"))
    notes = [e["data"]["text"] for e in read_events(transcript) if e["type"] == "note"]
    assert notes == [warning.removeprefix("warning: ")]
