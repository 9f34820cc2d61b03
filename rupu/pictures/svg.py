"""Drawing a `WorkflowGraph` as SVG with no external program: steps in layers by dependency depth
(a step sits one layer below the deepest step it needs), ordered within a layer to keep edges short,
boxes sized to their text, edges as curves with arrowheads."""

from __future__ import annotations

from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from rupu.pictures.graph import Node, WorkflowGraph

CHAR_WIDTH = 7.2  # 12 px sans-serif, on average
LINE_HEIGHT = 16
PAD_X, PAD_Y = 12, 8
GAP_X, GAP_Y = 28, 44
MARGIN = 16
MAX_CHARS = 48


@dataclass(slots=True)
class Box:
    node: Node
    layer: int
    x: float = 0.0
    y: float = 0.0
    width: float = 0.0
    height: float = 0.0

    @property
    def texts(self) -> list[str]:
        return [_clip(f"{self.node.id} ({self.node.kind})"), *(_clip(t) for t in self.node.lines)]


def _clip(text: str) -> str:
    return text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 1] + "…"


def layers(graph: WorkflowGraph) -> dict[str, int]:
    """Each step's depth: 0 without dependencies, else one more than its deepest dependency."""
    needs: dict[str, list[str]] = {node.id: [] for node in graph.nodes}
    for source, target in graph.edges:
        needs[target].append(source)
    depth: dict[str, int] = {}

    def visit(step: str, seen: frozenset[str]) -> int:
        if step in depth:
            return depth[step]
        if step in seen:  # a cycle cannot be drawn in layers; the loader refuses them anyway
            return 0
        value = 1 + max((visit(n, seen | {step}) for n in needs[step]), default=-1)
        depth[step] = value
        return value

    for node in graph.nodes:
        visit(node.id, frozenset())
    return depth


def layout(graph: WorkflowGraph) -> tuple[list[Box], float, float]:
    depth = layers(graph)
    boxes = {node.id: Box(node, depth[node.id]) for node in graph.nodes}
    for box in boxes.values():
        box.width = max(len(t) for t in box.texts) * CHAR_WIDTH + 2 * PAD_X
        box.height = len(box.texts) * LINE_HEIGHT + 2 * PAD_Y
    rows: dict[int, list[Box]] = {}
    for box in boxes.values():  # declaration order within a layer
        rows.setdefault(box.layer, []).append(box)
    parents: dict[str, list[str]] = {}
    for source, target in graph.edges:
        parents.setdefault(target, []).append(source)
    widest = 0.0
    y = float(MARGIN)
    for layer in sorted(rows):
        row = rows[layer]
        if layer > 0:  # barycentre of the parents' positions keeps edges short
            order = {b.node.id: i for i, b in enumerate(rows[layer - 1])}

            def centre(box: Box, order: dict[str, int] = order) -> float:
                mine = [order[p] for p in parents.get(box.node.id, []) if p in order]
                return sum(mine) / len(mine) if mine else float(len(order))

            row.sort(key=centre)
        x = float(MARGIN)
        for box in row:
            box.x, box.y = x, y
            x += box.width + GAP_X
        widest = max(widest, x - GAP_X + MARGIN)
        y += max(b.height for b in row) + GAP_Y
    height = y - GAP_Y + MARGIN
    for row in rows.values():  # centre each layer
        used = row[-1].x + row[-1].width - row[0].x
        shift = (widest - 2 * MARGIN - used) / 2
        for box in row:
            box.x += shift
    return list(boxes.values()), widest, height


def to_svg(graph: WorkflowGraph, *, element_id: str = "workflow-graph") -> str:
    boxes, width, height = layout(graph)
    by_id = {box.node.id: box for box in boxes}
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" id={quoteattr(element_id)} '
        f'width="{width:.0f}" height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" '
        'font-family="Helvetica, Arial, sans-serif" font-size="12" role="img">',
        f"<title>{escape(graph.name)}</title>",
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" '
        'fill="#555"/></marker></defs>',
    ]
    for source, target in graph.edges:
        a, b = by_id[source], by_id[target]
        x1, y1 = a.x + a.width / 2, a.y + a.height
        x2, y2 = b.x + b.width / 2, b.y
        bend = (y2 - y1) / 2
        parts.append(
            f'<path class="edge" data-from={quoteattr(source)} data-to={quoteattr(target)} '
            f'd="M {x1:.1f} {y1:.1f} C {x1:.1f} {y1 + bend:.1f}, {x2:.1f} {y2 - bend:.1f}, '
            f'{x2:.1f} {y2:.1f}" fill="none" stroke="#555" marker-end="url(#arrow)"/>'
        )
    for box in boxes:
        node = box.node
        status = f" data-status={quoteattr(node.status)}" if node.status else ""
        parts.append(
            f'<g class="step" data-step={quoteattr(node.id)} data-kind={quoteattr(node.kind)}'
            f"{status}>"
        )
        parts.append(
            f'<rect x="{box.x:.1f}" y="{box.y:.1f}" width="{box.width:.1f}" '
            f'height="{box.height:.1f}" rx="6" fill="{node.fill}" stroke="#555"/>'
        )
        for i, text in enumerate(box.texts):
            weight = ' font-weight="bold"' if i == 0 else ""
            ty = box.y + PAD_Y + (i + 1) * LINE_HEIGHT - 4
            parts.append(
                f'<text x="{box.x + PAD_X:.1f}" y="{ty:.1f}"{weight}>{escape(text)}</text>'
            )
        parts.append("</g>")
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
