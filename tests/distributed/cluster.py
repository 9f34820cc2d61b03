"""A real two-node Ray cluster on 127.0.0.1 for the Ray executor's tests (one per test module):
a head and one more node started with `ray.cluster_utils.Cluster`, usage stats off, every process
on loopback, rupu importable on the workers from this checkout."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
# Read by Ray when it is imported: node addresses are 127.0.0.1 (never the machine's address),
# and nothing is reported anywhere.
LOOPBACK_ENV = {
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_DISABLE_IMPORT_WARNING": "1",
}
os.environ.update(LOOPBACK_ENV)


@dataclass
class RayCluster:
    cluster: Any
    address: str

    @property
    def session_dir(self) -> str:
        """Where the cluster's processes keep their logs."""
        return str(self.cluster.head_node.get_session_dir_path())

    def worker_pids(self) -> list[int]:
        """The processes of rupu's unit workers (their process title is `ray::UnitWorker`), the
        most recently started first (those of the run in progress)."""
        found: list[tuple[int, int]] = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                title = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if title.startswith(b"ray::UnitWorker"):
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                found.append((int(stat[19]), int(entry.name)))  # field 22: start time
        return [pid for _, pid in sorted(found, reverse=True)]


@contextmanager
def two_nodes() -> Iterator[RayCluster]:
    from ray.cluster_utils import Cluster

    saved = {name: os.environ.get(name) for name in ("PYTHONPATH", "RAY_ADDRESS")}
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), saved["PYTHONPATH"]]))
    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 1, "include_dashboard": False, "node_ip_address": "127.0.0.1"},
    )
    try:
        cluster.add_node(num_cpus=1, node_ip_address="127.0.0.1")
        cluster.wait_for_nodes()
        os.environ["RAY_ADDRESS"] = cluster.address
        yield RayCluster(cluster, cluster.address)
    finally:
        import ray

        ray.shutdown()
        cluster.shutdown()  # type: ignore[no-untyped-call]
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
