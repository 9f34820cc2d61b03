"""Issue 11 §5: running out of file descriptors. rupu raises its soft open-file limit toward the hard
one, keeps a fan-out's units in flight within the descriptors it has, and never drops a record."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import orjson

from rupu.openfiles import FDS_PER_UNIT
from tests.conftest import REPO_ROOT, Workspace

UNITS = 1000


def limited(soft: int, hard: int) -> Callable[[], None]:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    return apply


def rupu_limited(soft: int, hard: int, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "rupu", *args],
        capture_output=True,
        text=True,
        env=env,
        preexec_fn=limited(soft, hard),
        timeout=170,
        check=False,
    )


def test_a_thousand_unit_fan_out_at_a_low_hard_limit_keeps_every_record(
    workspace: Workspace,
) -> None:
    script = workspace.home / "script.yaml"
    script.write_text("- text: done\n  delay_ms: 20\n")
    workspace.write_config(f'[providers.mock]\nscript = "{script}"\n')
    workspace.write_agent("worker", "---\nname: worker\nprovider: mock\ntools: []\n---\nW.\n")
    flows = workspace.home / "workflows"
    flows.mkdir()
    (flows / "wide.yaml").write_text(
        "name: wide\nsteps:\n  - id: fan\n    agent: worker\n"
        f"    for_each: {list(range(UNITS))}\n    prompt: 'item {{{{ item }}}}'\n"
    )
    # Without the budget, 1000 units in flight hold 1000 transcripts open at once.
    done = rupu_limited(256, 256, "workflow", "run", "wide", "--format", "json")
    assert "Traceback" not in done.stderr
    assert done.returncode == 0, done.stderr[-2000:]
    run_id = orjson.loads(done.stdout.splitlines()[-1])["run_id"]
    directory = workspace.home / "runs" / run_id
    records = [orjson.loads(line) for line in (directory / "units.jsonl").read_bytes().splitlines()]
    assert sorted(r["unit"] for r in records) == list(range(UNITS))
    assert {r["status"] for r in records} == {"succeeded"}
    transcripts = sorted((directory / "transcripts").glob("fan.*.jsonl"))
    assert len(transcripts) == UNITS
    for path in transcripts:
        kinds = [orjson.loads(line)["type"] for line in path.read_bytes().splitlines()]
        assert kinds[:2] == ["run_start", "user_prompt"], path
        assert kinds[-1] == "run_complete", path
    in_flight, most, finished = 0, 0, 0
    for event in map(orjson.loads, (directory / "events.jsonl").read_bytes().splitlines()):
        if event["type"] == "unit_started":
            in_flight += 1
            most = max(most, in_flight)
        elif event["type"] == "unit_finished":
            in_flight, finished = in_flight - 1, finished + 1
    assert finished == UNITS
    assert 1 < most <= 256 // FDS_PER_UNIT  # bounded by the descriptor budget, still concurrent


def test_the_soft_limit_is_raised_to_the_hard_one(workspace: Workspace, tmp_path: Path) -> None:
    script = workspace.home / "script.yaml"
    script.write_text(
        "- tool_calls: [{name: bash, arguments: {command: 'ulimit -Sn'}}]\n- text: done\n"
    )
    workspace.write_config(f'[providers.mock]\nscript = "{script}"\n')
    workspace.write_agent("shell", "---\nname: shell\nprovider: mock\ntools: [bash]\n---\nS.\n")
    done = rupu_limited(256, 2048, "run", "--agent", "shell", "--mode", "bypass", "limit?")
    assert done.returncode == 0, done.stderr
    (path,) = (workspace.home / "transcripts").glob("run_*.jsonl")
    results = [
        e["data"]["output"]
        for e in map(orjson.loads, path.read_bytes().splitlines())
        if e["type"] == "tool_result"
    ]
    assert len(results) == 1
    assert "2048" in results[0]
