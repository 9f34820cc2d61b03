"""`[aliases]`: a short model name stands for `provider:model` in an agent's `model:`, a workflow step,
`--model` and a fallback list; `sonnet`, `opus` and `haiku` are built in and can be replaced."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rupu.agents.spec import AgentSpec, parse_agent
from rupu.config import LoadedConfig, load_config
from rupu.config.aliases import BUILTIN_ALIASES
from rupu.errors import ConfigError
from rupu.paths import Paths
from rupu.routing.plan import resolve_route
from rupu.routing.target import resolve_target
from rupu.workflows.agent_calls import Overrides
from rupu.workflows.engine import plan_workflow
from rupu.workflows.lookup import load_reference
from tests.cli.tools_fixtures import write_agent
from tests.conftest import Workspace, run_rupu
from tests.workflows.helpers import write_workflow

CONFIG = """
[providers.oracle]
base_url = "http://127.0.0.1:9"
default_model = "o-1"

[aliases]
sonnet = "oracle:glm-5"
quick = "mock:echo"
"""


def agent(front: str) -> AgentSpec:
    return parse_agent(f"---\nname: a\n{front}---\nYou help.\n", Path("a.md"), "path")


def loaded(ws: Workspace, text: str = CONFIG) -> LoadedConfig:
    ws.write_config(text)
    return load_config(Paths(ws.home, ws.project, ws.project))


def target(config: LoadedConfig, front: str, **flags: str) -> tuple[str, str]:
    found = resolve_target(agent(front), config, **flags)  # type: ignore[arg-type]
    return found.provider, found.model


def test_an_alias_names_provider_and_model_wherever_a_model_is_named(
    workspace: Workspace,
) -> None:
    config = loaded(workspace)
    assert target(config, "model: sonnet\n") == ("oracle", "glm-5")
    assert target(config, "model: quick\n") == ("mock", "echo")
    # the agent's own provider gives way to the alias, which names one
    assert target(config, "provider: anthropic\nmodel: sonnet\n") == ("oracle", "glm-5")
    # --model beats the agent, alias or not
    assert target(config, "provider: anthropic\nmodel: x\n", model="quick") == ("mock", "echo")
    # --provider elsewhere drops the agent's model, alias included; the alias's own provider keeps it
    assert target(config, "model: sonnet\n", provider="mock") == ("mock", "echo")
    assert target(config, "model: sonnet\n", provider="oracle") == ("oracle", "glm-5")
    assert target(config, "provider: mock\nmodel: sonnet\n", provider="oracle") == (
        "oracle",
        "glm-5",
    )
    # not an alias: an ordinary model id
    assert target(config, "provider: oracle\nmodel: glm-4\n") == ("oracle", "glm-4")


def test_built_in_aliases_are_anthropic_models_until_the_config_replaces_them(
    workspace: Workspace,
) -> None:
    config = loaded(workspace, "")
    assert target(config, "model: opus\n") == ("anthropic", "claude-opus-4-7")
    assert target(config, "model: haiku\n") == ("anthropic", "claude-haiku-4-5")
    assert target(config, "model: sonnet\n") == ("anthropic", "claude-sonnet-4-6")
    assert target(loaded(workspace), "model: opus\n") == ("anthropic", "claude-opus-4-7")
    for value in BUILTIN_ALIASES.values():
        assert value.startswith("anthropic:claude-")


def test_a_provider_flag_contradicting_the_alias_is_an_error(workspace: Workspace) -> None:
    config = loaded(workspace)
    with pytest.raises(ConfigError) as caught:
        target(config, "model: x\n", provider="anthropic", model="sonnet")
    assert caught.value.message == (
        "--model sonnet is the alias of oracle:glm-5, but the provider is 'anthropic'"
    )
    with pytest.raises(ConfigError) as caught:
        target(config, "provider: mock\nmodel: sonnet\n", provider="mock")
    assert caught.value.message == (
        "agent 'a' (model: sonnet) is the alias of oracle:glm-5, but the provider is 'mock'"
    )


def test_fallback_entries_may_be_aliases(workspace: Workspace) -> None:
    config = loaded(workspace)
    route = resolve_route(
        agent("provider: oracle\nfallback: [quick]\n"), config, {"RUPU_ORACLE_API_KEY": "k"}
    )
    assert [c.label for c in route.candidates] == ["oracle:o-1", "mock:echo"]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ('sonnet = "gpt-5"', "'gpt-5' is not of the form provider:model"),
        ('"a:b" = "openai:gpt-5"', "alias name 'a:b' may not be empty or hold ':' or spaces"),
        ('fast = ":x"', "is not of the form provider:model"),
    ],
)
def test_bad_aliases_are_refused_with_file_and_line(
    workspace: Workspace, entry: str, message: str
) -> None:
    path = workspace.write_config(f"[aliases]\n{entry}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(Paths(workspace.home, None, workspace.project))
    text = caught.value.one_line()
    assert text.startswith(f"{path}:2: ") and message in text


def test_a_workflow_step_may_name_an_alias(workspace: Workspace) -> None:
    workspace.write_config(CONFIG)
    workspace.write_agent("reviewer", "---\nname: reviewer\nprovider: oracle\n---\nReview.\n")
    write_workflow(
        workspace,
        "name: flow\nsteps:\n  - {id: a, agent: reviewer, model: quick, prompt: p}\n"
        "  - {id: b, agent: reviewer, prompt: p}\n",
    )
    paths = Paths.discover(os.environ, workspace.project)
    plan = plan_workflow(
        load_reference("flow", paths), paths, load_config(paths), inputs={}, overrides=Overrides()
    )
    found = {
        call.key: (call.target.provider, call.target.model)
        for step in plan.steps.values()
        for call in step.calls
    }
    assert found == {"a": ("mock", "echo"), "b": ("oracle", "o-1")}


def test_model_flag_alias_on_the_command_line(workspace: Workspace) -> None:
    workspace.write_config('[aliases]\nquick = "mock:echo"\n')
    write_agent(workspace, "helper", {"provider": "anthropic", "model": "claude-opus-4-7"})
    result = run_rupu("run", "--agent", "helper", "--model", "quick", "echo me")
    assert result.code == 0, result.stderr
    assert result.stdout == "echo me\n"
    conflict = run_rupu("run", "--agent", "helper", "--provider", "openai", "--model", "quick", "x")
    assert conflict.code == 2
    assert (
        "--model quick is the alias of mock:echo, but the provider is 'openai'" in conflict.stderr
    )
