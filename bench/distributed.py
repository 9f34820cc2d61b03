"""The Ray executor against the local one, side by side on one machine. Prints one JSON object.

    python bench/distributed.py                 # everything (starts a 2-node cluster on 127.0.0.1)
    python bench/distributed.py --units 2000    # a smaller dispatch figure

- `dispatch`: one `for_each` step of 10,000 units on `mock`, local and on Ray; the Ray executor's
  cost per unit is `(ray.run_s - local.run_s) / units` (goal <= 2 ms). `ray.peak_rss_mib` is the
  driver's peak memory (goal <= 200 MiB).
- `streamed`: 1000 units against a loopback chat-completions server answering each after 200 ms,
  local and on the 2-node cluster (goal: Ray <= 2 x local wall time; on one machine Ray can only
  add overhead, so the figure bounds it).

Each measurement runs in a fresh driver process (peak RSS is that run's own); the cluster is started
once, its nodes on 127.0.0.1 with usage stats off.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.workflows import (  # noqa: E402
    FOR_EACH,
    _cpu_s,
    _peak_rss_mib,
    _project,
    _start_server,
    _stop_server,
)

GOALS = {"dispatch_ms_per_unit": 2.0, "driver_rss_mib": 200.0, "streamed_vs_local": 2.0}
LOOPBACK_ENV = {
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_DISABLE_IMPORT_WARNING": "1",
}


def _run(project: Path, home: Path, executor: str) -> dict[str, Any]:
    import anyio

    from rupu.api import Session, load_workflow
    from rupu.api.executor import on_cluster, open_cluster
    from rupu.workflows.agent_calls import Overrides
    from rupu.workflows.engine import Engine

    env = {**os.environ, "RUPU_HOME": str(home)}
    session = Session.from_environment(cwd=project, env=env)
    loaded = load_workflow("bench", session=session)
    engine = Engine(session.paths, session.config, session.build_provider)
    connected = time.perf_counter()
    if executor == "ray":
        engine = on_cluster(engine, open_cluster(session), session.paths.cwd)
    connected = time.perf_counter() - connected
    execution = engine.start(loaded, {}, Overrides())
    started, cpu = time.perf_counter(), _cpu_s()
    outcome = anyio.run(execution.run)
    ended, cpu = time.perf_counter(), _cpu_s() - cpu
    if outcome.status != "succeeded":
        raise SystemExit(f"benchmark run {outcome.status}: {outcome.error}")
    return {
        "executor": executor,
        "connect_s": round(connected, 3),
        "run_s": round(ended - started, 3),
        "driver_cpu_s": round(cpu, 3),
        "peak_rss_mib": round(_peak_rss_mib(), 1),
    }


def child_dispatch(tmp: Path, executor: str, units: int) -> dict[str, Any]:
    project = _project(tmp, "mock", "echo", FOR_EACH.format(n=units))
    return {"units": units, **_run(project, tmp / "home", executor)}


def child_streamed(tmp: Path, executor: str, units: int, latency: float = 0.2) -> dict[str, Any]:
    server, base_url = _start_server(latency)
    try:
        project = _project(tmp, "loop", "bench-model", FOR_EACH.format(n=units))
        home = tmp / "home"
        home.mkdir(parents=True)
        (home / "config.toml").write_text(
            f'[providers.loop]\nbase_url = "{base_url}/v1"\nmax_concurrency = {units}\n'
        )
        os.environ["RUPU_LOOP_API_KEY"] = "bench-key"
        return {"units": units, "latency_s": latency, **_run(project, home, executor)}
    finally:
        _stop_server(server)


def _in_child(*args: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines()
        return {"error": lines[-1] if lines else "failed"}
    found: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", nargs=3, metavar=("NAME", "EXECUTOR", "UNITS"))
    parser.add_argument("--units", type=int, default=10_000)
    parser.add_argument("--streamed-units", type=int, default=1000)
    args = parser.parse_args()
    os.environ.update(LOOPBACK_ENV)
    if args.child:
        name, executor, units = args.child
        with tempfile.TemporaryDirectory() as tmp:
            measure = child_dispatch if name == "dispatch" else child_streamed
            print(json.dumps(measure(Path(tmp), executor, int(units))))
        return
    from ray.cluster_utils import Cluster

    os.environ["PYTHONPATH"] = str(ROOT)
    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 1, "include_dashboard": False, "node_ip_address": "127.0.0.1"},
    )
    try:
        cluster.add_node(num_cpus=1, node_ip_address="127.0.0.1")
        cluster.wait_for_nodes()
        os.environ["RAY_ADDRESS"] = cluster.address
        report: dict[str, Any] = {"goals": GOALS, "nodes": 2}
        for name, units in (("dispatch", args.units), ("streamed", args.streamed_units)):
            local = _in_child(name, "local", str(units))
            remote = _in_child(name, "ray", str(units))
            report[name] = {"local": local, "ray": remote}
            if "error" in local or "error" in remote:
                continue
            if name == "dispatch":
                per_unit = (remote["run_s"] - local["run_s"]) / units * 1000
                report[name]["ms_per_unit"] = round(per_unit, 3)
            else:
                report[name]["ray_vs_local"] = round(remote["run_s"] / local["run_s"], 2)
        print(json.dumps(report, indent=2))
    finally:
        cluster.shutdown()  # type: ignore[no-untyped-call]


if __name__ == "__main__":
    main()
