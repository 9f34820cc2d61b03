"""The step graph: nodes are step ids, an edge `a -> b` means b runs after a (from `depends_on` and from
b's templates reading `steps.a`). Pure: no I/O, so the scheduler's invariants can be property-tested.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rupu.errors import RupuError

if TYPE_CHECKING:
    import networkx as nx


class CycleError(RupuError):
    def __init__(self, cycle: Sequence[str]) -> None:
        path = " -> ".join([*cycle, cycle[0]])
        super().__init__(f"dependency cycle: {path}")
        self.cycle = list(cycle)


@dataclass(slots=True)
class WorkflowGraph:
    """Steps in declared order plus their edges; `graph` is the networkx view."""

    order: list[str]
    graph: nx.DiGraph[str]
    _position: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._position = {step: index for index, step in enumerate(self.order)}

    def _sorted(self, steps: Iterable[str]) -> list[str]:
        return sorted(steps, key=self._position.__getitem__)

    def needs(self, step: str) -> list[str]:
        """The steps `step` waits for, in declared order."""
        return self._sorted(self.graph.predecessors(step))

    def feeds(self, step: str) -> list[str]:
        return self._sorted(self.graph.successors(step))

    def upstream(self, step: str) -> set[str]:
        import networkx as nx

        return set(nx.ancestors(self.graph, step))

    def downstream(self, step: str) -> set[str]:
        import networkx as nx

        return set(nx.descendants(self.graph, step))

    def stages(self) -> list[list[str]]:
        """Steps grouped by depth: every step sits one stage after the latest step it needs."""
        import networkx as nx

        return [self._sorted(generation) for generation in nx.topological_generations(self.graph)]

    def topological(self) -> list[str]:
        """A run order that respects every edge, ties broken by declared order."""
        import networkx as nx

        return list(nx.lexicographical_topological_sort(self.graph, key=self._position.__getitem__))

    def edges(self) -> list[tuple[str, str]]:
        return sorted(self.graph.edges, key=lambda e: (self._position[e[1]], self._position[e[0]]))


def build_graph(order: Sequence[str], edges: Iterable[tuple[str, str]]) -> WorkflowGraph:
    """The graph of `order` (unique ids) and `edges` (both ends in `order`); a `CycleError` naming
    the cycle path, starting from the earliest declared step in it, if there is one."""
    import networkx as nx

    graph: nx.DiGraph[str] = nx.DiGraph()
    graph.add_nodes_from(order)
    graph.add_edges_from(edges)
    try:
        cycle = nx.find_cycle(graph)
    except nx.NetworkXNoCycle:
        return WorkflowGraph(list(order), graph)
    steps = [edge[0] for edge in cycle]
    position = {step: index for index, step in enumerate(order)}
    start = min(range(len(steps)), key=lambda i: position[steps[i]])
    raise CycleError(steps[start:] + steps[:start])
