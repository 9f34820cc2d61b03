"""`run` steps from the command line: results other steps read, allow_failure, the permission modes,
cwd and env, timeout and retries, resume, project trust, and secrets kept out of commands and records."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from rupu.testing import CliRunner
from rupu.testing.cli import CliResult
from tests.conftest import REPO_ROOT, Workspace, run_rupu

MOCK_AGENT = "---\nname: echo\nprovider: mock\nmodel: echo\n---\nRepeat.\n"
SECRET = "sk-proj-" + "Zq4" * 10


def run_flow(
    workspace: Workspace, text: str, *args: str, env: dict[str, str | None] | None = None
) -> CliResult:
    path = workspace.project / "flows" / "flow.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    agents = workspace.project / "agents"
    agents.mkdir(exist_ok=True)
    (agents / "echo.md").write_text(MOCK_AGENT)
    with CliRunner(home=workspace.home, cwd=workspace.project, env=env) as cli:
        return cli.invoke(["workflow", "run", str(path), "--plain", *args])


def test_stdout_stderr_and_exit_code_feed_later_steps(workspace: Workspace) -> None:
    result = run_flow(
        workspace,
        """name: flow
steps:
  - id: test
    run: "echo 3 passed; echo 1 failed >&2; exit 4"
    allow_failure: true
  - id: report
    agent: echo
    prompt: "exit={{ steps.test.exit_code }} out={{ steps.test.stdout | trim }} err={{ steps.test.stderr | trim }} ok={{ steps.test.success }}"
""",
        "--mode",
        "bypass",
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "exit=4 out=3 passed err=1 failed ok=True"
    assert "test running $ echo 3 passed; echo 1 failed >&2; exit 4" in result.stderr


def test_a_failing_command_fails_the_run_with_its_exit_code(workspace: Workspace) -> None:
    result = run_flow(
        workspace, "name: flow\nsteps:\n  - id: test\n    run: 'echo broken >&2; exit 2'\n",
        "--mode", "bypass",
    )  # fmt: skip
    assert result.exit_code != 0
    assert "step 'test' failed: the command exited with code 2: broken" in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("mode", "config", "ran"),
    [
        ("readonly", "", False),
        ("ask", "", False),
        ("ask", '[tools.bash]\nallow = ["touch made"]\n', True),
        ("bypass", "", True),
    ],
)
def test_commands_pass_the_bash_tools_permission_modes(
    workspace: Workspace, mode: str, config: str, ran: bool
) -> None:
    if config:
        workspace.write_config(config)
    result = run_flow(
        workspace, "name: flow\nsteps:\n  - id: make\n    run: touch made\n", "--mode", mode
    )
    assert (workspace.project / "made").exists() == ran
    assert (result.exit_code == 0) == ran, result.output
    if not ran:
        assert f"the command was not run: in permission mode {mode}" in result.stderr or (
            f"permission mode {mode} (from --mode) denies commands" in result.stderr
        )
        assert "--mode bypass" in result.stderr


def test_cwd_env_and_shell_quote(workspace: Workspace) -> None:
    (workspace.project / "sub").mkdir()
    result = run_flow(
        workspace,
        """name: flow
inputs:
  word: {default: "it's; rm -rf /"}
steps:
  - id: where
    run: 'echo "$(basename "$PWD") $GREETING" {{ inputs.word | shell_quote }}'
    cwd: sub
    env: {GREETING: "hello {{ inputs.word | length }}"}
  - id: out
    agent: echo
    prompt: "{{ steps.where.output }}"
""",
        "--mode",
        "bypass",
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "sub hello 14 it's; rm -rf /"


def test_cwd_outside_the_workspace_is_refused(workspace: Workspace) -> None:
    result = run_flow(
        workspace, "name: flow\nsteps:\n  - id: up\n    run: pwd\n    cwd: ../..\n",
        "--mode", "bypass",
    )  # fmt: skip
    assert result.exit_code != 0
    assert "step 'up' failed: cwd: ../..:" in result.stderr


def test_timeout_kills_the_command_and_retries_run_it_again(workspace: Workspace) -> None:
    slow = run_flow(
        workspace, "name: flow\nsteps:\n  - id: slow\n    run: sleep 30\n    timeout: 300ms\n",
        "--mode", "bypass",
    )  # fmt: skip
    assert slow.exit_code != 0
    assert "step 'slow' failed: timed out after 0.3s" in slow.stderr
    flaky = run_flow(
        workspace,
        "name: flow\nsteps:\n  - id: flaky\n    run: 'test -f tried || { touch tried; exit 1; }'\n"
        "    retries: 1\n",
        "--mode",
        "bypass",
    )
    assert flaky.exit_code == 0, flaky.output
    runs = sorted((workspace.home / "runs").glob("run_*"))
    units = [orjson.loads(line) for line in (runs[-1] / "units.jsonl").read_bytes().splitlines()]
    assert [(u["step"], u["status"], u["attempts"]) for u in units] == [("flaky", "succeeded", 2)]


def test_resume_reuses_a_finished_command(workspace: Workspace) -> None:
    text = """name: flow
steps:
  - id: count
    run: echo once >> count.txt
  - id: check
    run: test -f ready
    depends_on: [count]
"""
    first = run_flow(workspace, text, "--mode", "bypass")
    assert first.exit_code != 0
    run_id = next((workspace.home / "runs").glob("run_*")).name
    (workspace.project / "ready").touch()
    with CliRunner(home=workspace.home, cwd=workspace.project) as cli:
        resumed = cli.invoke(["workflow", "resume", run_id, "--plain", "--mode", "bypass"])
    assert resumed.exit_code == 0, resumed.output
    assert (workspace.project / "count.txt").read_text() == "once\n"


def test_a_project_workflow_with_a_command_needs_trust(workspace: Workspace) -> None:
    flows = workspace.project / ".rupu" / "workflows"
    flows.mkdir(parents=True)
    (flows / "make.yaml").write_text("name: make\nsteps:\n  - id: make\n    run: touch made\n")
    with CliRunner(home=workspace.home, cwd=workspace.project) as cli:
        refused = cli.invoke(["workflow", "run", "make", "--mode", "bypass"])
        assert refused.exit_code == 2
        assert "make.yaml:4: workflow step 'make' runs a command" in refused.stderr
        assert "is not trusted" in refused.stderr
        assert not (workspace.project / "made").exists()
        shown = cli.invoke(["workflow", "show", "make"])
        assert "needs trust:" in shown.stdout and "runs a command" in shown.stdout
        once = cli.invoke(["--trust", "workflow", "run", "make", "--mode", "bypass"])
        assert once.exit_code == 0, once.output
        assert (workspace.project / "made").exists()
        recorded = cli.invoke(["trust"])
        assert recorded.exit_code == 0, recorded.output
        assert "workflow step 'make' runs a command (`run: touch made`)" in recorded.stdout
        assert cli.invoke(["workflow", "run", "make", "--mode", "bypass"]).exit_code == 0
        (flows / "make.yaml").write_text("name: make\nsteps:\n  - id: make\n    run: touch other\n")
        changed = cli.invoke(["workflow", "run", "make", "--mode", "bypass"])
    assert changed.exit_code == 2, "a changed command needs trust again"
    assert not (workspace.project / "other").exists()


def test_commands_get_no_credentials_and_records_hold_none(workspace: Workspace) -> None:
    (workspace.project / "key.txt").write_text(SECRET)
    result = run_flow(
        workspace,
        """name: flow
steps:
  - id: leak
    run: 'echo "env=${OPENAI_API_KEY:-unset}"; cat key.txt >&2; exit 1'
    allow_failure: true
  - id: out
    agent: echo
    prompt: "{{ steps.leak.stdout }} {{ steps.leak.stderr }}"
""",
        "--mode",
        "bypass",
        env={"OPENAI_API_KEY": SECRET},
    )
    assert result.exit_code == 0, result.output
    assert "env=unset" in result.stdout
    assert SECRET not in result.output
    for path in (workspace.home / "runs").rglob("*"):
        if path.is_file():
            assert SECRET not in path.read_text(errors="replace"), path


def test_show_describes_run_steps(workspace: Workspace) -> None:
    path: Path = workspace.project / "flow.yaml"
    path.write_text(
        "name: flow\nsteps:\n  - id: test\n    run: |\n      make lint\n      make test\n"
        "    allow_failure: true\n"
    )
    with CliRunner(home=workspace.home, cwd=workspace.project) as cli:
        text = cli.invoke(["workflow", "show", str(path)])
        as_json = cli.invoke(["workflow", "show", str(path), "--format", "json"])
    assert "1. test  run: make lint… (allow_failure)" in text.stdout
    step = orjson.loads(as_json.stdout)["steps"][0]
    assert (step["kind"], step["run"], step["allow_failure"]) == (
        "run",
        "make lint\nmake test\n",
        True,
    )


def test_the_ci_fix_example_runs_the_fixer_only_when_tests_fail(workspace: Workspace) -> None:
    path = str(REPO_ROOT / "workflows" / "ci-fix.yaml")
    common = ("workflow", "run", path, "--provider", "mock", "--mode", "bypass", "--plain")
    passing = run_rupu(*common, "--input", "test_command=echo 5 passed")
    assert passing.code == 0, passing.stderr
    assert "fix skipped" in passing.stderr and "verify skipped" in passing.stderr
    failing = run_rupu(*common, "--input", "test_command=echo 1 failed >&2; exit 1")
    assert failing.code != 0
    assert "✓ fix succeeded" in failing.stderr
    assert "step 'verify' failed: the command exited with code 1: 1 failed" in failing.stderr


def test_sigterm_kills_a_running_commands_process_group(workspace: Workspace) -> None:
    flows = workspace.project / "flows"
    flows.mkdir()
    (flows / "flow.yaml").write_text(
        "name: flow\nsteps:\n  - id: slow\n    run: 'sleep 60 & echo $! > child.pid; wait'\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    argv = [sys.executable, "-m", "rupu", "workflow", "run", "flows/flow.yaml", "--plain"]
    proc = subprocess.Popen(
        [*argv, "--mode", "bypass"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=workspace.project,
    )
    pid_file = workspace.project / "child.pid"
    deadline = time.monotonic() + 20
    while not pid_file.exists() or not pid_file.read_text().strip():
        assert time.monotonic() < deadline and proc.poll() is None, "the command never started"
        time.sleep(0.05)
    child = int(pid_file.read_text())
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 143, stderr
    deadline = time.monotonic() + 5
    while _alive(child):
        assert time.monotonic() < deadline, "the command's process group outlived the run"
        time.sleep(0.05)
    run_id = next((workspace.home / "runs").glob("run_*")).name
    units = (workspace.home / "runs" / run_id / "units.jsonl").read_text()
    assert '"status":"interrupted"' in units


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A killed child not yet reaped by its (dead) parent is a zombie: gone for our purpose.
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "State:\tZ" in status.read_text())


def test_after_sigkill_resume_runs_only_the_unfinished_command(workspace: Workspace) -> None:
    flows = workspace.project / "flows"
    flows.mkdir()
    (flows / "flow.yaml").write_text(
        "name: flow\nsteps:\n  - id: first\n    run: echo first >> log\n"
        "  - id: second\n    depends_on: [first]\n"
        "    run: 'echo $$ > second.pid; echo second >> log; test -f fast || sleep 60'\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    argv = [sys.executable, "-m", "rupu", "workflow", "run", "flows/flow.yaml", "--mode", "bypass"]
    proc = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=workspace.project
    )
    log, pid_file = workspace.project / "log", workspace.project / "second.pid"
    deadline = time.monotonic() + 20
    while "second" not in (log.read_text() if log.exists() else ""):
        assert time.monotonic() < deadline and proc.poll() is None, "the command never started"
        time.sleep(0.05)
    proc.kill()
    proc.wait(timeout=10)
    os.killpg(int(pid_file.read_text()), signal.SIGKILL)  # the orphaned command's group
    (workspace.project / "fast").touch()
    run_id = next((workspace.home / "runs").glob("run_*")).name
    with CliRunner(home=workspace.home, cwd=workspace.project) as cli:
        resumed = cli.invoke(["workflow", "resume", run_id, "--plain", "--mode", "bypass"])
    assert resumed.exit_code == 0, resumed.output
    assert log.read_text() == "first\nsecond\nsecond\n"
