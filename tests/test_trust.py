"""The trust store: fingerprints cover each file's security-relevant content only, and the store
round-trips through `$RUPU_HOME/trust.json`."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rupu.errors import ConfigError
from rupu.trust import TrustStore, fingerprint

AGENT = "---\nname: a\nprovider: mock\ntools: [read_file]\n---\n"
FLOW = "name: f\nsteps:\n  - id: one\n    agent: a\n    prompt: {prompt}\n"


@settings(max_examples=50, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.text(alphabet=st.characters(codec="utf-8"), max_size=200))
def test_an_agent_prompt_never_changes_the_fingerprint(tmp_path: Path, body: str) -> None:
    path = tmp_path / "a.md"
    path.write_text(AGENT + "first prompt\n")
    before = fingerprint(path)
    path.write_text(AGENT + body)
    assert fingerprint(path) == before


def test_frontmatter_changes_do(tmp_path: Path) -> None:
    path = tmp_path / "a.md"
    path.write_text(AGENT + "x\n")
    before = fingerprint(path)
    path.write_text(AGENT.replace("[read_file]", "[read_file, bash]") + "x\n")
    assert fingerprint(path) != before
    path.write_text(AGENT.replace("tools: [read_file]", "tools:\n  - read_file") + "x\n")
    assert fingerprint(path) == before


def test_config_layout_and_comments_do_not_but_values_do(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[providers.openai]\nbase_url = "http://a"\n')
    before = fingerprint(path)
    path.write_text('# a comment\n[providers.openai]\n\nbase_url   =   "http://a"\n')
    assert fingerprint(path) == before
    path.write_text('[providers.openai]\nbase_url = "http://b"\n')
    assert fingerprint(path) != before


def test_workflow_prompts_do_not_but_agent_and_provider_choices_do(tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    path.write_text(FLOW.format(prompt="hi"))
    before = fingerprint(path)
    path.write_text(FLOW.format(prompt="something else entirely"))
    assert fingerprint(path) == before
    path.write_text(FLOW.format(prompt="hi") + "    provider: openai\n")
    assert fingerprint(path) != before


def test_a_file_that_does_not_parse_is_hashed_by_its_bytes(tmp_path: Path) -> None:
    path = tmp_path / "a.md"
    path.write_text("no frontmatter\n")
    first = fingerprint(path)
    assert first.startswith("raw:")
    path.write_text("no frontmatter either\n")
    assert fingerprint(path) != first


def test_store_round_trip_and_change_detection(tmp_path: Path) -> None:
    home, root = tmp_path / "home", tmp_path / "project"
    agents = root / ".rupu" / "agents"
    agents.mkdir(parents=True)
    agent = agents / "a.md"
    agent.write_text(AGENT + "x\n")
    store = TrustStore.load(home)
    assert store.trust(root) == [".rupu/agents/a.md"]
    store.save()
    assert stat.S_IMODE((home / "trust.json").stat().st_mode) == 0o600
    again = TrustStore.load(home)
    assert again.trusts(root, agent)
    assert again.changed(root) == []
    (agents / "b.md").write_text(AGENT.replace("name: a", "name: b"))
    assert again.changed(root) == [".rupu/agents/b.md"]
    assert not again.trusts(root, agents / "b.md")
    assert again.forget(root) and not again.trusts(root, agent)


def test_a_damaged_store_is_a_config_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / "trust.json").write_text('{"version": 1, "projects": {"/x": {"oops": 1}}}')
    with pytest.raises(ConfigError, match=r"trust\.json: the trust file is not valid"):
        TrustStore.load(tmp_path)
