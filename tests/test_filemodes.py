"""Issue 11 §4: files that tell rupu what to run are refused when another user could change them (with
the chmod or chown that fixes it), run records are private, and a records directory may not lead out
of `$RUPU_HOME` through a symlink."""

from __future__ import annotations

import os
import shlex
import stat
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from tests.conftest import Workspace, run_rupu

AGENT = "---\nname: {name}\nprovider: mock\n---\nWork.\n"
FLOW = "name: flow\nsteps:\n  - id: first\n    agent: worker\n    prompt: hello\n"


def one_line_refusal(args: tuple[str, ...], path: Path, fix: str) -> None:
    result = run_rupu(*args)
    assert result.code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"rupu: error: {path}: "), lines[0]
    assert f"`{fix}`" in lines[0]
    assert "Traceback" not in result.stderr


def global_config(ws: Workspace) -> Path:
    return ws.write_config('default_provider = "mock"\n')


def project_config(ws: Workspace) -> Path:
    return ws.write_config('default_provider = "mock"\n', project=True)


def agents_dir(ws: Workspace) -> Path:
    return ws.write_agent("worker", AGENT.format(name="worker")).parent


def agent_file(ws: Workspace) -> Path:
    return ws.write_agent("worker", AGENT.format(name="worker"), project=True)


def workflows_dir(ws: Workspace) -> Path:
    ws.write_agent("worker", AGENT.format(name="worker"))
    directory = ws.home / "workflows"
    directory.mkdir()
    (directory / "flow.yaml").write_text(FLOW)
    return directory


def workflow_file(ws: Workspace) -> Path:
    ws.write_agent("worker", AGENT.format(name="worker"))
    path = ws.project / ".rupu" / "workflows" / "flow.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(FLOW)
    return path


TARGETS: dict[str, tuple[Callable[[Workspace], Path], tuple[str, ...]]] = {
    "global config.toml": (global_config, ("run", "--agent", "worker", "hi")),
    "project config.toml": (project_config, ("run", "--agent", "worker", "hi")),
    "global agents/": (agents_dir, ("agent", "list")),
    "project agent file": (agent_file, ("run", "--agent", "worker", "hi")),
    "global workflows/": (workflows_dir, ("workflow", "list")),
    "project workflow file": (workflow_file, ("workflow", "run", "flow")),
}


@pytest.mark.parametrize("target", list(TARGETS), ids=list(TARGETS))
@pytest.mark.parametrize("bits", [stat.S_IWGRP, stat.S_IWOTH], ids=["group", "world"])
def test_writable_by_others_is_refused_with_the_chmod(
    workspace: Workspace, target: str, bits: int
) -> None:
    make, args = TARGETS[target]
    if target != "project agent file":  # else the global agent of that name would stand in
        workspace.write_agent("worker", AGENT.format(name="worker"))
    path = make(workspace)
    path.chmod(stat.S_IMODE(path.stat().st_mode) | bits)
    one_line_refusal(args, path, f"chmod go-w {shlex.quote(str(path))}")
    path.chmod(stat.S_IMODE(path.stat().st_mode) & ~bits)
    fixed = run_rupu(*args)
    assert fixed.code == 0, fixed.output


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
@pytest.mark.parametrize("target", list(TARGETS), ids=list(TARGETS))
def test_owned_by_another_user_is_refused_with_the_chown(workspace: Workspace, target: str) -> None:
    make, args = TARGETS[target]
    if target != "project agent file":  # else the global agent of that name would stand in
        workspace.write_agent("worker", AGENT.format(name="worker"))
    path = make(workspace)
    os.chown(path, 65534, -1)
    one_line_refusal(args, path, f"chown root {shlex.quote(str(path))}")


def test_a_path_into_a_checked_directory_is_checked_too(workspace: Workspace) -> None:
    agent = workspace.write_agent("worker", AGENT.format(name="worker"), project=True)
    flow = workflow_file(workspace)
    for path in (agent, flow):
        path.chmod(0o664)
    one_line_refusal(
        ("run", "--agent", ".rupu/agents/worker.md", "hi"), agent, f"chmod go-w {agent}"
    )
    one_line_refusal(("workflow", "run", ".rupu/workflows/flow.yaml"), flow, f"chmod go-w {flow}")


def test_one_refused_agent_file_leaves_the_others_working(workspace: Workspace) -> None:
    workspace.write_config('default_provider = "mock"\n')
    bad = workspace.write_agent("bad", AGENT.format(name="bad"))
    workspace.write_agent("good", AGENT.format(name="good"))
    bad.chmod(0o666)
    listing = run_rupu("agent", "list")
    assert "good" in listing.stdout
    assert f"{bad}: writable by group and others (mode 0666)" in listing.output
    assert run_rupu("run", "--agent", "good", "hi").code == 0
    assert run_rupu("run", "--agent", "bad", "hi").code == 2


def modes(root: Path) -> dict[str, int]:
    return {
        str(p.relative_to(root)): stat.S_IMODE(p.lstat().st_mode)
        for p in [root, *root.rglob("*")]
        if not p.is_symlink()
    }


def test_run_records_are_private_even_with_a_permissive_umask(workspace: Workspace) -> None:
    workspace.write_agent("worker", AGENT.format(name="worker"))
    (workspace.home / "workflows").mkdir()
    (workspace.home / "workflows" / "flow.yaml").write_text(FLOW)
    old = os.umask(0)
    try:
        assert run_rupu("run", "--agent", "worker", "hello").code == 0
        assert run_rupu("workflow", "run", "flow", "--plain").code == 0
    finally:
        os.umask(old)
    for name in ("runs", "transcripts"):
        found = modes(workspace.home / name)
        assert found, name
        loose = {
            path: f"{mode:04o}"
            for path, mode in found.items()
            if mode != (0o700 if (workspace.home / name / path).is_dir() else 0o600)
        }
        assert loose == {}, name


def test_loose_records_directories_are_tightened(workspace: Workspace) -> None:
    workspace.write_agent("worker", AGENT.format(name="worker"))
    for name in ("runs", "transcripts"):
        (workspace.home / name).mkdir(mode=0o755)
        (workspace.home / name).chmod(0o755)
    assert run_rupu("run", "--agent", "worker", "hello").code == 0
    assert run_rupu("workflow", "runs").code == 0
    for name in ("runs", "transcripts"):
        assert stat.S_IMODE((workspace.home / name).stat().st_mode) == 0o700


@pytest.mark.parametrize("name", ["runs", "transcripts"])
def test_a_records_symlink_out_of_home_is_refused(
    workspace: Workspace, tmp_path: Path, name: str
) -> None:
    workspace.write_agent("worker", AGENT.format(name="worker"))
    (workspace.home / "workflows").mkdir()
    (workspace.home / "workflows" / "flow.yaml").write_text(FLOW)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    link = workspace.home / name
    link.symlink_to(elsewhere)
    command = (
        ("run", "--agent", "worker", "hi")
        if name == "transcripts"
        else ("workflow", "run", "flow", "--plain")
    )
    result = run_rupu(*command)
    assert result.code == 2, result.output
    line = result.stderr.strip()
    assert line.splitlines() == [line]
    assert f"{link}: is a symlink to {elsewhere}, outside {workspace.home}" in line
    assert list(elsewhere.iterdir()) == []


def test_a_records_symlink_inside_home_is_followed(workspace: Workspace) -> None:
    workspace.write_agent("worker", AGENT.format(name="worker"))
    (workspace.home / "records").mkdir()
    (workspace.home / "transcripts").symlink_to(workspace.home / "records")
    done = run_rupu("run", "--agent", "worker", "hi")
    assert done.code == 0, done.output
    listed = run_rupu("transcript", "list", "--format", "json")
    assert len(orjson.loads(listed.stdout)["transcripts"]) == 1
