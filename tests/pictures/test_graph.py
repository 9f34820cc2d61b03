"""`rupu workflow graph`: Mermaid that passes a grammar check, DOT, and SVG drawn by rupu that parses
as XML and holds every step and every edge."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rupu.pictures.graph import Node, WorkflowGraph, to_dot, to_mermaid
from rupu.pictures.svg import layers, layout, to_svg
from tests.conftest import REPO_ROOT, Workspace, run_rupu

SVG = "{http://www.w3.org/2000/svg}"
MERMAID_LINE = re.compile(
    r"""^(flowchart\ TD
        |\ {4}n\d+\["[^"\n]*"\]
        |\ {4}n\d+\ -->\ n\d+
        |\ {4}classDef\ k_\w+\ fill:\#[0-9a-f]{6},stroke:\#[0-9a-f]{3},color:\#[0-9a-f]{3}
        |\ {4}class\ n\d+\ k_\w+)$""",
    re.VERBOSE,
)


def check_mermaid(text: str, graph: WorkflowGraph) -> None:
    lines = text.splitlines()
    assert lines[0] == "flowchart TD"
    for line in lines:
        assert MERMAID_LINE.match(line), line
    declared = {m.group(1) for line in lines if (m := re.match(r"^ {4}(n\d+)\[", line))}
    used = {n for line in lines for n in re.findall(r"\bn\d+\b", line)}
    assert used == declared and len(declared) == len(graph.nodes)
    assert sum(" --> " in line for line in lines) == len(graph.edges)


def svg_steps(text: str) -> dict[str, ET.Element]:
    root = ET.fromstring(text)
    assert root.tag == f"{SVG}svg"
    return {g.attrib["data-step"]: g for g in root.iter(f"{SVG}g") if "data-step" in g.attrib}


def test_graph_of_a_shipped_workflow_in_every_format(workspace: Workspace) -> None:
    path = str(REPO_ROOT / "workflows" / "mixed-review.yaml")
    mermaid = run_rupu("workflow", "graph", path)
    assert mermaid.code == 0, mermaid.stderr
    assert 'n1["review (parallel)<br/>agent reviewer<br/>gemini:gemini-2.5-pro' in mermaid.stdout
    svg = run_rupu("workflow", "graph", path, "--format", "svg", "-o", "g.svg")
    assert svg.code == 0, svg.stderr
    steps = svg_steps((workspace.project / "g.svg").read_text())
    assert set(steps) == {"plan", "review", "report"}
    texts = ["".join(t.itertext()) for t in steps["review"].iter(f"{SVG}text")]
    assert texts[0] == "review (parallel)"
    assert "× 2 units" in texts
    dot = run_rupu("workflow", "graph", path, "--format", "dot")
    assert dot.code == 0, dot.stderr
    assert '"plan" -> "review";' in dot.stdout


def test_graph_shows_steps_after_overrides(workspace: Workspace) -> None:
    path = str(REPO_ROOT / "workflows" / "mixed-review.yaml")
    result = run_rupu("workflow", "graph", path, "--provider", "mock")
    assert result.code == 0, result.stderr
    assert "mock:echo" in result.stdout
    assert "anthropic:" not in result.stdout


def test_graph_of_a_broken_workflow_is_a_one_line_error(workspace: Workspace) -> None:
    (workspace.project / "bad.yaml").write_text("name: bad\nsteps:\n  - id: a\n    agnt: x\n")
    result = run_rupu("workflow", "graph", "bad.yaml")
    assert result.code == 2
    assert result.stderr.count("\n") == 1
    assert "bad.yaml:4" in result.stderr


step_ids = st.from_regex(r"[A-Za-z][A-Za-z0-9_-]{0,12}", fullmatch=True)
labels = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=60)


@st.composite
def graphs(draw: st.DrawFn) -> WorkflowGraph:
    ids = draw(st.lists(step_ids, min_size=1, max_size=12, unique=True))
    nodes = tuple(
        Node(
            i,
            draw(st.sampled_from(["agent", "run", "loop"])),
            tuple(draw(st.lists(labels, max_size=3))),
        )
        for i in ids
    )
    edges = tuple(
        (ids[a], ids[b])
        for b in range(len(ids))
        for a in draw(st.sets(st.integers(0, b - 1), max_size=3) if b else st.just(set()))
    )
    return WorkflowGraph(draw(labels), nodes, edges)


@settings(max_examples=60, deadline=None)
@given(graph=graphs())
def test_any_graph_renders_valid_mermaid_and_svg(graph: WorkflowGraph) -> None:
    check_mermaid(to_mermaid(graph), graph)
    steps = svg_steps(to_svg(graph))
    assert set(steps) == {n.id for n in graph.nodes}
    assert to_dot(graph).startswith("digraph ")
    # every edge points down, and no two boxes overlap
    depth = layers(graph)
    assert all(depth[a] < depth[b] for a, b in graph.edges)
    boxes, _, _ = layout(graph)
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            apart = (
                a.x + a.width <= b.x
                or b.x + b.width <= a.x
                or a.y + a.height <= b.y
                or b.y + b.height <= a.y
            )
            assert apart, (a.node.id, b.node.id)


@pytest.mark.parametrize(
    "path", sorted(p.name for p in (REPO_ROOT / "workflows").glob("*.yaml")), ids=str
)
def test_every_shipped_workflow_graphs_in_every_format(workspace: Workspace, path: str) -> None:
    file = str(REPO_ROOT / "workflows" / path)
    for fmt in ("mermaid", "dot", "svg"):
        result = run_rupu("workflow", "graph", file, "--provider", "mock", "--format", fmt)
        assert result.code == 0, (fmt, result.stderr)
        if fmt == "svg":
            assert svg_steps(result.stdout)
        if fmt == "mermaid":
            assert result.stdout.startswith("flowchart TD\n")


def test_loop_and_called_workflow_nodes_name_what_they_hold(workspace: Workspace) -> None:
    loop = run_rupu("workflow", "graph", str(REPO_ROOT / "workflows" / "review-fix-loop.yaml"))
    assert loop.code == 0, loop.stderr
    assert "(loop)<br/>repeats write, review<br/>until …, at most 4×" in loop.stdout
    nested = run_rupu("workflow", "graph", str(REPO_ROOT / "workflows" / "nested.yaml"))
    assert "(workflow)<br/>calls review-fix-loop.yaml" in nested.stdout
