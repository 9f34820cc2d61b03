"""Cost everywhere: USD (with the service tier served) and tokens on every unit, step and run of a
workflow, in units.jsonl, steps/*.json, state.json, the events, the run summary, `workflow runs`,
`show-run` and `rupu usage`, all agreeing with a hand-computed figure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from rupu.messages import ModelRequest, Usage
from rupu.testing import CliRunner, FunctionProvider, Turn, use_provider
from rupu.workflows.recordfile import read_events
from tests.conftest import Workspace

# $0.50 per million input tokens, $4 per million output tokens, cache reads at $0.05.
# One call: 1000 in, 200 cache read, 300 out = 1000·0.5 + 200·0.05 + 300·4 = 1710 µ$ = $0.00171.
CONFIG = """
[providers.fake]
base_url = "http://127.0.0.1:9/v1"

[pricing.fake."fake-1"]
input = 0.5
output = 4
cache_read = 0.05
"""
CALL = 0.00171
AGENT = "---\nname: writer\nprovider: fake\nmodel: fake-1\ntools: []\n---\nYou write.\n"
FLOW = """name: flow
steps:
  - id: one
    agent: writer
    prompt: "first"
  - id: fan
    agent: writer
    depends_on: [one]
    for_each: [a, b, c]
    prompt: "item {{ item }}"
"""


def answer(request: ModelRequest) -> Turn:
    usage = Usage(
        input_tokens=1000,
        cache_read_tokens=200,
        output_tokens=300,
        reported=True,
        service_tier="flex",
    )
    return Turn("ok", usage=usage)


@pytest.fixture
def project(workspace: Workspace) -> Path:
    workspace.write_config(CONFIG)
    workspace.write_agent("writer", AGENT, project=True)
    directory = workspace.project / ".rupu" / "workflows"
    directory.mkdir(parents=True)
    (directory / "flow.yaml").write_text(FLOW)
    return workspace.project


def json_of(path: Path) -> Any:
    return orjson.loads(path.read_bytes())


def test_every_record_of_a_run_carries_its_cost(project: Path, workspace: Workspace) -> None:
    with (
        CliRunner(home=workspace.home, cwd=project, env={"RUPU_TRUST": "1"}) as rupu,
        use_provider(FunctionProvider(answer, name="fake")),
    ):
        result = rupu.invoke(["workflow", "run", "flow", "--plain"])
        assert result.exit_code == 0, result.output
        (run,) = (workspace.home / "runs").glob("run_*")
        runs = json_of_text(rupu.invoke(["workflow", "runs", "--format", "json"]).stdout)
        shown = rupu.invoke(["workflow", "show-run", run.name, "--format", "json"]).stdout
        table = rupu.invoke(["workflow", "runs"]).stdout
        usage = rupu.invoke(["usage", "--group-by", "workflow", "--format", "json"]).stdout

    total = round(4 * CALL, 12)  # $0.00684
    assert "· 6000 tokens · $0.0068" in result.stderr  # 4 calls of 1500 tokens
    assert "✓ fan succeeded" in result.stderr and "4500 tokens · $0.0051" in result.stderr

    records = [orjson.loads(line) for line in (run / "units.jsonl").read_text().splitlines()]
    assert [(r["step"], r["tokens"], r["cost_usd"], r["service_tier"]) for r in records] == [
        ("one", 1500, CALL, "flex")
    ] + [("fan", 1500, CALL, "flex")] * 3
    assert json_of(run / "steps" / "fan.json")["cost_usd"] == round(3 * CALL, 12)
    assert [u["cost_usd"] for u in json_of(run / "steps" / "fan.json")["units"]] == [CALL] * 3
    state = json_of(run / "state.json")
    assert (state["tokens"], state["cost_usd"]) == (6000, total)

    events = list(read_events(run / "events.jsonl"))
    ends = [(e["type"], e.get("step"), e["cost_usd"]) for e in events if "cost_usd" in e]
    assert ends == [
        ("unit_finished", "one", CALL),
        ("step_finished", "one", CALL),
        *[("unit_finished", "fan", CALL)] * 3,
        ("step_finished", "fan", round(3 * CALL, 12)),
        ("run_finished", None, total),
    ]

    assert runs["runs"][0]["cost_usd"] == total and "$0.0068" in table
    described = orjson.loads(shown)
    assert described["state"]["cost_usd"] == total
    assert [u["cost_usd"] for u in described["steps"][1]["unit_records"]] == [CALL] * 3

    report = orjson.loads(usage)
    (row,) = report["rows"]
    assert (row["workflow"], row["runs"], row["calls"]) == ("flow", 1, 4)
    assert row["cost_usd"] == total


def json_of_text(text: str) -> Any:
    return orjson.loads(text)


def test_a_matrix_prices_each_unit_at_its_own_provider(project: Path, workspace: Workspace) -> None:
    # fake-1 as above ($0.00171 a call); dear-1 costs ten times as much per token:
    # 1000·5 + 200·0.5 + 300·40 = 17100 µ$ = $0.0171 a call.
    workspace.write_config(
        CONFIG
        + '\n[providers.dear]\nbase_url = "http://127.0.0.1:9/v1"\n\n'
        + '[pricing.dear."dear-1"]\ninput = 5\noutput = 40\ncache_read = 0.5\n'
    )
    (project / ".rupu" / "workflows" / "flow.yaml").write_text(
        "name: flow\nsteps:\n  - id: compare\n    agent: writer\n"
        "    matrix: {model: ['fake:fake-1', 'dear:dear-1'], style: [terse, long]}\n"
        "    prompt: '{{ matrix.style }}'\n"
    )
    with (
        CliRunner(home=workspace.home, cwd=project, env={"RUPU_TRUST": "1"}) as rupu,
        use_provider(FunctionProvider(answer, name="fake")),
        use_provider(FunctionProvider(answer, name="dear")),
    ):
        result = rupu.invoke(["workflow", "run", "flow", "--plain"])
    assert result.exit_code == 0, result.output
    (run,) = (workspace.home / "runs").glob("run_*")
    records = [orjson.loads(line) for line in (run / "units.jsonl").read_text().splitlines()]
    costs = sorted((r["provider"], r["cost_usd"]) for r in records)
    assert costs == [("dear", 0.0171), ("dear", 0.0171), ("fake", CALL), ("fake", CALL)]
    assert json_of(run / "state.json")["cost_usd"] == round(2 * CALL + 2 * 0.0171, 12)
