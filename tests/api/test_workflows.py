"""`run_workflow` runs a workflow on the CLI's engine and run store; `list_models` lists the
catalog; the sync wrappers block; `import rupu` stays light until an API name is used."""

from __future__ import annotations

import subprocess
import sys

import pytest

import rupu
from rupu.api import list_models, load_workflow, run_workflow
from rupu.errors import ConfigError, UsageError
from tests.conftest import REPO_ROOT, Workspace, run_rupu

pytestmark = pytest.mark.anyio

ECHO = "---\nname: echo\nprovider: mock\n---\nYou echo.\n"
FANOUT = """\
name: greet
inputs:
  names: {type: list}
steps:
  - id: hello
    agent: echo
    for_each: "{{ inputs.names }}"
    prompt: "hello {{ item }}"
  - id: join
    agent: echo
    prompt: "{{ steps.hello.results | join(', ') }}"
"""


def write_workflow(workspace: Workspace) -> None:
    workspace.write_agent("echo", ECHO)
    (workspace.home / "workflows").mkdir()
    (workspace.home / "workflows" / "greet.yaml").write_text(FANOUT)


async def test_a_workflow_runs_and_is_recorded_like_the_cli(workspace: Workspace) -> None:
    write_workflow(workspace)
    outcome = await run_workflow("greet", {"names": ["Ada", "Grace"]})
    assert outcome.status == "succeeded", outcome.error
    assert outcome.outputs == {"join": "hello Ada, hello Grace"}
    shown = run_rupu("workflow", "show-run", outcome.run_id, "--format", "json")
    assert shown.code == 0, shown.stderr
    assert '"succeeded"' in shown.stdout


async def test_a_bad_input_fails_before_a_run_exists(workspace: Workspace) -> None:
    write_workflow(workspace)
    with pytest.raises(UsageError, match="unknown input 'nmes' \\(did you mean 'names'\\?\\)"):
        await run_workflow("greet", {"nmes": ["Ada"]})
    assert list(workspace.home.glob("runs/*")) == []


async def test_a_failed_step_is_an_outcome_not_an_exception(workspace: Workspace) -> None:
    write_workflow(workspace)
    script = workspace.project / "script.yaml"
    script.write_text("- error: {message: the model is tired, status: 400, type: tired}\n")
    workspace.write_config(f'[providers.mock]\nscript = "{script}"\n')
    outcome = await run_workflow("greet", {"names": ["Ada"]})
    assert outcome.status == "failed"
    assert outcome.failed == ["hello"]


def test_load_workflow_checks_without_running(workspace: Workspace) -> None:
    write_workflow(workspace)
    loaded = load_workflow("greet")
    assert loaded.name == "greet" and [s.id for s in loaded.workflow.steps] == ["hello", "join"]
    with pytest.raises(ConfigError, match="greet"):
        load_workflow("gret")


def test_list_models_lists_the_catalog_and_rejects_unknown_providers() -> None:
    (echo,) = list_models("mock")
    assert (echo.provider, echo.model, echo.default) == ("mock", "echo", True)
    assert {e.provider for e in list_models()} >= {"anthropic", "openai", "mock"}
    with pytest.raises(ConfigError, match="anthropc"):
        list_models("anthropc")


def test_the_sync_wrappers_block_until_the_run_ends(workspace: Workspace) -> None:
    write_workflow(workspace)
    assert str(rupu.run_agent_sync("echo", "sync hello")) == "sync hello"
    assert rupu.run_workflow_sync("greet", {"names": ["Lin"]}).outputs == {"join": "hello Lin"}


def test_import_rupu_and_help_do_not_load_the_api() -> None:
    code = (
        "import sys, rupu\n"
        "assert 'rupu.api' not in sys.modules\n"
        "assert callable(rupu.run_agent) and 'rupu.api' in sys.modules\n"
        "try:\n    rupu.nothing\nexcept AttributeError as e:\n    print(e)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "module 'rupu' has no attribute 'nothing'\n"
    helped = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "rupu", "--help"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=False,
    )
    assert helped.returncode == 0, helped.stderr
    assert "rupu.api" not in helped.stderr
