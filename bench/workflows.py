"""Workflow engine benchmarks. Prints one JSON object.

    python bench/workflows.py            # everything
    python bench/workflows.py --only for_each

Each measurement runs in a fresh process (so peak RSS is that run's own) with a temporary RUPU_HOME:

- `step_overhead`: chains of 100 and 1000 steps on the `mock` provider; the engine's cost per step is
  the slope between them (goal <= 0.5 ms). A wide graph (1000 independent steps) is reported too.
  Each figure (here and below) is the best of 3 runs: on a shared machine noise only adds time.
- `for_each`: one `for_each` step of 10,000 units on `mock` (goal <= 4 s, <= 200 MiB peak RSS).
- `streamed`: a workflow of one `for_each` step of 1000 units against a loopback chat-completions
  server (another process) that answers each request after 200 ms with a streamed reply
  (goal <= 1.3 x `transport`, <= 150 MiB). The server checks the bearer key only: the test suite's
  full request validation runs the openai SDK's validators, which would make the server, not rupu,
  the bottleneck.
- `streamed_steps`: the same 1000 calls as 1000 independent steps instead of one fan-out
  (goal <= 1.5 x `transport`).
- `streamed_tmpfs`: `streamed` with the run record on tmpfs, which shows what the disk costs: each
  unit writes its own transcript file, and creating a file can take ~0.75 ms on a slow disk.
- `transport`: the same 1000 requests through the provider alone (no engine), the floor for
  `streamed`; `streamed.run_s - transport.wall_s` is what the engine adds. It runs with the
  garbage collector's pace a workflow run sets (`rupu.workflows.gcpace`), which saves the
  transport about as much as the engine, so the ratios compare like with like.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
GOALS = {
    "step_overhead_ms": 0.5,
    "for_each_seconds": 4.0,
    "for_each_rss_mib": 200.0,
    "streamed_vs_transport": 1.3,
    "streamed_rss_mib": 150.0,
    "streamed_steps_vs_transport": 1.5,
}
REPEATS = 3
AGENT = "---\nname: worker\nprovider: {provider}\nmodel: {model}\n---\nYou work.\n"


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_s() -> float:
    """CPU seconds this process used so far (all threads): on a shared machine wall time also
    counts the other processes, CPU time mostly not."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _project(tmp: Path, provider: str, model: str, workflow: str) -> Path:
    project = tmp / "project"
    (project / ".rupu" / "agents").mkdir(parents=True)
    (project / ".rupu" / "workflows").mkdir()
    (project / ".rupu" / "agents" / "worker.md").write_text(
        AGENT.format(provider=provider, model=model)
    )
    (project / ".rupu" / "workflows" / "bench.yaml").write_text(workflow)
    return project


def _run(project: Path, home: Path) -> dict[str, Any]:
    """Loads, plans and runs `bench` in this process; returns timings and the outcome."""
    import anyio

    from rupu.api import Session, load_workflow
    from rupu.workflows.agent_calls import Overrides
    from rupu.workflows.engine import Engine

    env = {**os.environ, "RUPU_HOME": str(home)}
    session = Session.from_environment(cwd=project, env=env)
    began = time.perf_counter()
    loaded = load_workflow("bench", session=session)
    engine = Engine(session.paths, session.config, session.build_provider)
    execution = engine.start(loaded, {}, Overrides())
    started, cpu = time.perf_counter(), _cpu_s()
    outcome = anyio.run(execution.run)
    ended, cpu = time.perf_counter(), _cpu_s() - cpu
    if outcome.status != "succeeded":
        raise SystemExit(f"benchmark run {outcome.status}: {outcome.error}")
    return {
        "load_and_plan_s": round(started - began, 4),
        "run_s": round(ended - started, 4),
        "total_s": round(ended - began, 4),
        "run_cpu_s": round(cpu, 4),
        "steps": len(loaded.workflow.steps),
    }


def _chain(n: int, *, linked: bool) -> str:
    lines = ["name: bench", "steps:"]
    for i in range(n):
        lines += [f"  - id: s{i}", "    agent: worker", f"    prompt: 'step {i}'"]
        if linked and i:
            lines.append(f"    depends_on: [s{i - 1}]")
    return "\n".join(lines) + "\n"


def _best_of(count: int, measure: Any) -> dict[str, Any]:
    """The fastest of `count` runs: a busy machine only ever adds time."""
    results = [measure(attempt) for attempt in range(count)]
    best: dict[str, Any] = min(results, key=lambda r: r.get("run_s", r.get("wall_s", 0)))
    return best


def child_step_overhead(tmp: Path) -> dict[str, Any]:
    runs = {}
    for name, n, linked in (
        ("chain_100", 100, True),
        ("chain_1000", 1000, True),
        ("wide_1000", 1000, False),
    ):
        project = _project(tmp / name, "mock", "echo", _chain(n, linked=linked))
        runs[name] = _best_of(
            REPEATS, lambda attempt, p=project, h=tmp / name: _run(p, h / f"home{attempt}")
        )
    slope = (runs["chain_1000"]["run_s"] - runs["chain_100"]["run_s"]) / 900 * 1000
    cpu_slope = (runs["chain_1000"]["run_cpu_s"] - runs["chain_100"]["run_cpu_s"]) / 900 * 1000
    return {
        "per_step_ms": round(slope, 3),
        "per_step_cpu_ms": round(cpu_slope, 3),
        "chain_1000_per_step_ms": round(runs["chain_1000"]["run_s"], 4),
        "wide_1000_per_step_ms": round(runs["wide_1000"]["run_s"], 4),
        "best_of": REPEATS,
        "runs": runs,
        "peak_rss_mib": round(_peak_rss_mib(), 1),
    }


FOR_EACH = """name: bench
steps:
  - id: fan
    agent: worker
    for_each: "{{{{ range({n}) | list }}}}"
    prompt: "unit {{{{ item }}}} of {{{{ loop.length }}}}"
  - id: count
    agent: worker
    prompt: "{{{{ steps.fan.results | length }}}} results"
"""


# Only the fan-out: the 1000 streamed calls, nothing after them.
FAN_OUT_ONLY = FOR_EACH.split("  - id: count", maxsplit=1)[0]


def child_for_each(tmp: Path, n: int = 10_000) -> dict[str, Any]:
    project = _project(tmp, "mock", "echo", FOR_EACH.format(n=n))
    result = _run(project, tmp / "home")
    return {"units": n, **result, "peak_rss_mib": round(_peak_rss_mib(), 1)}


SERVER = """
import sys, time
sys.path.insert(0, sys.argv[1])
from tests.servers.openai_chat import ChatCompletionsServer, stream_reply, text_stream, usage
from tests.servers.base import ValidationFailed

class Server(ChatCompletionsServer):
    def validate(self, request):
        if request.headers.get("authorization") != "Bearer bench-key":
            raise ValidationFailed("wrong key")

chunks = text_stream(["Looks ", "good ", "to ", "me", "."], with_usage=usage(20, 5))
with Server(api_key="bench-key") as server:
    server.default_reply = lambda request: stream_reply(chunks, delay=float(sys.argv[2]))
    print(server.base_url, flush=True)
    sys.stdin.read()
"""


def _start_server(latency: float) -> tuple[subprocess.Popen[str], str]:
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(ROOT), str(latency)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    return server, server.stdout.readline().strip()


def _stop_server(server: subprocess.Popen[str]) -> None:
    if server.stdin is not None:
        server.stdin.close()
    server.wait(10)


def child_transport(tmp: Path, n: int = 1000, latency: float = 0.2) -> dict[str, Any]:
    """The same 1000 streamed requests through the provider alone, without the workflow engine:
    the floor the `streamed` figure is measured against."""
    best = _best_of(REPEATS, lambda _: _transport(n, latency))
    return {"best_of": REPEATS, **best}


def _transport(n: int, latency: float) -> dict[str, Any]:
    import anyio

    from rupu.auth.credentials import Credential, FixedCredential, Secret
    from rupu.config import ProviderConfig
    from rupu.messages import Message, ModelRequest
    from rupu.providers.base import ProviderSetup, TurnBuilder
    from rupu.providers.openai_chat import OpenAIChatProvider
    from rupu.workflows.gcpace import run_pace

    server, base_url = _start_server(latency)
    try:
        credential = Credential("loop", "api-key", Secret("bench-key"), "bench")
        provider = OpenAIChatProvider(
            ProviderSetup(
                "loop",
                "openai-compatible",
                ProviderConfig(base_url=f"{base_url}/v1"),
                FixedCredential(credential),
            )
        )

        async def one(index: int) -> None:
            builder = TurnBuilder("loop")
            request = ModelRequest("bench-model", "You work.", [Message.user(f"unit {index}")])
            async for event in provider.stream(request):
                builder.add(event)
            builder.result()

        async def main() -> tuple[float, float]:
            began, cpu = time.perf_counter(), _cpu_s()
            async with anyio.create_task_group() as group:
                for index in range(n):
                    group.start_soon(one, index)
            elapsed, cpu = time.perf_counter() - began, _cpu_s() - cpu
            await provider.aclose()
            return elapsed, cpu

        with run_pace():  # the pace a workflow run sets (rupu.workflows.gcpace): a fair floor
            wall, cpu = anyio.run(main)
    finally:
        _stop_server(server)
    return {
        "requests": n,
        "latency_s": latency,
        "wall_s": round(wall, 4),
        "cpu_s": round(cpu, 4),
        "peak_rss_mib": round(_peak_rss_mib(), 1),
    }


def _streamed(tmp: Path, workflow: str, n: int, latency: float) -> dict[str, Any]:
    server, base_url = _start_server(latency)
    try:
        project = _project(tmp, "loop", "bench-model", workflow)
        home = tmp / "home"
        home.mkdir(parents=True)
        (home / "config.toml").write_text(
            f'[providers.loop]\nbase_url = "{base_url}/v1"\nmax_concurrency = {n}\n'
        )
        os.environ["RUPU_LOOP_API_KEY"] = "bench-key"
        result = _run(project, home)
    finally:
        _stop_server(server)
    return {"latency_s": latency, **result, "peak_rss_mib": round(_peak_rss_mib(), 1)}


def child_streamed(tmp: Path, n: int = 1000, latency: float = 0.2) -> dict[str, Any]:
    """One `for_each` step of `n` units."""
    workflow = FAN_OUT_ONLY.format(n=n)
    best = _best_of(REPEATS, lambda a: _streamed(tmp / f"a{a}", workflow, n, latency))
    return {"units": n, "best_of": REPEATS, **best}


def child_streamed_steps(tmp: Path, n: int = 1000, latency: float = 0.2) -> dict[str, Any]:
    """`n` independent steps of one unit each."""
    workflow = _chain(n, linked=False)
    best = _best_of(REPEATS, lambda a: _streamed(tmp / f"a{a}", workflow, n, latency))
    return {"best_of": REPEATS, **best}


def child_streamed_tmpfs(tmp: Path) -> dict[str, Any]:
    """`streamed` with the run record on tmpfs: the same run without the disk's file-creation
    latency (a thousand transcript files)."""
    shm = Path("/dev/shm")
    if not shm.is_dir():
        return {"skipped": "no /dev/shm"}
    with tempfile.TemporaryDirectory(prefix="rupu-bench-", dir=shm) as on_tmpfs:
        return child_streamed(Path(on_tmpfs))


CHILDREN = {
    "step_overhead": child_step_overhead,
    "for_each": child_for_each,
    "streamed": child_streamed,
    "streamed_steps": child_streamed_steps,
    "streamed_tmpfs": child_streamed_tmpfs,
    "transport": child_transport,
}


# Where a profile's time is spent, by the module a function is in (first match wins).
AREAS = (
    ("rupu/agents/", "agent loop (rupu.agents)"),
    ("rupu/routing/", "routing (rupu.routing)"),
    ("rupu/providers/", "providers (rupu.providers)"),
    ("rupu/workflows/templates", "templates (rupu.workflows.templates + jinja2)"),
    ("jinja2/", "templates (rupu.workflows.templates + jinja2)"),
    ("rupu/workflows/", "engine (rupu.workflows)"),
    ("rupu/", "rest of rupu"),
    ("anyio/", "anyio + asyncio"),
    ("asyncio/", "anyio + asyncio"),
    ("httpx", "http (httpx, httpcore, h11)"),
    ("httpcore", "http (httpx, httpcore, h11)"),
    ("h11", "http (httpx, httpcore, h11)"),
)


def _profile_report(path: str, top: int = 25) -> str:
    """Own time by area and the functions with the most own time, from a cProfile dump (the event
    loop's thread only; the record writer's threads are not in it)."""
    import pstats

    stats = pstats.Stats(path)
    raw: dict[tuple[str, int, str], tuple[int, int, float, float, object]] = stats.stats  # type: ignore[attr-defined]
    areas: dict[str, float] = {}
    total = 0.0
    for (filename, _, _), (_, _, own, _, _) in raw.items():
        area = next((name for part, name in AREAS if part in filename), "other (stdlib, builtins)")
        areas[area] = areas.get(area, 0.0) + own
        total += own
    lines = [f"own time by area ({total:.2f} s profiled):"]
    for area, own in sorted(areas.items(), key=lambda kv: -kv[1]):
        lines.append(f"  {own / total:6.1%}  {own:7.3f} s  {area}")
    lines.append(f"top {top} functions by own time:")
    ranked = sorted(raw.items(), key=lambda kv: -kv[1][2])[:top]
    for (filename, line, function), (_, calls, own, cumulative, _) in ranked:
        where = filename.split("site-packages/")[-1].split(str(ROOT) + "/")[-1]
        lines.append(
            f"  {own:7.3f} s own {cumulative:7.3f} s cum {calls:8d} calls  {where}:{line}({function})"
        )
    return "\n".join(lines)


def _in_child(name: str, *extra: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", name, *extra],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed"}
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=sorted(CHILDREN))
    parser.add_argument(
        "--profile",
        choices=sorted(CHILDREN),
        help="run one measurement under cProfile and print where its time goes",
    )
    parser.add_argument(
        "--tmp",
        help="where the runs' records go (default: the system's temp dir); /dev/shm leaves the "
        "disk out of the figures",
    )
    parser.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    parser.add_argument("--profile-to", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.tmp:
        os.environ["TMPDIR"] = args.tmp  # the children inherit it
        tempfile.tempdir = None
    if args.child:
        with tempfile.TemporaryDirectory(prefix="rupu-bench-") as tmp:
            if args.profile_to:
                import cProfile

                profiler = cProfile.Profile()
                result = profiler.runcall(CHILDREN[args.child], Path(tmp))
                profiler.dump_stats(args.profile_to)
            else:
                result = CHILDREN[args.child](Path(tmp))
            print(json.dumps(result))
        return
    if args.profile:
        with tempfile.TemporaryDirectory(prefix="rupu-profile-") as tmp:
            dump = str(Path(tmp) / "profile.pstats")
            result = _in_child(args.profile, "--profile-to", dump)
            print(json.dumps(result, indent=2))
            if "error" not in result:
                print(_profile_report(dump))
        return
    names = [args.only] if args.only else list(CHILDREN)
    results: dict[str, Any] = {name: _in_child(name) for name in names}
    checks = {}
    if "per_step_ms" in results.get("step_overhead", {}):
        checks["step_overhead_ms"] = (
            results["step_overhead"]["per_step_ms"] <= GOALS["step_overhead_ms"]
        )
    if "run_s" in results.get("for_each", {}):
        fan = results["for_each"]
        checks["for_each_seconds"] = fan["total_s"] <= GOALS["for_each_seconds"]
        checks["for_each_rss_mib"] = fan["peak_rss_mib"] <= GOALS["for_each_rss_mib"]
    transport = results.get("transport", {})
    floor, cpu_floor = transport.get("wall_s"), transport.get("cpu_s")
    ratios = {}
    for name in ("streamed", "streamed_steps", "streamed_tmpfs"):
        found = results.get(name, {})
        if "run_s" in found and floor:
            ratios[f"{name}_vs_transport"] = round(found["run_s"] / floor, 3)
        if "run_cpu_s" in found and cpu_floor:
            ratios[f"{name}_cpu_vs_transport"] = round(found["run_cpu_s"] / cpu_floor, 3)
        if f"{name}_vs_transport" in GOALS and f"{name}_vs_transport" in ratios:
            checks[f"{name}_vs_transport"] = (
                ratios[f"{name}_vs_transport"] <= GOALS[f"{name}_vs_transport"]
            )
    if "run_s" in results.get("streamed", {}):
        checks["streamed_rss_mib"] = (
            results["streamed"]["peak_rss_mib"] <= GOALS["streamed_rss_mib"]
        )
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    print(
        json.dumps(
            {
                "results": results,
                "ratios": ratios,
                "goals": GOALS,
                "met": checks,
                "cpus": os.cpu_count(),
                "load_1m": load,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
