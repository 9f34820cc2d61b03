"""A plan's `WorkflowGraph`: each step with its kind, agent, provider:model after every override,
its fan-out size where the file fixes it, and its approval; edges from `depends_on` and from the
steps its templates read. A loop or a called workflow is one node that names what it holds."""

from __future__ import annotations

import math
from typing import assert_never

from rupu.pictures.graph import Node, WorkflowGraph
from rupu.workflows.plan import Plan, PlannedStep
from rupu.workflows.spec import (
    AgentStep,
    GateStep,
    LoopStep,
    MatrixStep,
    RunStep,
    WorkflowStep,
)

MAX_TARGETS = 3


def plan_graph(plan: Plan) -> WorkflowGraph:
    nodes = tuple(_node(planned) for planned in plan.steps.values())
    edges = tuple((need, planned.id) for planned in plan.steps.values() for need in planned.needs)
    return WorkflowGraph(plan.name, nodes, edges)


def _targets(planned: PlannedStep) -> list[str]:
    calls = list(planned.body.all_calls()) if planned.body is not None else planned.calls
    agents = sorted({call.agent.name for call in calls})
    targets = sorted({f"{c.target.provider}:{c.target.model}" for c in calls})
    lines = ["agent " + ", ".join(agents)] if agents else []
    lines.extend(targets[:MAX_TARGETS])
    if len(targets) > MAX_TARGETS:
        lines.append(f"+{len(targets) - MAX_TARGETS} more targets")
    return lines


def _node(planned: PlannedStep) -> Node:
    step = planned.step
    lines: list[str] = []
    match step:
        case AgentStep():
            lines = _targets(planned)
            if isinstance(step.for_each, list):
                lines.append(f"× {len(step.for_each)} units")
            elif step.for_each is not None:
                lines.append("× one unit per item")
            elif step.parallel is not None:
                lines.append(f"× {len(step.parallel)} units")
        case MatrixStep():
            lines = _targets(planned)
            lines.append(f"× {math.prod(len(v) for v in step.matrix.values())} units")
        case RunStep():
            lines = ["$ " + (step.run.strip().splitlines() or [""])[0]]
        case LoopStep():
            inner = ", ".join(s.id for s in step.loop)
            lines = [
                f"repeats {inner}",
                f"until …, at most {step.max_iterations}×",
                *_targets(planned),
            ]
        case WorkflowStep():
            lines = [f"calls {step.workflow}", *_targets(planned)]
        case GateStep():
            lines = []
        case _:
            assert_never(step)
    if step.approval is not None and step.approval.required:
        lines.append("needs approval")
    if step.when is not None:
        lines.append("when …" if isinstance(step.when, str) else f"when {step.when}")
    return Node(planned.id, planned.kind, tuple(lines))
