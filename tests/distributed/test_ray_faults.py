"""On a real two-node Ray cluster: a worker killed mid-run (its units run again elsewhere, each
recorded once), Ctrl-C (every remote unit cancelled, the run resumable), and resume across
executors (started on Ray, finished locally, and the other way round)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest

from rupu.api import run_workflow
from rupu.workflows.results import RunOutcome
from tests.conftest import REPO_ROOT, Workspace, run_rupu
from tests.distributed.cluster import RayCluster
from tests.distributed.test_ray_limits import KEY
from tests.servers.base import RecordedRequest, Reply
from tests.servers.openai_chat import ChatCompletionsServer, stream_reply, text_stream, usage

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

ITEMS = 6
WORKFLOW = """\
name: slow
steps:
  - id: many
    agent: worker
    for_each: [1, 2, 3, 4, 5, 6]
    prompt: "item {{ item }}"
"""


class Latency:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __call__(self, request: RecordedRequest) -> Reply:
        prompt = request.body["messages"][-1]["content"]
        chunks = text_stream([f"done {prompt}"], with_usage=usage(7, 2))
        return stream_reply(chunks, delay=self.seconds)


def write_project(workspace: Workspace, server: ChatCompletionsServer) -> None:
    workspace.write_config(
        f'[providers.alpha]\nbase_url = "{server.base_url}/v1"\ndefault_model = "alpha-1"\n'
    )
    workspace.write_agent("worker", "---\nname: worker\nprovider: alpha\n---\nWork.\n")
    (workspace.home / "workflows").mkdir(exist_ok=True)
    (workspace.home / "workflows" / "slow.yaml").write_text(WORKFLOW)


def units(run: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in (run / "units.jsonl").read_bytes().splitlines()]


def events(run: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in (run / "events.jsonl").read_bytes().splitlines()]


async def wait_for(server: ChatCompletionsServer, count: int) -> None:
    for _ in range(1200):
        if len(server.requests) >= count:
            return
        await anyio.sleep(0.05)
    raise AssertionError(f"the server saw {len(server.requests)} requests, not {count}")


@pytest.mark.anyio
async def test_a_killed_worker_s_units_run_again_on_a_live_one(
    cluster: RayCluster, workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUPU_ALPHA_API_KEY", KEY)
    found: list[RunOutcome] = []
    with ChatCompletionsServer(api_key=KEY) as server:
        server.default_reply = Latency(1.5)
        write_project(workspace, server)

        async def run() -> None:
            found.append(await run_workflow("slow", executor="ray"))

        async with anyio.create_task_group() as group:
            group.start_soon(run)
            await wait_for(server, ITEMS)  # every unit is in flight, on both workers
            victim = cluster.worker_pids()[0]
            os.kill(victim, signal.SIGKILL)
    (outcome,) = found
    assert outcome.status == "succeeded", outcome.error
    run_dir = workspace.home / "runs" / outcome.run_id
    recorded = Counter((u["step"], u["unit"]) for u in units(run_dir))
    assert recorded == Counter({("many", i): 1 for i in range(ITEMS)})
    placed = [e for e in events(run_dir) if e["type"] == "unit_placed"]
    again = [e for e in placed if e["redispatched"]]
    assert again and len(placed) == ITEMS + len(again)
    assert len(server.requests) == ITEMS + len(again)


def start(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "rupu", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env, "PYTHONPATH": str(REPO_ROOT)},
        cwd=cwd,
    )


def interrupt(
    server: ChatCompletionsServer, args: list[str], env: dict[str, str], cwd: Path
) -> tuple[str, float, float]:
    """Starts a run, presses Ctrl-C once its units are in flight; returns the run id, when it was
    pressed (Unix time) and how long the process took to exit after it."""
    proc = start(args, env, cwd)
    deadline = time.monotonic() + 90
    while len(server.requests) < ITEMS and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    pressed, wall = time.monotonic(), time.time()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    took = time.monotonic() - pressed
    assert proc.returncode == 130, err
    first = orjson.loads(out.splitlines()[0])
    return str(first["run_id"]), wall, took


def test_ctrl_c_cancels_remote_units_and_a_ray_run_resumes_locally_and_back(
    cluster: RayCluster, workspace: Workspace
) -> None:
    env = {"RUPU_ALPHA_API_KEY": KEY}
    with ChatCompletionsServer(api_key=KEY) as server:
        server.default_reply = Latency(30)
        write_project(workspace, server)
        run = ["workflow", "run", "slow", "--format", "json"]
        on_ray, pressed, took = interrupt(
            server, [*run, "--executor", "ray"], env, workspace.project
        )
        run_dir = workspace.home / "runs" / on_ray
        assert {u["status"] for u in units(run_dir)} == {"interrupted"}
        ended = [e["ts"] for e in events(run_dir) if e["type"] == "unit_finished"]
        assert len(ended) == ITEMS and max(ended) - pressed < 2  # every unit cancelled within 2 s
        assert took < 2 + 3  # and the process gone soon after, having left the cluster
        server.default_reply = Latency(0.05)
        resumed = run_rupu("workflow", "resume", on_ray, "--executor", "local", env=env)
        assert resumed.code == 0, resumed.stderr

        server.requests.clear()
        server.default_reply = Latency(30)
        local, _, _ = interrupt(server, [*run, "--executor", "local"], env, workspace.project)
        server.default_reply = Latency(0.05)
        resumed = run_rupu("workflow", "resume", local, "--executor", "ray", env=env, timeout=120)
        assert resumed.code == 0, resumed.stderr
    for run_id in (on_ray, local):
        done = [u for u in units(workspace.home / "runs" / run_id) if u["status"] == "succeeded"]
        assert sorted(u["unit"] for u in done) == list(range(ITEMS))
    placed = [e for e in events(workspace.home / "runs" / local) if e["type"] == "unit_placed"]
    assert len(placed) == ITEMS  # the resumed half ran on Ray
