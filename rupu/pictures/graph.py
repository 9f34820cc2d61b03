"""A workflow's shape as plain data, and its text renderings: Mermaid and Graphviz DOT.

`WorkflowGraph` holds one node per step (kind, the lines to show, a status when drawn for a run) and
the dependency edges; `rupu.pictures.plan_graph` builds it from a plan, `rupu.pictures.svg` draws it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

STATUS_COLOURS: dict[str, str] = {
    "succeeded": "#d3f2dc",
    "cached": "#d6ecf7",
    "failed": "#f8d4d4",
    "interrupted": "#fbe3c8",
    "cancelled": "#ececec",
    "skipped": "#f1f1f1",
    "rejected": "#f8d4d4",
    "awaiting_approval": "#fff1bf",
    "blocked": "#ececec",
    "running": "#dce7fb",
    "pending": "#ffffff",
}
KIND_COLOURS: dict[str, str] = {
    "agent": "#eef3fc",
    "for_each": "#e9f1ff",
    "parallel": "#e9f1ff",
    "matrix": "#efe9fc",
    "run": "#f3f3ec",
    "workflow": "#e9f6f3",
    "loop": "#fbf0e6",
    "gate": "#fff7dc",
}


@dataclass(frozen=True, slots=True)
class Node:
    id: str
    kind: str
    lines: tuple[str, ...] = ()
    status: str | None = None

    @property
    def fill(self) -> str:
        if self.status is not None:
            return STATUS_COLOURS.get(self.status, "#ffffff")
        return KIND_COLOURS.get(self.kind, "#ffffff")


@dataclass(frozen=True, slots=True)
class WorkflowGraph:
    name: str
    nodes: tuple[Node, ...]
    edges: tuple[tuple[str, str], ...] = field(default=())

    def with_status(self, status: dict[str, str]) -> WorkflowGraph:
        nodes = tuple(Node(n.id, n.kind, n.lines, status.get(n.id, n.status)) for n in self.nodes)
        return WorkflowGraph(self.name, nodes, self.edges)


def _mermaid_text(text: str) -> str:
    """Mermaid's quoted labels take entity codes for quotes and angle brackets."""
    return (
        text.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")
    )


def to_mermaid(graph: WorkflowGraph) -> str:
    """`flowchart TD` with one node per step (ids n0, n1, ... so any step id is safe)."""
    ids = {node.id: f"n{i}" for i, node in enumerate(graph.nodes)}
    lines = ["flowchart TD"]
    for node in graph.nodes:
        label = "<br/>".join(
            _mermaid_text(part) for part in (f"{node.id} ({node.kind})", *node.lines)
        )
        lines.append(f'    {ids[node.id]}["{label}"]')
    for source, target in graph.edges:
        lines.append(f"    {ids[source]} --> {ids[target]}")
    classes = sorted({_class(node) for node in graph.nodes})
    for name in classes:
        fill = STATUS_COLOURS.get(name) or KIND_COLOURS.get(name, "#ffffff")
        lines.append(f"    classDef {_css_name(name)} fill:{fill},stroke:#555,color:#111")
    for node in graph.nodes:
        lines.append(f"    class {ids[node.id]} {_css_name(_class(node))}")
    return "\n".join(lines) + "\n"


def _class(node: Node) -> str:
    return node.status if node.status is not None else node.kind


def _css_name(name: str) -> str:
    return "k_" + re.sub(r"[^A-Za-z0-9_]", "_", name)


def _dot_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def to_dot(graph: WorkflowGraph) -> str:
    """Graphviz DOT; `dot -Tpng` draws it where Graphviz is installed (rupu does not need it)."""
    lines = [
        f'digraph "{_dot_text(graph.name)}" {{',
        "    rankdir=TB;",
        '    node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=11];',
        '    edge [color="#555555"];',
    ]
    for node in graph.nodes:
        label = "\\n".join(_dot_text(p) for p in (f"{node.id} ({node.kind})", *node.lines))
        lines.append(f'    "{_dot_text(node.id)}" [label="{label}", fillcolor="{node.fill}"];')
    for source, target in graph.edges:
        lines.append(f'    "{_dot_text(source)}" -> "{_dot_text(target)}";')
    lines.append("}")
    return "\n".join(lines) + "\n"
