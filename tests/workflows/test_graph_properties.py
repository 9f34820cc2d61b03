"""Property tests: random DAGs run every step exactly once, after all of its dependencies; graphs with
a cycle are always rejected, naming a real cycle."""

from __future__ import annotations

import itertools
from pathlib import Path

import anyio
import networkx as nx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rupu.errors import ConfigError
from rupu.workflows.graph import CycleError, build_graph
from rupu.workflows.loader import load_workflow
from tests.conftest import Workspace
from tests.workflows.helpers import (
    Answer,
    FakeProvider,
    boom,
    events_of,
    make_engine,
    start,
    write_agents,
    write_workflow,
)

Edge = tuple[int, int]


@st.composite
def dags(draw: st.DrawFn) -> tuple[int, set[Edge], list[int], set[Edge], list[float]]:
    """(n, edges i->j with i < j in run order, declaration order, edges written as template
    references, per-step delays)."""
    n = draw(st.integers(1, 9))
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    edges = set(draw(st.lists(st.sampled_from(pairs), max_size=15))) if pairs else set()
    order = draw(st.permutations(list(range(n))))
    via_template = (
        set(draw(st.lists(st.sampled_from(sorted(edges)), max_size=8))) if edges else set()
    )
    delays = draw(st.lists(st.sampled_from([0.0, 0.0, 0.002, 0.01]), min_size=n, max_size=n))
    return n, edges, list(order), via_template, delays


def dag_yaml(n: int, edges: set[Edge], order: list[int], via_template: set[Edge]) -> str:
    position = {step: index for index, step in enumerate(order)}
    lines = ["name: flow", "steps:"]
    for step in order:
        needs = sorted(i for i, j in edges if j == step)
        refs = [i for i in needs if (i, step) in via_template]
        depends = [
            i for i in needs if (i, step) not in via_template or position[i] > position[step]
        ]
        prompt = f"run s{step}" + "".join(f" {{{{ steps.s{i}.success }}}}" for i in refs)
        lines += [f"  - id: s{step}", "    agent: worker", f'    prompt: "{prompt}"']
        if depends:
            lines.append(f"    depends_on: [{', '.join(f's{i}' for i in depends)}]")
    return "\n".join(lines) + "\n"


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(dags())
def test_random_dags_run_each_step_once_after_its_dependencies(
    workspace: Workspace, dag: tuple[int, set[Edge], list[int], set[Edge], list[float]]
) -> None:
    n, edges, order, via_template, delays = dag
    write_agents(workspace, {"worker": "mock"})
    write_workflow(workspace, dag_yaml(n, edges, order, via_template))
    fake = FakeProvider(
        "mock", lambda prompt, _: Answer("ok", delay=delays[int(prompt.split()[1][1:])])
    )
    engine = make_engine(workspace, {"mock": fake})
    outcome = anyio.run(start(engine).run)
    assert outcome.status == "succeeded"
    events = events_of(engine, outcome.run_id)
    started = {e["step"]: e["seq"] for e in events if e["type"] == "unit_started"}
    finished = {e["step"]: e["seq"] for e in events if e["type"] == "step_finished"}
    assert sorted(p.split()[1] for p in fake.prompts) == sorted(f"s{i}" for i in range(n))
    assert len(started) == n
    for i, j in edges:
        assert finished[f"s{i}"] < started[f"s{j}"], f"s{j} started before s{i} finished"


@st.composite
def cyclic_graphs(draw: st.DrawFn) -> tuple[int, set[Edge]]:
    n = draw(st.integers(1, 8))
    members = draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=n, unique=True))
    cycle = {(members[k], members[(k + 1) % len(members)]) for k in range(len(members))}
    extra = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=10))
    return n, cycle | set(extra)


@settings(max_examples=150, deadline=None)
@given(cyclic_graphs())
def test_cyclic_graphs_are_always_rejected_with_a_real_cycle(
    tmp_path_factory: pytest.TempPathFactory, graph: tuple[int, set[Edge]]
) -> None:
    n, edges = graph
    lines = ["name: cyclic", "steps:"]
    for step in range(n):
        needs = sorted({i for i, j in edges if j == step})
        lines += [f"  - id: s{step}", "    agent: worker", "    prompt: go"]
        if needs:
            lines.append(f"    depends_on: [{', '.join(f's{i}' for i in needs)}]")
    path: Path = tmp_path_factory.mktemp("cyclic") / "cyclic.yaml"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError) as caught:
        load_workflow(path)
    message = caught.value.message
    assert "dependency cycle: " in message
    names = message.split("dependency cycle: ")[1].split(" -> ")
    assert names[0] == names[-1]
    for a, b in itertools.pairwise(names):
        assert (int(a[1:]), int(b[1:])) in edges


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 8).flatmap(
        lambda n: st.tuples(
            st.just(n),
            st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=16),
        )
    )
)
def test_build_graph_accepts_exactly_the_acyclic_graphs(graph: tuple[int, list[Edge]]) -> None:
    n, edges = graph
    names = [f"s{i}" for i in range(n)]
    named = [(names[a], names[b]) for a, b in edges]
    reference: nx.DiGraph[str] = nx.DiGraph(named)
    reference.add_nodes_from(names)
    try:
        built = build_graph(names, named)
    except CycleError as error:
        assert not nx.is_directed_acyclic_graph(reference)
        cycle = error.cycle
        assert all(
            reference.has_edge(a, b) for a, b in zip(cycle, cycle[1:] + cycle[:1], strict=True)
        )
        return
    assert nx.is_directed_acyclic_graph(reference)
    run_order = built.topological()
    assert sorted(run_order) == sorted(names)
    index = {step: i for i, step in enumerate(run_order)}
    assert all(index[a] < index[b] for a, b in named)
    stage_of = {step: k for k, stage in enumerate(built.stages()) for step in stage}
    assert all(stage_of[a] < stage_of[b] for a, b in named)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(dags(), st.data())
def test_after_a_failure_nothing_new_starts(
    workspace: Workspace,
    dag: tuple[int, set[Edge], list[int], set[Edge], list[float]],
    data: st.DataObject,
) -> None:
    n, edges, order, via_template, delays = dag
    failing = data.draw(st.integers(0, n - 1))
    write_agents(workspace, {"worker": "mock"})
    write_workflow(workspace, dag_yaml(n, edges, order, via_template))

    def respond(prompt: str, _: object) -> Answer:
        step = int(prompt.split()[1][1:])
        return Answer("ok", delay=delays[step], error=boom() if step == failing else None)

    engine = make_engine(workspace, {"mock": FakeProvider("mock", respond)})
    outcome = anyio.run(start(engine).run)
    assert outcome.status == "failed"
    events = events_of(engine, outcome.run_id)
    failed_at = next(
        e["seq"] for e in events if e["type"] == "unit_finished" and e["status"] == "failed"
    )
    assert not [e for e in events if e["type"] == "unit_started" and e["seq"] > failed_at]
    graph: nx.DiGraph[int] = nx.DiGraph(list(edges))
    graph.add_nodes_from(range(n))
    downstream = nx.descendants(graph, failing)
    started = {int(e["step"][1:]) for e in events if e["type"] == "unit_started"}
    assert not started & set(downstream)
