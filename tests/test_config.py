"""config.toml: layering, validation, errors with file:line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rupu.config import deep_merge, load_config, toml_line_finder
from rupu.errors import ConfigError
from rupu.paths import Paths
from tests.conftest import Workspace


def paths(ws: Workspace) -> Paths:
    return Paths(home=ws.home, project=ws.project, cwd=ws.project)


def test_project_layers_on_global_tables_merge_arrays_replace(workspace: Workspace) -> None:
    workspace.write_config(
        'default_provider = "oracle"\ndefault_model = "g"\n'
        '[providers.oracle]\nbase_url = "http://a"\ndefault_model = "m1"\n'
        '[[providers.oracle.models]]\nid = "m1"\n[[providers.oracle.models]]\nid = "m2"\n'
    )
    (workspace.project / ".rupu").mkdir()
    workspace.write_config(
        '[providers.oracle]\nstream = false\n[[providers.oracle.models]]\nid = "p1"\ncontext_window = 4096\n',
        project=True,
    )
    loaded = load_config(paths(workspace))
    oracle = loaded.config.providers["oracle"]
    assert oracle.base_url == "http://a" and oracle.default_model == "m1" and oracle.stream is False
    assert [(m.id, m.context_window, m.max_output) for m in oracle.models] == [("p1", 4096, 8192)]
    assert loaded.config.default_provider == "oracle"
    assert loaded.provider_files["oracle"] == workspace.project / ".rupu" / "config.toml"


def test_unknown_key_names_file_line_and_suggestion(workspace: Workspace) -> None:
    path = workspace.write_config(
        '[providers.oracle]\nbase_url = "http://a"\ndefault_modle = "x"\n'
    )
    with pytest.raises(ConfigError) as info:
        load_config(paths(workspace))
    message = info.value.one_line()
    assert message.startswith(f"{path}:3: unknown key 'providers.oracle.default_modle'")
    assert "did you mean 'default_model'" in message
    assert info.value.exit_code == 2


def test_unknown_key_in_models_array_of_tables(workspace: Workspace) -> None:
    path = workspace.write_config(
        '[providers.o]\nbase_url = "http://a"\n[[providers.o.models]]\nid = "a"\n'
        '[[providers.o.models]]\nid = "b"\ncontext = 5\n'
    )
    with pytest.raises(ConfigError) as info:
        load_config(paths(workspace))
    assert info.value.one_line().startswith(f"{path}:7: unknown key 'providers.o.models.1.context'")


@pytest.mark.parametrize("name", ["anthropic", "openai", "gemini", "copilot", "mock"])
def test_reserved_provider_names_are_rejected(workspace: Workspace, name: str) -> None:
    path = workspace.write_config(
        f'\n[providers.{name}]\nkind = "openai-compatible"\nbase_url = "http://x"\n'
    )
    with pytest.raises(ConfigError) as info:
        load_config(paths(workspace))
    assert info.value.one_line().startswith(f"{path}:2: '{name}' is a built-in provider name")


def test_builtin_tables_without_kind_are_allowed(workspace: Workspace) -> None:
    workspace.write_config('[providers.anthropic]\nbase_url = "http://gateway"\nmax_retries = 4\n')
    assert load_config(paths(workspace)).provider("anthropic").max_retries == 4


def test_custom_provider_needs_base_url(workspace: Workspace) -> None:
    workspace.write_config('[providers.my-vllm]\ndefault_model = "x"\n')
    with pytest.raises(ConfigError, match="has no base_url"):
        load_config(paths(workspace))


def test_toml_syntax_error_has_line(workspace: Workspace) -> None:
    path = workspace.write_config('default_provider = "a"\n[providers\n')
    with pytest.raises(ConfigError) as info:
        load_config(paths(workspace))
    assert info.value.one_line().startswith(f"{path}:2:11: TOML syntax error")


def test_bad_value_shows_accepted_form(workspace: Workspace) -> None:
    workspace.write_config('[providers.o]\nbase_url = "http://a"\nmax_concurrency = 0\n')
    with pytest.raises(ConfigError, match=r":3: invalid value for 'providers.o.max_concurrency'"):
        load_config(paths(workspace))


def test_secret_values_are_not_echoed_in_errors(workspace: Workspace) -> None:
    workspace.write_config('[providers.o]\nbase_url = "http://a"\napi_key = ["sk-canary-abc"]\n')
    with pytest.raises(ConfigError) as info:
        load_config(paths(workspace))
    assert "sk-canary-abc" not in info.value.one_line()


def test_no_files_is_an_empty_config(tmp_path: Path) -> None:
    loaded = load_config(Paths(home=tmp_path / "none", project=None, cwd=tmp_path))
    assert loaded.config.providers == {} and loaded.files == ()


keys = st.text(alphabet="abcdefgh", min_size=1, max_size=3)
trees = st.recursive(
    st.dictionaries(keys, st.integers() | st.lists(st.integers(), max_size=3), max_size=4),
    lambda children: st.dictionaries(keys, children, max_size=3),
    max_leaves=12,
)


@given(trees, trees)
def test_deep_merge_top_wins_on_leaves_and_keeps_base_only_keys(
    base: dict[str, Any], top: dict[str, Any]
) -> None:
    merged = deep_merge(base, top)
    for key, value in top.items():
        if not isinstance(value, dict) or not isinstance(base.get(key), dict):
            assert merged[key] == value
    for key in base.keys() - top.keys():
        assert merged[key] == base[key]


def test_line_finder_handles_quoted_dotted_keys() -> None:
    text = '[pricing.openai."gpt-4.1"]\ninput = 2\n'
    assert toml_line_finder(text)(["pricing", "openai", "gpt-4.1", "input"]) == 2


def test_config_example_loads(workspace: Workspace) -> None:
    from tests.conftest import REPO_ROOT

    workspace.write_config((REPO_ROOT / "config.example.toml").read_text())
    loaded = load_config(paths(workspace))
    assert loaded.config.providers["oracle"].models[0].context_window == 131072
