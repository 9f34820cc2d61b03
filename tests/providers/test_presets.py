"""Every preset against a loopback server: its path, where its key goes, and its request quirks."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest

from rupu.config import ProviderConfig, load_config, with_preset
from rupu.config.presets import (
    expand_base_url,
    load_presets,
    normalise_host,
    preset_names,
)
from rupu.errors import ConfigError, CredentialError
from rupu.messages import Message, ModelRequest
from rupu.paths import Paths
from rupu.providers.base import TurnBuilder
from rupu.providers.registry import known_providers, provider_kind
from rupu.routing.cooldown import CooldownRegistry
from rupu.routing.plan import build_route_provider, route_for_target
from rupu.routing.target import RunTarget
from tests.conftest import Workspace
from tests.servers.openai_chat import ChatCompletionsServer, stream_reply, text_stream, usage

CF_ENV = {"CLOUDFLARE_ACCOUNT_ID": "acct123", "CLOUDFLARE_GATEWAY_ID": "gw456"}

# name: (request path, key variable or None, auth header, max-tokens field, reasoning key, stream usage)
EXPECTED: dict[str, tuple[str, str | None, str, str, str | None, bool]] = {
    "openrouter": ("/api/v1/chat/completions", "OPENROUTER_API_KEY", "authorization", "max_tokens", "reasoning", True),
    "groq": ("/openai/v1/chat/completions", "GROQ_API_KEY", "authorization", "max_completion_tokens", None, True),  # its default model does not reason
    "xai": ("/v1/chat/completions", "XAI_API_KEY", "authorization", "max_completion_tokens", None, True),
    "mistral": ("/v1/chat/completions", "MISTRAL_API_KEY", "authorization", "max_tokens", None, False),
    "cerebras": ("/v1/chat/completions", "CEREBRAS_API_KEY", "authorization", "max_completion_tokens", "reasoning_effort", True),
    "deepseek": ("/chat/completions", "DEEPSEEK_API_KEY", "authorization", "max_tokens", None, True),
    "together": ("/v1/chat/completions", "TOGETHER_API_KEY", "authorization", "max_tokens", None, True),
    "fireworks": ("/inference/v1/chat/completions", "FIREWORKS_API_KEY", "authorization", "max_tokens", "reasoning_effort", True),
    "huggingface": ("/v1/chat/completions", "HF_TOKEN", "authorization", "max_tokens", None, True),
    "perplexity": ("/chat/completions", "PERPLEXITY_API_KEY", "authorization", "max_tokens", None, False),
    "zai": ("/api/paas/v4/chat/completions", "ZAI_API_KEY", "authorization", "max_tokens", "thinking", True),
    "moonshot": ("/v1/chat/completions", "MOONSHOT_API_KEY", "authorization", "max_tokens", None, True),
    "moonshotai": ("/v1/chat/completions", "MOONSHOT_API_KEY", "authorization", "max_tokens", None, True),
    "moonshotai-cn": ("/v1/chat/completions", "MOONSHOT_API_KEY", "authorization", "max_tokens", None, True),
    "minimax": ("/v1/chat/completions", "MINIMAX_API_KEY", "authorization", "max_tokens", None, True),
    "minimax-cn": ("/v1/chat/completions", "MINIMAX_CN_API_KEY", "authorization", "max_tokens", None, True),
    "opencode": ("/zen/v1/chat/completions", "OPENCODE_API_KEY", "authorization", "max_tokens", None, True),
    "opencode-go": ("/zen/go/v1/chat/completions", "OPENCODE_API_KEY", "authorization", "max_tokens", None, True),
    "xiaomi": ("/v1/chat/completions", "XIAOMI_API_KEY", "authorization", "max_completion_tokens", None, True),
    "xiaomi-token-plan-cn": ("/v1/chat/completions", "XIAOMI_TOKEN_PLAN_CN_API_KEY", "authorization", "max_completion_tokens", None, True),
    "xiaomi-token-plan-ams": ("/v1/chat/completions", "XIAOMI_TOKEN_PLAN_AMS_API_KEY", "authorization", "max_completion_tokens", None, True),
    "xiaomi-token-plan-sgp": ("/v1/chat/completions", "XIAOMI_TOKEN_PLAN_SGP_API_KEY", "authorization", "max_completion_tokens", None, True),
    "kimi-coding": ("/coding/v1/chat/completions", "KIMI_API_KEY", "authorization", "max_tokens", None, True),
    "vercel-ai-gateway": ("/v1/chat/completions", "AI_GATEWAY_API_KEY", "authorization", "max_tokens", "reasoning_effort", True),
    "cloudflare-workers-ai": ("/client/v4/accounts/acct123/ai/v1/chat/completions", "CLOUDFLARE_API_KEY", "authorization", "max_tokens", None, True),
    "cloudflare-ai-gateway": ("/v1/acct123/gw456/compat/chat/completions", "CLOUDFLARE_API_KEY", "cf-aig-authorization", "max_tokens", "reasoning_effort", True),
    "github-models": ("/inference/chat/completions", "GITHUB_TOKEN", "authorization", "max_tokens", None, True),
    "ollama": ("/v1/chat/completions", None, "authorization", "max_tokens", "reasoning_effort", True),
    "ollama-cloud": ("/v1/chat/completions", "OLLAMA_API_KEY", "authorization", "max_tokens", "reasoning_effort", True),
}  # fmt: skip


def paths(ws: Workspace) -> Paths:
    return Paths(home=ws.home, project=ws.project, cwd=ws.project)


# Presets on other wire APIs, and local servers with no default model: tests/providers/test_preset_table.py
OTHER_WIRES = {"google", "google-vertex", "azure-openai-responses", "lmstudio", "vllm", "llamacpp"}


def test_the_table_covers_every_preset() -> None:
    assert sorted(EXPECTED) == sorted(set(preset_names()) - OTHER_WIRES)
    assert len(preset_names()) >= 19


def loopback_base(preset_url: str, server: ChatCompletionsServer) -> str:
    """The preset's base_url with its scheme and host swapped for the loopback server's (placeholders
    kept, so the environment still fills them)."""
    parts = urlsplit(preset_url)
    return server.base_url + parts.path


async def stream_once(provider: Any, request: ModelRequest) -> Any:
    builder = TurnBuilder(provider.name)
    try:
        async for event in provider.stream(request):
            builder.add(event)
    finally:
        await provider.aclose()
    return builder.result()


@pytest.mark.parametrize("name", sorted(EXPECTED))
@pytest.mark.anyio
async def test_preset_path_key_and_quirks(workspace: Workspace, name: str) -> None:
    path, key_var, header, max_field, reasoning_key, stream_usage = EXPECTED[name]
    preset = load_presets()[name]
    reasoning_body = {"reasoning": {"effort": "high"}, "thinking": {"type": "enabled"}}
    server = ChatCompletionsServer(
        api_key="canary-key" if key_var else None,
        keyless=key_var is None,
        path=path,
        auth_header=header,
        extra_keys=frozenset({"reasoning", "thinking"}),
    )
    with server:
        env = {**CF_ENV}
        if key_var:
            env[key_var] = "canary-key"
        if name == "ollama":
            env["OLLAMA_HOST"] = server.base_url.removeprefix("http://")
        else:
            base = loopback_base(preset.base_url, server)
            workspace.write_config(f'[providers.{name}]\nbase_url = "{base}"\n')
        loaded = load_config(paths(workspace))
        kind = provider_kind(name, loaded)
        model = loaded.provider(name).default_model
        assert kind == "openai-compatible" and model == preset.default_model
        assert model is not None
        route = route_for_target(RunTarget(name, kind, model), loaded, env)
        provider = build_route_provider(route, loaded, cooldowns=CooldownRegistry())
        server.script.append(stream_reply(text_stream(["ok"], with_usage=usage(3, 1))))
        request = ModelRequest(
            model=model, system="sys", messages=[Message.user("hi")], max_tokens=100, effort="high"
        )
        turn = await stream_once(provider, request)
    assert turn.message.text() == "ok"
    (sent,) = server.requests
    assert sent.path == path
    if key_var:
        expected = "Bearer canary-key"
        assert sent.headers[header] == expected
        assert route.candidates[0].credential == f"api-key from env {key_var}"
    else:
        assert "authorization" not in sent.headers
    body = sent.body
    assert body["model"] == preset.default_model
    assert body[max_field] == 100 and {"max_tokens", "max_completion_tokens"} & set(body) == {
        max_field
    }
    assert ("stream_options" in body) is stream_usage
    assert body["messages"][0] == {"role": "system", "content": "sys"}
    for key in ("reasoning_effort", "reasoning", "thinking"):
        if key == reasoning_key:
            assert body[key] == ("high" if key == "reasoning_effort" else reasoning_body[key])
        else:
            assert key not in body


def test_provider_groq_needs_nothing_but_its_key(workspace: Workspace) -> None:
    loaded = load_config(paths(workspace))
    assert provider_kind("groq", loaded) == "openai-compatible"
    route = route_for_target(
        RunTarget("groq", "openai-compatible", "llama-3.3-70b-versatile"),
        loaded,
        {"GROQ_API_KEY": "k"},
    )
    candidate = route.candidates[0]
    assert candidate.config.base_url == "https://api.groq.com/openai/v1"
    assert candidate.credential == "api-key from env GROQ_API_KEY"
    assert candidate.service_tiers == frozenset({"flex"})


def test_rupu_prefixed_key_also_works_and_missing_key_names_both(workspace: Workspace) -> None:
    loaded = load_config(paths(workspace))
    target = RunTarget("groq", "openai-compatible", "m")
    route = route_for_target(target, loaded, {"RUPU_GROQ_API_KEY": "k"})
    assert route.candidates[0].credential == "api-key from env RUPU_GROQ_API_KEY"
    with pytest.raises(CredentialError) as info:
        route_for_target(target, loaded, {})
    assert "GROQ_API_KEY or RUPU_GROQ_API_KEY" in info.value.one_line()


def test_config_table_overrides_preset_key_by_key(workspace: Workspace) -> None:
    workspace.write_config(
        '[providers.groq]\ndefault_model = "mine"\ntimeout = 30\n'
        '[providers.groq.compat]\nmax_tokens_field = "max_tokens"\n'
    )
    loaded = load_config(paths(workspace))
    groq = loaded.provider("groq")
    assert groq.base_url == "https://api.groq.com/openai/v1"
    assert groq.default_model == "mine" and groq.timeout == 30
    assert groq.compat is not None
    assert groq.compat.max_tokens_field == "max_tokens"
    assert groq.compat.service_tiers == ["flex"]


def test_with_preset_of_unknown_name_is_the_table() -> None:
    table = ProviderConfig(base_url="http://x")
    assert with_preset("not-a-preset", table) is table


def test_presets_are_known_providers_and_suggested(workspace: Workspace) -> None:
    loaded = load_config(paths(workspace))
    assert {"groq", "ollama", "openrouter"} <= set(known_providers(loaded))
    with pytest.raises(ConfigError, match="did you mean 'groq'"):
        provider_kind("grok", loaded)


def test_cloudflare_needs_its_account_id(workspace: Workspace) -> None:
    loaded = load_config(paths(workspace))
    target = RunTarget("cloudflare-workers-ai", "openai-compatible", "m")
    with pytest.raises(ConfigError) as info:
        route_for_target(target, loaded, {"CLOUDFLARE_API_KEY": "k"})
    assert "CLOUDFLARE_ACCOUNT_ID" in info.value.one_line()
    route = route_for_target(target, loaded, {"CLOUDFLARE_API_KEY": "k", **CF_ENV})
    assert route.candidates[0].config.base_url == (
        "https://api.cloudflare.com/client/v4/accounts/acct123/ai/v1"
    )


@pytest.mark.parametrize(
    ("value", "url"),
    [
        ("0.0.0.0:11434", "http://127.0.0.1:11434"),
        ("localhost:1234", "http://localhost:1234"),
        ("https://ollama.internal/", "https://ollama.internal"),
    ],
)
def test_ollama_host_forms(value: str, url: str) -> None:
    assert normalise_host(value) == url
    base = load_presets()["ollama"].base_url
    assert expand_base_url("ollama", base, {"OLLAMA_HOST": value}) == f"{url}/v1"
    assert expand_base_url("ollama", base, {}) == "http://127.0.0.1:11434/v1"
