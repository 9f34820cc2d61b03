"""The actors of a cluster run: the credential broker on the driver's node and `actors_per_node`
unit workers on every live node, each running up to `units_per_actor` units at once.

Built before the run record exists (`rupu.api` does it), so a cluster that cannot see the
workspace fails the run with one line naming the node before any request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from rupu.distributed.broker import BrokeredCredential, CredentialBroker
from rupu.distributed.worker import ToolsFactory, UnitWorker
from rupu.errors import ConfigError

BROKER_CONCURRENCY = 10_000


@dataclass(slots=True)
class Worker:
    handle: Any
    node: str = ""
    node_id: str = ""
    capacity: int = 1
    busy: int = 0
    alive: bool = True
    # run id -> the ref of its `load` call, True once it is done
    loaded: dict[str, Any] = field(default_factory=dict)
    stream: Any = None  # `handle.run`, streaming its results

    def __post_init__(self) -> None:
        self.stream = self.handle.run.options(num_returns="streaming")


@dataclass(frozen=True, slots=True)
class NodeInfo:
    node: str
    cpus: float
    workers: int
    capacity: int
    workspace: bool | None


class Fleet:
    def __init__(
        self,
        ray: ModuleType,
        *,
        actors_per_node: int,
        units_per_actor: int,
        tools: ToolsFactory | None = None,
    ) -> None:
        from ray.util.scheduling_strategies import (  # lazy: part of the optional Ray import
            NodeAffinitySchedulingStrategy,
        )

        self.ray = ray
        here = ray.get_runtime_context().get_node_id()
        broker = ray.remote(num_cpus=0, max_concurrency=BROKER_CONCURRENCY)(CredentialBroker)
        self.broker = broker.options(
            scheduling_strategy=NodeAffinitySchedulingStrategy(here, soft=False)
        ).remote()
        actor = ray.remote(num_cpus=0, max_restarts=0, max_task_retries=0)(UnitWorker)
        self.nodes = [n for n in ray.nodes() if n.get("Alive")]
        self.workers: list[Worker] = []
        for node in self.nodes:
            strategy = NodeAffinitySchedulingStrategy(node["NodeID"], soft=False)
            for _ in range(actors_per_node):
                handle = actor.options(
                    scheduling_strategy=strategy, max_concurrency=units_per_actor + 4
                ).remote(tools)
                self.workers.append(
                    Worker(handle, node_id=node["NodeID"], capacity=units_per_actor)
                )
        self._sources: dict[int, tuple[str, Any]] = {}
        self._numbers: dict[int, int] = {}

    def place(self, workspace: str | None) -> list[dict[str, Any]]:
        """Waits for every worker to start; returns where each runs and whether it sees
        `workspace`."""
        places: list[dict[str, Any]] = self.ray.get(
            [w.handle.place.remote(workspace) for w in self.workers]
        )
        for worker, place in zip(self.workers, places, strict=True):
            worker.node = str(place["node"])
        return places

    def check_workspace(self, workspace: str) -> None:
        """One line naming the first node that cannot see the workspace."""
        for place in self.place(workspace):
            if not place["workspace"]:
                raise ConfigError(
                    f"node {place['node']} cannot see the workspace {workspace}",
                    field="executor",
                    hint="units with file or shell tools need the workspace on shared storage at "
                    "the same path on every node (see docs/distributed.md)",
                )

    def describe(self, workspace: str | None) -> list[NodeInfo]:
        places = self.place(workspace)
        infos = []
        for node in self.nodes:
            mine = [
                (w, p)
                for w, p in zip(self.workers, places, strict=True)
                if w.node_id == node["NodeID"]
            ]
            name = (
                mine[0][1]["node"] if mine else f"{node['NodeManagerAddress']}/{node['NodeID'][:8]}"
            )
            sees = all(p["workspace"] for _, p in mine) if workspace is not None else None
            infos.append(
                NodeInfo(
                    node=str(name),
                    cpus=float(node.get("Resources", {}).get("CPU", 0.0)),
                    workers=len(mine),
                    capacity=sum(w.capacity for w, _ in mine),
                    workspace=sees,
                )
            )
        return infos

    def register(self, provider: str, source: Any) -> BrokeredCredential:
        """A driver-side credential source, as workers hold it: a number the broker knows."""
        number = self._numbers.get(id(source))
        if number is None:
            number = self._numbers[id(source)] = len(self._numbers) + 1
            self._sources[number] = (provider, source)
        return BrokeredCredential(self.broker, number, provider)

    @property
    def sources(self) -> dict[int, tuple[str, Any]]:
        return self._sources

    def live(self) -> list[Worker]:
        return [w for w in self.workers if w.alive]

    def choose(self) -> Worker | None:
        """The live worker with the most free room (None: every worker died)."""
        live = self.live()
        if not live:
            return None
        return min(live, key=lambda w: w.busy / w.capacity)

    @property
    def capacity(self) -> int:
        return sum(w.capacity for w in self.workers)

    def close(self) -> None:
        for worker in self.workers:
            self.ray.kill(worker.handle, no_restart=True)
        self.ray.kill(self.broker, no_restart=True)
