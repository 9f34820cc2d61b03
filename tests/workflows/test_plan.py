"""Which provider, model and credential mode each step resolves to: command line > step > agent >
provider default; moving an agent to another provider drops the agent's model (not its auth mode)."""

from __future__ import annotations

import os

import pytest

from rupu.config import load_config
from rupu.paths import Paths
from rupu.workflows.agent_calls import Overrides
from rupu.workflows.engine import plan_workflow
from rupu.workflows.lookup import load_reference
from tests.conftest import Workspace
from tests.workflows.helpers import write_workflow

FLOW = """
name: flow
steps:
  - {id: as_written, agent: reviewer, prompt: p}
  - {id: other_model, agent: reviewer, model: gpt-x, prompt: p}
  - {id: other_provider, agent: reviewer, provider: beta, prompt: p}
  - {id: sso, agent: reviewer, auth: sso, prompt: p}
  - id: fan
    provider: beta
    parallel:
      - {id: inherits, agent: reviewer, prompt: p}
      - {id: own, agent: reviewer, provider: alpha, model: a-2, auth: api-key, prompt: p}
"""


def targets(workspace: Workspace, overrides: Overrides) -> dict[str, tuple[str, str, str | None]]:
    workspace.write_config(
        '[providers.alpha]\nbase_url = "http://127.0.0.1:9"\ndefault_model = "a-1"\n'
        '[providers.beta]\nbase_url = "http://127.0.0.1:9"\ndefault_model = "b-1"\n'
    )
    workspace.write_agent(
        "reviewer",
        "---\nname: reviewer\nprovider: alpha\nmodel: a-9\nauth: api-key\n---\nReview.\n",
        project=True,
    )
    write_workflow(workspace, FLOW)
    paths = Paths.discover(os.environ, workspace.project)
    plan = plan_workflow(
        load_reference("flow", paths), paths, load_config(paths), inputs={}, overrides=overrides
    )
    return {
        call.key: (call.target.provider, call.target.model, call.target.auth)
        for step in plan.steps.values()
        for call in step.calls
    }


def test_step_overrides_beat_the_agent(workspace: Workspace) -> None:
    assert targets(workspace, Overrides()) == {
        "as_written": ("alpha", "a-9", "api-key"),
        "other_model": ("alpha", "gpt-x", "api-key"),
        "other_provider": ("beta", "b-1", "api-key"),
        "sso": ("alpha", "a-9", "sso"),
        "fan/inherits": ("beta", "b-1", "api-key"),
        "fan/own": ("alpha", "a-2", "api-key"),
    }


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (Overrides("mock"), ("mock", "echo")),
        (Overrides("beta", "forced"), ("beta", "forced")),
    ],
)
def test_command_line_overrides_beat_every_step(
    workspace: Workspace, overrides: Overrides, expected: tuple[str, str]
) -> None:
    assert {(p, m) for p, m, _ in targets(workspace, overrides).values()} == {expected}


def test_a_model_alone_applies_to_every_step_on_its_own_provider(workspace: Workspace) -> None:
    found = targets(workspace, Overrides(model="m-all"))
    assert {model for _, model, _ in found.values()} == {"m-all"}
    assert found["other_provider"][0] == "beta" and found["sso"][2] == "sso"
