"""Model ids are checked before any request, with did-you-mean suggestions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rupu.agents.spec import load_agent_file
from rupu.catalog.catalog import ModelCatalog
from rupu.catalog.validate import check_model, suggestions, unknown_models_allowed
from rupu.config import Config, LoadedConfig
from rupu.errors import ConfigError
from rupu.modeldata.schema import LiveCache, LiveModel, write_live
from rupu.paths import Paths
from rupu.routing.checks import check_target
from rupu.routing.target import RunTarget
from tests.conftest import Workspace


def setup(workspace: Workspace, config: dict[str, Any] | None = None) -> tuple[LoadedConfig, Paths]:
    loaded = LoadedConfig(Config.model_validate(config or {}))
    return loaded, Paths(home=workspace.home, project=None, cwd=workspace.project)


@pytest.mark.parametrize(
    ("provider", "typo", "expected"),
    [
        ("anthropic", "claude-sonet-4-6", "claude-sonnet-4-6"),
        ("anthropic", "claude-haiku-4.5", "claude-haiku-4-5"),
        ("openai", "gpt5-mini", "gpt-5-mini"),
        ("openai", "GPT-4.1", "gpt-4.1"),
        ("gemini", "gemini-2.5-flash-light", "gemini-2.5-flash-lite"),
        ("copilot", "claude-sonnet-4-6", "claude-sonnet-4.6"),
    ],
)
def test_typos_get_the_nearest_id_first(
    workspace: Workspace, provider: str, typo: str, expected: str
) -> None:
    loaded, paths = setup(workspace)
    catalog = ModelCatalog(loaded, paths)
    with pytest.raises(ConfigError) as caught:
        check_model(catalog, provider, typo)
    error = caught.value
    assert error.exit_code == 2
    assert f"unknown model '{typo}' for provider '{provider}'" in error.message
    assert f"did you mean '{expected}'" in error.message
    assert f"rupu models list --provider {provider}" in (error.hint or "")
    assert "--allow-unknown-model" in (error.hint or "")
    assert suggestions(typo, catalog.known_ids(provider))[0] == expected


def test_known_ids_aliases_and_dated_snapshots_pass(workspace: Workspace) -> None:
    loaded, paths = setup(workspace)
    catalog = ModelCatalog(loaded, paths)
    for provider, model in [
        ("anthropic", "claude-opus-4-7"),
        ("anthropic", "claude-haiku-4-5-20251001"),
        ("openai", "gpt-5-2025-08-07"),
        ("gemini", "gemini-2.5-pro"),
        ("gemini", "models/gemini-2.5-flash"),
        ("mock", "echo"),
        ("mock", "anything-at-all"),
    ]:
        check_model(catalog, provider, model)


def test_a_refreshed_live_id_passes(workspace: Workspace) -> None:
    loaded, paths = setup(workspace)
    with pytest.raises(ConfigError):
        check_model(ModelCatalog(loaded, paths), "anthropic", "claude-opus-5")
    write_live(
        paths,
        LiveCache(
            provider="anthropic",
            fetched_at="2026-05-01T00:00:00+00:00",
            source="test",
            models=[LiveModel(id="claude-opus-5")],
        ),
    )
    check_model(ModelCatalog(loaded, paths), "anthropic", "claude-opus-5")


def test_declared_provider_accepts_anything_until_it_has_a_list(workspace: Workspace) -> None:
    loaded, paths = setup(workspace, {"providers": {"oracle": {"base_url": "http://127.0.0.1:9"}}})
    check_model(ModelCatalog(loaded, paths), "oracle", "whatever/model")
    write_live(
        paths,
        LiveCache(
            provider="oracle",
            fetched_at="2026-05-01T00:00:00+00:00",
            source="test",
            models=[LiveModel(id="glm-5"), LiveModel(id="qwen3-coder")],
        ),
    )
    with pytest.raises(ConfigError) as caught:
        check_model(ModelCatalog(loaded, paths), "oracle", "glm5")
    assert "did you mean 'glm-5'" in caught.value.message


@pytest.mark.parametrize(
    ("config", "flag", "allowed"),
    [
        ({}, False, False),
        ({}, True, True),
        ({"allow_unknown_model": True}, False, True),
        ({"providers": {"anthropic": {"allow_unknown_model": True}}}, False, True),
        (
            {
                "allow_unknown_model": True,
                "providers": {"anthropic": {"allow_unknown_model": False}},
            },
            False,
            False,
        ),
        ({"providers": {"openai": {"allow_unknown_model": True}}}, False, False),
    ],
)
def test_allow_unknown_switches(
    workspace: Workspace, config: dict[str, Any], flag: bool, allowed: bool
) -> None:
    loaded, _ = setup(workspace, config)
    assert unknown_models_allowed(loaded, "anthropic", flag=flag) is allowed


def test_check_target_names_the_agent_file_and_line(workspace: Workspace) -> None:
    path = workspace.write_agent(
        "reviewer",
        "---\nname: reviewer\nprovider: anthropic\nmodel: claude-sonet-4-6\n---\nReview.\n",
    )
    spec = load_agent_file(path, "global")
    loaded, paths = setup(workspace)
    target = RunTarget("anthropic", "anthropic", "claude-sonet-4-6")
    with pytest.raises(ConfigError) as caught:
        check_target(paths, loaded, spec, target)
    assert caught.value.location is not None
    assert (Path(caught.value.location.path), caught.value.location.line) == (path, 4)
    assert caught.value.message.startswith(f"{path}:4: unknown model 'claude-sonet-4-6'")
    with pytest.raises(ConfigError) as from_flag:
        check_target(
            paths, loaded, spec, RunTarget("openai", "openai", "gpt-6x"), model_flag="gpt-6x"
        )
    assert "(from --model)" in from_flag.value.message
    check_target(paths, loaded, spec, target, allow_unknown_flag=True)
