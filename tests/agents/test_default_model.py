"""Which model an agent that names only its provider runs on, with no config file at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from rupu.agents.spec import parse_agent
from rupu.config import load_config
from rupu.paths import Paths
from rupu.routing.target import resolve_target
from tests.conftest import Workspace


@pytest.mark.parametrize(
    ("provider", "model"),
    [
        ("anthropic", "claude-sonnet-4-6"),
        ("openai", "gpt-5.4"),
        ("gemini", "gemini-2.5-pro"),
        ("copilot", "gpt-5-mini"),
        ("mock", "echo"),
    ],
)
def test_builtin_providers_run_on_the_catalog_default(
    workspace: Workspace, provider: str, model: str
) -> None:
    assert not (workspace.home / "config.toml").exists()
    loaded = load_config(
        Paths(home=workspace.home, project=workspace.project, cwd=workspace.project)
    )
    text = f"---\nname: plain\nprovider: {provider}\n---\n\nHelp.\n"
    spec = parse_agent(text, Path("plain.md"), "global")
    target = resolve_target(spec, loaded)
    assert (target.provider, target.model) == (provider, model)


def test_the_config_default_model_still_wins(workspace: Workspace) -> None:
    workspace.write_config('[providers.anthropic]\ndefault_model = "claude-haiku-4-5"\n')
    loaded = load_config(
        Paths(home=workspace.home, project=workspace.project, cwd=workspace.project)
    )
    spec = parse_agent("---\nname: p\nprovider: anthropic\n---\n\nHi.\n", Path("p.md"), "global")
    assert resolve_target(spec, loaded).model == "claude-haiku-4-5"
