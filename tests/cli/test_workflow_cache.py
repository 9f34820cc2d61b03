"""The step cache: `cache: true` on a step (or `--cache` for the run) reuses the result of an equal
unit from any earlier run; `--no-cache` calls afresh; `rupu cache stats|clear`. Cached units are
recorded as `cached`, with no tokens and no cost."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from rupu.messages import ModelRequest, TextPart, Usage
from rupu.testing import CliRunner, FunctionProvider, Turn, use_provider
from rupu.workflows.recordfile import read_events
from tests.conftest import Workspace

# $0.001 per input token and $0.002 per output token: every call below costs
# 10·0.001 + 5·0.002 = $0.02.
CONFIG = """
[providers.fake]
base_url = "http://127.0.0.1:9/v1"

[pricing.fake."fake-1"]
input = 1000
output = 2000
"""
AGENT = """---
name: writer
provider: fake
model: fake-1
tools: []
---
{body}
"""
FLOW = """name: flow
steps:
  - id: draft
    agent: writer
    prompt: "draft a title"
  - id: polish
    agent: writer
    depends_on: [draft]
    cache: true
    prompt: "polish {{ steps.draft.output }}"
  - id: review
    agent: writer
    depends_on: [polish]
    cache: false
    prompt: "review {{ steps.polish.output }}"
"""


def answer(request: ModelRequest) -> Turn:
    last = request.messages[-1].parts[0]
    assert isinstance(last, TextPart)
    return Turn(f"[{last.text}]", usage=Usage(input_tokens=10, output_tokens=5, reported=True))


@pytest.fixture
def project(workspace: Workspace) -> Path:
    workspace.write_config(CONFIG)
    workspace.write_agent("writer", AGENT.format(body="You write."), project=True)
    directory = workspace.project / ".rupu" / "workflows"
    directory.mkdir(parents=True)
    (directory / "flow.yaml").write_text(FLOW)
    return workspace.project


def cli(workspace: Workspace) -> CliRunner:
    return CliRunner(home=workspace.home, cwd=workspace.project, env={"RUPU_TRUST": "1"})


def newest_run(workspace: Workspace) -> Path:
    return max((workspace.home / "runs").glob("run_*"), key=lambda p: p.name)


def units(run: Path) -> dict[str, dict[str, Any]]:
    lines = (run / "units.jsonl").read_text().splitlines()
    return {record["step"]: record for record in map(orjson.loads, lines)}


def asked(fake: FunctionProvider) -> list[str]:
    prompts = []
    for request in fake.requests:
        part = request.messages[-1].parts[0]
        assert isinstance(part, TextPart)
        prompts.append(part.text.split()[0])
    return prompts


def test_a_cache_true_step_reuses_an_equal_unit_of_an_earlier_run(
    project: Path, workspace: Workspace
) -> None:
    fake = FunctionProvider(answer, name="fake")
    with cli(workspace) as rupu, use_provider(fake):
        first = rupu.invoke(["workflow", "run", "flow", "--plain"])
        assert first.exit_code == 0, first.output
        first_run = newest_run(workspace)
        assert asked(fake) == ["draft", "polish", "review"]
        second = rupu.invoke(["workflow", "run", "flow", "--plain"])
    assert second.exit_code == 0, second.output
    # draft has no `cache:` (not read without --cache), polish is taken, review says cache: false.
    assert asked(fake)[3:] == ["draft", "review"]
    run = newest_run(workspace)
    polish = units(run)["polish"]
    assert polish["status"] == "succeeded" and polish["cached"] is True
    assert polish["cached_from"] == first_run.name
    assert (polish["tokens"], polish["cost_usd"], polish["transcript"]) == (0, 0.0, None)
    assert polish["output"] == "[polish [draft a title]]"
    assert f"polish cached: reused from run {first_run.name}, no cost" in second.stderr
    cached = [e for e in read_events(run / "events.jsonl") if e["type"] == "unit_cached"]
    assert [(e["step"], e["cost_usd"], e["tokens"]) for e in cached] == [("polish", 0.0, 0)]
    state = orjson.loads((run / "state.json").read_bytes())
    assert state["cost_usd"] == 0.04 and state["tokens"] == 30  # two calls of $0.02, 15 tokens
    # The step's output is the cached one, and the next step read it.
    assert units(run)["review"]["output"] == "[review [polish [draft a title]]]"
    with cli(workspace) as rupu:
        shown = rupu.invoke(["workflow", "show-run", run.name])
    assert "polish  succeeded  cached  0 tokens · $0.00" in shown.stdout


def test_cache_flags_turn_every_step_on_or_off(project: Path, workspace: Workspace) -> None:
    fake = FunctionProvider(answer, name="fake")
    with cli(workspace) as rupu, use_provider(fake):
        assert rupu.invoke(["workflow", "run", "flow", "--plain"]).exit_code == 0
        on = rupu.invoke(["workflow", "run", "flow", "--plain", "--cache"])
        assert on.exit_code == 0, on.output
        assert asked(fake)[3:] == ["review"]  # cache: false still wins over --cache
        off = rupu.invoke(["workflow", "run", "flow", "--plain", "--no-cache"])
        assert off.exit_code == 0, off.output
    assert asked(fake)[4:] == ["draft", "polish", "review"]
    assert not [u for u in units(newest_run(workspace)).values() if u.get("cached")]


def test_a_changed_agent_file_misses_the_cache(project: Path, workspace: Workspace) -> None:
    fake = FunctionProvider(answer, name="fake")
    with cli(workspace) as rupu, use_provider(fake):
        assert rupu.invoke(["workflow", "run", "flow", "--plain"]).exit_code == 0
        workspace.write_agent("writer", AGENT.format(body="You write tersely."), project=True)
        assert rupu.invoke(["workflow", "run", "flow", "--plain", "--cache"]).exit_code == 0
    assert asked(fake)[3:] == ["draft", "polish", "review"]


def test_cache_stats_and_clear(project: Path, workspace: Workspace) -> None:
    fake = FunctionProvider(answer, name="fake")
    with cli(workspace) as rupu, use_provider(fake):
        assert rupu.invoke(["workflow", "run", "flow", "--plain"]).exit_code == 0
        assert rupu.invoke(["workflow", "run", "flow", "--plain", "--cache"]).exit_code == 0
        stats = orjson.loads(rupu.invoke(["cache", "stats", "--format", "json"]).stdout)
        # Three results remembered; draft and polish were reused once, saving 2 · 15 tokens and
        # 2 · $0.02.
        assert (stats["entries"], stats["hits"], stats["tokens_saved"]) == (3, 2, 30)
        assert stats["usd_saved"] == 0.04 and stats["size_bytes"] > 0
        assert "reused:  2 times" in rupu.invoke(["cache", "stats"]).stdout
        cleared = rupu.invoke(["cache", "clear", "--step", "draft"])
        assert "removed 1 cached unit result" in cleared.stderr
        assert "removed 2 cached unit results" in rupu.invoke(["cache", "clear"]).stderr
        assert rupu.invoke(["workflow", "run", "flow", "--plain", "--cache"]).exit_code == 0
    assert asked(fake)[4:] == ["draft", "polish", "review"]


def test_an_unreadable_cache_is_a_warning_not_a_failure(
    project: Path, workspace: Workspace
) -> None:
    store = workspace.home / "cache" / "steps.sqlite"
    store.parent.mkdir(parents=True)
    store.write_bytes(b"not a database" * 100)
    fake = FunctionProvider(answer, name="fake")
    with cli(workspace) as rupu, use_provider(fake):
        result = rupu.invoke(["workflow", "run", "flow", "--plain", "--cache"])
    assert result.exit_code == 0, result.output
    assert asked(fake) == ["draft", "polish", "review"]
    assert f"rupu: warning: the step cache {store} could not be read" in result.stderr
