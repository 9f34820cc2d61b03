"""Routes: tiers by preference list and credentials, fallback lists, the local fallback, service
tiers; every problem found before anything is sent."""

from __future__ import annotations

from pathlib import Path

import pytest

from rupu.agents.spec import AgentSpec, parse_agent
from rupu.config import LoadedConfig, load_config
from rupu.errors import ConfigError, CredentialError
from rupu.paths import Paths
from rupu.routing.plan import Route, resolve_route
from rupu.routing.tiers import builtin_tiers, parse_entry
from tests.conftest import Workspace

TIERS = """
[routing.tiers]
fast = ["groq:llama-fast", "cerebras:gpt-oss-120b", "ollama:qwen3:8b"]
"""


def agent(**front: str | list[str]) -> AgentSpec:
    lines = ["---", "name: a"]
    for key, value in front.items():
        lines.append(f"{key}: {value}" if isinstance(value, str) else f"{key}: {list(value)}")
    lines += ["---", "You help."]
    return parse_agent("\n".join(lines), Path("a.md"), "path")


def loaded(ws: Workspace, text: str = TIERS) -> LoadedConfig:
    ws.write_config(text)
    return load_config(Paths(ws.home, ws.project, ws.project))


def labels(route: Route) -> list[str]:
    return [c.label for c in route.candidates]


def test_tier_takes_the_first_entry_with_credentials(workspace: Workspace) -> None:
    config = loaded(workspace)
    route = resolve_route(agent(model="tier:fast"), config, {"CEREBRAS_API_KEY": "k"})
    assert (route.primary.provider, route.primary.model) == ("cerebras", "gpt-oss-120b")
    assert labels(route) == ["cerebras:gpt-oss-120b", "ollama:qwen3:8b"]
    assert route.requested_model == "tier:fast"
    both = {"CEREBRAS_API_KEY": "k", "GROQ_API_KEY": "g"}
    route = resolve_route(agent(model="tier:fast"), config, both)
    assert labels(route) == ["groq:llama-fast", "cerebras:gpt-oss-120b", "ollama:qwen3:8b"]


def test_a_named_provider_restricts_the_tier(workspace: Workspace) -> None:
    config = loaded(workspace)
    env = {"CEREBRAS_API_KEY": "k", "GROQ_API_KEY": "g"}
    route = resolve_route(agent(provider="cerebras", model="tier:fast"), config, env)
    assert labels(route) == ["cerebras:gpt-oss-120b"]
    route = resolve_route(agent(), config, env, model="tier:fast", provider="ollama")
    assert labels(route) == ["ollama:qwen3:8b"]


def test_no_available_entry_says_which_and_why(workspace: Workspace) -> None:
    config = loaded(workspace, '[routing.tiers]\nfast = ["groq:a", "cerebras:b"]\n')
    with pytest.raises(ConfigError) as info:
        resolve_route(agent(model="tier:fast"), config, {})
    message = info.value.one_line()
    assert "no model of tier 'fast' is available" in message
    assert "GROQ_API_KEY" in message and "CEREBRAS_API_KEY" in message


def test_unknown_tier_is_suggested(workspace: Workspace) -> None:
    with pytest.raises(ConfigError, match="unknown tier 'fsat' \\(did you mean 'fast'\\?\\)"):
        resolve_route(agent(model="tier:fsat"), loaded(workspace), {})


def test_builtin_tiers_follow_the_credentials(workspace: Workspace) -> None:
    assert {"fast", "balanced", "frontier"} <= set(builtin_tiers())
    route = resolve_route(agent(model="tier:frontier"), loaded(workspace, ""), {"XAI_API_KEY": "x"})
    assert labels(route) == ["xai:grok-4"]


def test_claude_code_in_a_tier_needs_its_cli(workspace: Workspace) -> None:
    text = (
        '[routing.tiers]\ndeep = ["claude-code:complex", "groq:big"]\n'
        '[providers.claude-code]\ncommand = "/nonexistent/claude"\n'
    )
    route = resolve_route(agent(model="tier:deep"), loaded(workspace, text), {"GROQ_API_KEY": "g"})
    assert labels(route) == ["groq:big"]


def test_fallbacks_flags_replace_the_agent_list_and_local_fallback_comes_last(
    workspace: Workspace,
) -> None:
    config = loaded(workspace, '[routing]\nlocal_fallback = "ollama:llama3.2"\n')
    env = {"GROQ_API_KEY": "g", "CEREBRAS_API_KEY": "c", "OPENROUTER_API_KEY": "o"}
    spec = agent(provider="groq", model="m", fallback=["cerebras:c1", "openrouter"])
    route = resolve_route(spec, config, env)
    assert labels(route) == [
        "groq:m",
        "cerebras:c1",
        "openrouter:openrouter/auto",
        "ollama:llama3.2",
    ]
    route = resolve_route(spec, config, env, fallbacks=("cerebras:c2",))
    assert labels(route) == ["groq:m", "cerebras:c2", "ollama:llama3.2"]
    assert route.candidates[-1].credential == "none (no key needed)"


def test_a_fallback_without_credentials_fails_before_the_run(workspace: Workspace) -> None:
    spec = agent(provider="groq", model="m", fallback=["cerebras:c1"])
    with pytest.raises(CredentialError) as info:
        resolve_route(spec, loaded(workspace, ""), {"GROQ_API_KEY": "g"})
    assert "remove 'cerebras:c1' from the fallback list" in info.value.one_line()


def test_entries_keep_colons_in_model_ids() -> None:
    assert parse_entry("ollama:qwen3:8b") == ("ollama", "qwen3:8b")
    assert parse_entry("openrouter") == ("openrouter", None)
    with pytest.raises(ConfigError):
        parse_entry(":m")


def test_service_tier_is_checked_against_the_provider(workspace: Workspace) -> None:
    config = loaded(workspace, "")
    env = {"GROQ_API_KEY": "g"}
    route = resolve_route(agent(provider="groq", model="m", serviceTier="flex"), config, env)
    assert route.service_tier == "flex"
    with pytest.raises(ConfigError) as info:
        resolve_route(agent(provider="groq", model="m", serviceTier="priority"), config, env)
    assert "does not offer service tier 'priority' (it offers: flex)" in info.value.one_line()
    with pytest.raises(ConfigError, match="it offers: none"):
        resolve_route(agent(provider="mock", serviceTier="flex"), config, {})


def test_frontmatter_fallback_and_service_tier_are_validated() -> None:
    assert agent(fallback="groq:m").frontmatter.fallback == ["groq:m"]
    with pytest.raises(ConfigError, match="provider:model"):
        agent(fallback=["groq m"])
    with pytest.raises(ConfigError, match="serviceTier"):
        agent(serviceTier="turbo")
