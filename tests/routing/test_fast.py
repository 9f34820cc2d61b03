"""Fast mode applies to the openai provider alone (API key and ChatGPT sign-in routes) and is refused,
with a note naming the provider, everywhere else."""

from __future__ import annotations

import pytest

from rupu.config import LoadedConfig, ProviderConfig, load_config
from rupu.paths import Paths
from rupu.routing.fast import FAST_TIER, fast_refusal, with_fast_mode
from rupu.routing.plan import route_for_target
from rupu.routing.target import RunTarget
from tests.conftest import Workspace
from tests.providers.responses_support import make_provider, request, run_turn
from tests.servers.openai_responses import ResponsesServer, ResponseStream, fake_jwt, stream_reply


@pytest.mark.parametrize(
    ("provider", "kind", "base_url"),
    [("openai", "openai", None), ("openai", "openai", "https://chatgpt.com")],
)
def test_fast_applies_on_openai_routes(provider: str, kind: str, base_url: str | None) -> None:
    assert fast_refusal(provider, kind, base_url) is None


@pytest.mark.parametrize(
    ("provider", "kind", "base_url", "named"),
    [
        ("copilot", "copilot", None, "GitHub Copilot"),
        ("azure-openai-responses", "openai-responses", "https://r.openai.azure.com/openai/v1", "Azure OpenAI"),
        ("openai", "openai", "https://r.openai.azure.com/openai/v1", "Azure OpenAI"),
        ("openrouter", "openai-compatible", "https://openrouter.ai/api/v1", "OpenRouter"),
        ("my-gateway", "openai-responses", "https://llm.internal", "not OpenAI's own API"),
        ("groq", "openai-compatible", "https://api.groq.com/openai/v1", "not OpenAI's own API"),
    ],
)  # fmt: skip
def test_fast_is_refused_elsewhere_with_a_note(
    provider: str, kind: str, base_url: str, named: str
) -> None:
    note = fast_refusal(provider, kind, base_url)
    assert note is not None
    assert note.startswith(f"fast mode does not apply to {provider} ({named})")
    assert "usual tier" in note


def loaded(workspace: Workspace) -> LoadedConfig:
    return load_config(Paths(home=workspace.home, project=None, cwd=workspace.project))


def test_with_fast_mode_sets_the_priority_tier_on_openai(workspace: Workspace) -> None:
    route = route_for_target(
        RunTarget("openai", "openai", "gpt-5-mini"), loaded(workspace), {"OPENAI_API_KEY": "k"}
    )
    fast, note = with_fast_mode(route)
    assert note is None and fast.fast and fast.service_tier == FAST_TIER


def test_with_fast_mode_leaves_openrouter_alone(workspace: Workspace) -> None:
    route = route_for_target(
        RunTarget("openrouter", "openai-compatible", "openrouter/auto"),
        loaded(workspace),
        {"OPENROUTER_API_KEY": "k"},
    )
    same, note = with_fast_mode(route)
    assert same is route and note is not None and "OpenRouter" in note


@pytest.mark.anyio
async def test_the_chatgpt_route_sends_the_priority_tier() -> None:
    """Fast mode on a ChatGPT sign-in: the Codex backend gets `service_tier: priority` too."""
    token = fake_jwt("acct-fast")
    with ResponsesServer(sso_token=token, account_id="acct-fast") as server:
        server.script.append(stream_reply(ResponseStream().text(["Ok."]).completed()))
        provider = make_provider(
            ProviderConfig(sso_base_url=server.base_url, base_url="http://127.0.0.1:9"),
            secret=token,
            mode="sso",
        )
        turn, _ = await run_turn(provider, request("go", service_tier=FAST_TIER))
        await provider.aclose()
    (sent,) = server.requests
    assert sent.path == "/backend-api/codex/responses"
    assert sent.body["service_tier"] == "priority"
    assert turn.message.text() == "Ok."
