"""Catalog merge order (custom > live > baked-in), the baked-in data, and price resolution."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from rupu.catalog.catalog import ModelCatalog, undated
from rupu.config import Config, LoadedConfig
from rupu.errors import ConfigError
from rupu.modeldata.schema import (
    LiveCache,
    LiveModel,
    Prices,
    baked_providers,
    load_baked,
    write_live,
)
from rupu.paths import Paths
from tests.conftest import REPO_ROOT, Workspace


def make(workspace: Workspace, config: dict[str, Any] | None = None) -> ModelCatalog:
    loaded = LoadedConfig(Config.model_validate(config or {}))
    return ModelCatalog(loaded, Paths(home=workspace.home, project=None, cwd=workspace.project))


def cache(workspace: Workspace, provider: str, *models: LiveModel) -> None:
    paths = Paths(home=workspace.home, project=None, cwd=workspace.project)
    write_live(
        paths,
        LiveCache(
            provider=provider,
            fetched_at="2026-05-01T00:00:00+00:00",
            source="test",
            models=list(models),
        ),
    )


def test_generated_data_is_in_sync_with_the_source() -> None:
    proc = subprocess.run(
        [sys.executable, "scripts/gen_catalog.py", "--check"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


def test_baked_in_data_covers_the_built_in_providers() -> None:
    assert baked_providers() == [
        "anthropic",
        "antigravity",
        "bedrock",
        "copilot",
        "gemini",
        "groq",
        "mock",
        "openai",
    ]
    ids: dict[str, set[str]] = {}
    for provider in baked_providers():
        baked = load_baked(provider)
        assert baked is not None
        ids[provider] = {m.id for m in baked.models}
    assert {"claude-opus-4-7", "claude-sonnet-4-6", "claude-haiku-4-5"} <= ids["anthropic"]
    assert {"gpt-5", "gpt-5-mini", "gpt-4.1", "o3", "o4-mini"} <= ids["openai"]
    assert {"gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite"} <= ids["gemini"]
    assert {"claude-sonnet-4.6", "gpt-5", "gpt-4o"} <= ids["copilot"]
    assert ids["mock"] == {"echo"}
    for provider in baked_providers():
        catalog = load_baked(provider)
        assert catalog is not None
        for model in catalog.models:
            if not catalog.priced:  # a preset's list, kept for capabilities
                assert model.prices is None, (provider, model.id)
                continue
            assert model.prices is not None, (provider, model.id)
            assert model.prices.cache_read <= model.prices.input, (provider, model.id)


def test_baked_in_only(workspace: Workspace) -> None:
    catalog = make(workspace)
    entry = catalog.find("anthropic", "claude-sonnet-4-6")
    assert entry is not None
    assert (entry.source, entry.context_window, entry.max_output) == ("baked-in", 1_000_000, 64_000)
    assert entry.prices == Prices(input=3, output=15, cache_read=0.3, cache_write=3.75)
    assert not catalog.is_open("anthropic")
    assert catalog.is_open("mock")


def test_live_beats_baked_in_and_adds_new_models(workspace: Workspace) -> None:
    cache(
        workspace,
        "anthropic",
        LiveModel(id="claude-sonnet-4-6", context_window=900_000),
        LiveModel(id="claude-haiku-4-5-20251001", name="Claude Haiku 4.5 (live)"),
        LiveModel(id="claude-next-1", name="Claude Next", context_window=2_000_000),
    )
    catalog = make(workspace)
    rows = {e.model: e for e in catalog.entries("anthropic")}
    assert rows["claude-sonnet-4-6"].source == "live"
    assert rows["claude-sonnet-4-6"].context_window == 900_000
    assert rows["claude-sonnet-4-6"].max_output == 64_000  # not in the live list: baked-in kept
    # A dated live id that is a baked-in alias joins the baked-in row.
    assert rows["claude-haiku-4-5"].source == "live"
    assert rows["claude-haiku-4-5"].name == "Claude Haiku 4.5 (live)"
    assert "claude-haiku-4-5-20251001" not in rows
    assert rows["claude-next-1"].source == "live"
    assert rows["claude-next-1"].prices is None  # no price known for a brand-new model
    assert rows["claude-opus-4-7"].source == "baked-in"


def test_custom_beats_live_field_by_field(workspace: Workspace) -> None:
    cache(workspace, "anthropic", LiveModel(id="claude-sonnet-4-6", context_window=900_000))
    catalog = make(
        workspace,
        {
            "providers": {
                "anthropic": {
                    "models": [
                        {"id": "claude-sonnet-4-6", "max_output": 8000},
                        {"id": "claude-private-ft"},
                    ]
                }
            }
        },
    )
    rows = {e.model: e for e in catalog.entries("anthropic")}
    assert rows["claude-sonnet-4-6"].source == "custom"
    assert rows["claude-sonnet-4-6"].max_output == 8000  # set by the custom entry
    assert rows["claude-sonnet-4-6"].context_window == 900_000  # left to the live cache
    assert (rows["claude-private-ft"].context_window, rows["claude-private-ft"].max_output) == (
        32768,
        8192,
    )


def test_declared_provider_is_open_until_refreshed(workspace: Workspace) -> None:
    config = {
        "providers": {
            "oracle": {
                "base_url": "http://127.0.0.1:9/v1",
                "models": [{"id": "/raid/models/GLM-5", "context_window": 131072}],
            }
        }
    }
    catalog = make(workspace, config)
    assert catalog.providers()[-1] == "oracle"
    assert catalog.is_open("oracle")
    [row] = catalog.entries("oracle")
    assert (row.model, row.source, row.context_window) == ("/raid/models/GLM-5", "custom", 131072)
    assert row.prices == Prices(input=0, output=0, cache_read=0, cache_write=0)
    cache(workspace, "oracle", LiveModel(id="glm-5"), LiveModel(id="/raid/models/GLM-5"))
    refreshed = make(workspace, config)
    assert not refreshed.is_open("oracle")
    assert [(e.model, e.source) for e in refreshed.entries("oracle")] == [
        ("/raid/models/GLM-5", "custom"),
        ("glm-5", "live"),
    ]


def canonical(catalog: ModelCatalog, provider: str, model: str) -> str | None:
    entry = catalog.find(provider, model)
    return entry.model if entry is not None else None


def test_find_accepts_aliases_and_dated_snapshots(workspace: Workspace) -> None:
    catalog = make(workspace)
    assert canonical(catalog, "anthropic", "claude-opus-4-20250514") == "claude-opus-4-0"
    assert canonical(catalog, "openai", "gpt-4o-2024-08-06") == "gpt-4o"
    assert canonical(catalog, "anthropic", "claude-sonnet-4-6-20260301") == "claude-sonnet-4-6"
    assert catalog.find("anthropic", "claude-sonet-4-6") is None
    assert undated("gpt-5-2025-08-07") == "gpt-5"
    assert undated("gpt-5") is None


def test_pricing_overrides(workspace: Workspace) -> None:
    catalog = make(
        workspace,
        {
            "providers": {"oracle": {"base_url": "http://127.0.0.1:9"}},
            "pricing": {
                "anthropic": {"claude-sonnet-4-6": {"input": 2, "output": 10}},
                "openai": {"gpt-5": {"input": 1, "output": 8, "cache_read": 0.2, "cache_write": 1}},
                "oracle": {"glm-5": {"input": 0.5, "output": 1}},
                "copilot": {"gpt-5": {"input": 1.25, "output": 10, "cache_read": 0.125}},
            },
        },
    )
    # Cache prices left out come from the catalog.
    assert catalog.price("anthropic", "claude-sonnet-4-6") == Prices(
        input=2, output=10, cache_read=0.3, cache_write=3.75
    )
    # A dated snapshot uses its model's override.
    assert catalog.price("openai", "gpt-5-2025-08-07") == Prices(
        input=1, output=8, cache_read=0.2, cache_write=1
    )
    # No catalog price: missing cache prices are the input price.
    assert catalog.price("oracle", "glm-5") == Prices(
        input=0.5, output=1, cache_read=0.5, cache_write=0.5
    )
    assert catalog.price("oracle", "other") == Prices(
        input=0, output=0, cache_read=0, cache_write=0
    )
    assert catalog.price("copilot", "gpt-5") == Prices(
        input=1.25, output=10, cache_read=0.125, cache_write=0
    )
    assert catalog.price("copilot", "gpt-4o") == Prices(
        input=0, output=0, cache_read=0, cache_write=0
    )
    assert catalog.price("anthropic", "claude-unknown-9") is None
    assert catalog.price("mock", "anything") == Prices(
        input=0, output=0, cache_read=0, cache_write=0
    )
    row = next(e for e in catalog.entries("anthropic") if e.model == "claude-sonnet-4-6")
    assert row.prices is not None and row.prices.input == 2


def test_gateway_of_a_native_kind_is_priced_like_the_vendor(workspace: Workspace) -> None:
    catalog = make(
        workspace,
        {"providers": {"claude-proxy": {"kind": "anthropic", "base_url": "http://127.0.0.1:9"}}},
    )
    prices = catalog.price("claude-proxy", "claude-haiku-4-5")
    assert prices is not None and prices.input == 1
    assert catalog.price("claude-proxy", "house-model") == Prices(
        input=0, output=0, cache_read=0, cache_write=0
    )


def test_damaged_cache_says_how_to_fix_it(workspace: Workspace) -> None:
    path = workspace.home / "cache" / "models" / "gemini.json"
    path.parent.mkdir(parents=True)
    path.write_text('{"version": 1, "provider": "gemini"')
    with pytest.raises(ConfigError) as caught:
        make(workspace).entries("gemini")
    assert "damaged" in caught.value.message
    assert "rupu models refresh --provider gemini" in (caught.value.hint or "")


def test_pricing_for_an_unknown_provider_is_an_error(workspace: Workspace) -> None:
    from rupu.config import load_config

    path = workspace.write_config(
        'default_model = "x"\n\n[pricing.antropic."claude-x"]\ninput = 1\noutput = 2\n'
    )
    paths = Paths(home=workspace.home, project=None, cwd=workspace.project)
    with pytest.raises(ConfigError) as caught:
        ModelCatalog(load_config(paths), paths)
    assert (
        caught.value.message
        == f"{path}:3: [pricing.antropic] names no provider (did you mean 'anthropic'?)"
    )
