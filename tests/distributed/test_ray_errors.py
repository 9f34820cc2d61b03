"""The Ray executor's errors come before any request, in one line with exit 2: Ray not installed
(the install line), nothing listening at the cluster address, an address that is not host:port;
and `rupu executor check` of the local executor needs no cluster."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import REPO_ROOT, Workspace, run_rupu

ECHO = "---\nname: echo\nprovider: mock\n---\nYou echo.\n"
WORKFLOW = "name: one\nsteps:\n  - id: only\n    agent: echo\n    prompt: hi\n"


def write_workflow(workspace: Workspace) -> None:
    workspace.write_agent("echo", ECHO)
    (workspace.home / "workflows").mkdir(exist_ok=True)
    (workspace.home / "workflows" / "one.yaml").write_text(WORKFLOW)


def test_without_the_extra_the_ray_executor_names_the_install_line(workspace: Workspace) -> None:
    write_workflow(workspace)
    # The real CLI in a process where `import ray` fails, as it does without `rupu[ray]`.
    code = (
        "import sys; sys.modules['ray'] = None; sys.argv = ['rupu', *sys.argv[1:]]; "
        "from rupu.cli.main import main; main()"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, "workflow", "run", "one", "--executor", "ray"],
        capture_output=True,
        text=True,
        cwd=workspace.project,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert "the ray executor needs Ray, which is not installed" in proc.stderr
    assert "pip install 'rupu[ray]'" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (workspace.home / "runs").exists() or not any((workspace.home / "runs").iterdir())


def test_nothing_listening_at_the_address_is_one_line_before_any_run(workspace: Workspace) -> None:
    write_workflow(workspace)
    for address in ("127.0.0.1:1", "ray://127.0.0.1:1"):
        result = run_rupu(
            "workflow", "run", "one", "--executor", "ray", env={"RAY_ADDRESS": address}
        )
        assert result.code == 2, result.stderr
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, result.stderr
        assert f"cannot reach the Ray cluster at {address}" in lines[0]
        assert "ray start --head" in lines[0]
    assert not (workspace.home / "runs").exists() or not any((workspace.home / "runs").iterdir())


def test_a_bad_address_in_config_names_the_field(workspace: Workspace) -> None:
    write_workflow(workspace)
    workspace.write_config('[executor]\nkind = "ray"\naddress = "no-port-here"\n')
    result = run_rupu("workflow", "run", "one")
    assert result.code == 2, result.stderr
    assert "executor address 'no-port-here' is not host:port" in result.stderr


def test_executor_check_of_the_local_executor_needs_no_cluster(workspace: Workspace) -> None:
    result = run_rupu("executor", "check")
    assert result.code == 0, result.stderr
    assert (
        result.stdout
        == f"executor local: units run in this process; workspace {workspace.project}\n"
    )
    workspace.write_config('[executor]\nkind = "ray"\n')
    missing = run_rupu("executor", "check", env={"RAY_ADDRESS": "127.0.0.1:1"})
    assert missing.code == 2
    assert "cannot reach the Ray cluster at 127.0.0.1:1" in missing.stderr
