"""A plan's `WorkflowGraph`: each step with its kind, agent, provider:model after every override,
its fan-out size where the file fixes it, and its approval; edges from `depends_on` and from the
steps its templates read."""

from __future__ import annotations

import math

from rupu.pictures.graph import Node, WorkflowGraph
from rupu.workflows.plan import Plan, PlannedStep


def plan_graph(plan: Plan) -> WorkflowGraph:
    nodes = tuple(_node(planned) for planned in plan.steps.values())
    edges = tuple((need, planned.id) for planned in plan.steps.values() for need in planned.needs)
    return WorkflowGraph(plan.name, nodes, edges)


def _node(planned: PlannedStep) -> Node:
    step = planned.step
    lines: list[str] = []
    agents = sorted({call.agent.name for call in planned.calls})
    if agents:
        lines.append("agent " + ", ".join(agents))
    targets = sorted({f"{c.target.provider}:{c.target.model}" for c in planned.calls})
    lines.extend(targets[:3])
    if len(targets) > 3:
        lines.append(f"+{len(targets) - 3} more targets")
    command = getattr(step, "run", None)
    if isinstance(command, str):
        lines.append("$ " + command.strip().splitlines()[0])
    size = _fan_out(planned)
    if size is not None:
        lines.append(f"× {size} units")
    elif planned.kind == "for_each":
        lines.append("× one unit per item")
    if step.approval is not None and step.approval.required:
        lines.append("needs approval")
    if step.when is not None:
        lines.append("when …" if isinstance(step.when, str) else f"when {step.when}")
    return Node(planned.id, planned.kind, tuple(lines))


def _fan_out(planned: PlannedStep) -> int | None:
    """The number of units when the workflow file fixes it."""
    step = planned.step
    items = getattr(step, "for_each", None)
    if isinstance(items, list):
        return len(items)
    matrix = getattr(step, "matrix", None)
    if isinstance(matrix, dict):
        return math.prod(len(v) for v in matrix.values())
    if planned.kind == "parallel":
        return len(planned.calls)
    return None
