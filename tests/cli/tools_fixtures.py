"""Helpers for the `rupu run` tool tests: agents, mock scripts, transcripts, a raw subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson
import yaml

from tests.conftest import REPO_ROOT, Workspace


def write_agent(
    workspace: Workspace, name: str, front: Mapping[str, Any], body: str = "You work."
) -> None:
    header = yaml.safe_dump({"name": name, **front}, sort_keys=False)
    workspace.write_agent(name, f"---\n{header}---\n{body}\n")


def mock_script(workspace: Workspace, turns: list[dict[str, Any]], top_level: str = "") -> None:
    """Scripts the mock provider; `top_level` config keys go above the tables."""
    path = workspace.home / "script.yaml"
    path.write_text(yaml.safe_dump(turns))
    workspace.write_config(f'{top_level}[providers.mock]\nscript = "{path}"\n')


def transcript_events(workspace: Workspace) -> list[dict[str, Any]]:
    files = sorted((workspace.home / "transcripts").glob("run_*.jsonl"))
    assert files, "no transcript was written"
    return [orjson.loads(line) for line in files[-1].read_bytes().splitlines() if line.strip()]


def of_type(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e["data"] for e in events if e["type"] == kind]


def rupu_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {**os.environ, **(extra or {})}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


def run_detached(
    *args: str, cwd: Path, env: Mapping[str, str] | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """`rupu ARGS` with stdin from /dev/null (as in CI), failing the test if it hangs."""
    return subprocess.run(
        [sys.executable, "-m", "rupu", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=rupu_env(env),
        cwd=cwd,
        timeout=timeout,
        check=False,
    )
