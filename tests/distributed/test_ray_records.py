"""On a real two-node Ray cluster: a for_each runs on both nodes, and the run's results and
records are those of the same run on the local executor (plus where each unit ran)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from rupu.api import run_workflow
from tests.conftest import Workspace, run_rupu
from tests.distributed.cluster import RayCluster

pytestmark = [pytest.mark.anyio, pytest.mark.slow, pytest.mark.timeout(240)]

ECHO = "---\nname: echo\nprovider: mock\n---\nYou echo.\n"
FANOUT = """\
name: greet
inputs:
  names: {type: list}
steps:
  - id: hello
    agent: echo
    for_each: "{{ inputs.names }}"
    prompt: "hello {{ item }}"
  - id: join
    agent: echo
    prompt: "{{ steps.hello.results | join(', ') }}"
"""
NAMES = [f"n{i}" for i in range(12)]


def write_workflow(workspace: Workspace) -> None:
    workspace.write_agent("echo", ECHO)
    (workspace.home / "workflows").mkdir(exist_ok=True)
    (workspace.home / "workflows" / "greet.yaml").write_text(FANOUT)


def events(run: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in (run / "events.jsonl").read_bytes().splitlines()]


def shape(run: Path) -> dict[str, Any]:
    """What a run's record holds, without times, ids and where units ran."""
    units = sorted(
        (orjson.loads(line) for line in (run / "units.jsonl").read_bytes().splitlines()),
        key=lambda u: (u["step"], u["unit"]),
    )
    for unit in units:
        unit.pop("duration_ms")
    transcripts = sorted(p.name for p in run.rglob("*.jsonl") if p.parent != run)
    kinds = [
        [line["type"] for line in map(orjson.loads, p.read_bytes().splitlines())]
        for p in sorted(run.rglob("*.jsonl"))
        if p.parent != run
    ]
    logged = sorted(e["type"] for e in events(run) if e["type"] != "unit_placed")
    return {"units": units, "transcripts": transcripts, "kinds": kinds, "events": logged}


async def test_a_for_each_runs_on_both_nodes_and_records_like_a_local_run(
    cluster: RayCluster, workspace: Workspace
) -> None:
    write_workflow(workspace)
    local = await run_workflow("greet", {"names": NAMES}, executor="local")
    remote = await run_workflow("greet", {"names": NAMES}, executor="ray")
    assert remote.status == local.status == "succeeded", remote.error
    assert remote.outputs == local.outputs == {"join": ", ".join(f"hello {n}" for n in NAMES)}
    assert remote.tokens == local.tokens
    runs = workspace.home / "runs"
    assert shape(runs / remote.run_id) == shape(runs / local.run_id)
    placed = [e for e in events(runs / remote.run_id) if e["type"] == "unit_placed"]
    assert len(placed) == len(NAMES) + 1
    assert len({e["node"] for e in placed if e["step"] == "hello"}) == 2  # both nodes
    shown = run_rupu("workflow", "show-run", remote.run_id, "--format", "json")
    assert shown.code == 0, shown.stderr


async def test_executor_check_lists_both_nodes(cluster: RayCluster, workspace: Workspace) -> None:
    result = run_rupu("executor", "check", "--executor", "ray", "--format", "json", timeout=120)
    assert result.code == 0, result.stderr
    found = orjson.loads(result.stdout)
    assert [n["workspace"] for n in found["nodes"]] == [True, True]
    assert all(n["capacity"] > 0 and n["cpus"] == 1 for n in found["nodes"])


async def test_a_node_that_cannot_see_the_workspace_stops_the_run_before_any_request(
    cluster: RayCluster, workspace: Workspace
) -> None:
    """Units with tools need the workspace on every node; a node without it is named in one line,
    before any provider is built or any run recorded."""
    from rupu.api import Session, load_workflow
    from rupu.api.executor import on_cluster, open_cluster
    from rupu.errors import ConfigError
    from rupu.workflows.agent_calls import Overrides

    workspace.write_agent(
        "reader", "---\nname: reader\nprovider: mock\ntools: [read_file]\n---\nRead.\n"
    )
    (workspace.home / "workflows").mkdir(exist_ok=True)
    (workspace.home / "workflows" / "read.yaml").write_text(
        "name: read\nsteps:\n  - id: look\n    agent: reader\n    prompt: look\n"
    )
    session = Session.from_environment()
    fleet = open_cluster(session)
    try:
        # On one machine every node sees the driver's directories, so the workspace here exists
        # nowhere: each worker runs the same check a node without the shared storage fails.
        missing = workspace.project / "only-on-the-driver"
        engine = on_cluster(session.engine(), fleet, missing)
        with pytest.raises(ConfigError) as caught:
            engine.start(load_workflow("read", session=session), {}, Overrides())
    finally:
        fleet.close()
    message = caught.value.one_line()
    assert message.startswith("node 127.0.0.1/")
    assert f"cannot see the workspace {missing}" in message
    assert not (workspace.home / "runs").exists() or not any((workspace.home / "runs").iterdir())


async def test_an_agent_with_sub_agents_runs_on_the_driver(
    cluster: RayCluster, workspace: Workspace
) -> None:
    """Its sub-agents' credentials and tools are prepared on the driver, so its unit stays there;
    the other units of the run go to the cluster."""
    workspace.write_agent("helper", "---\nname: helper\nprovider: mock\n---\nHelp.\n")
    workspace.write_agent("lead", "---\nname: lead\nprovider: mock\nagents: [helper]\n---\nLead.\n")
    write_workflow(workspace)
    (workspace.home / "workflows" / "led.yaml").write_text(
        "name: led\nsteps:\n  - id: plan\n    agent: lead\n    prompt: plan\n"
        "  - id: echo\n    agent: echo\n    prompt: hi\n"
    )
    outcome = await run_workflow("led", executor="ray")
    assert outcome.status == "succeeded", outcome.error
    placed = [
        e for e in events(workspace.home / "runs" / outcome.run_id) if e["type"] == "unit_placed"
    ]
    assert [e["step"] for e in placed] == ["echo"]
