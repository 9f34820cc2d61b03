"""The compat hook (sans-IO), and endpoint options (Azure `api-key` + `api-version`) on the wire."""

from __future__ import annotations

from typing import Any

import pytest

from rupu.config import load_config
from rupu.config.chat_compat import ChatCompat
from rupu.errors import ConfigError, ProviderError
from rupu.messages import Message, ModelRequest, ToolSpec
from rupu.paths import Paths
from rupu.providers.base import TurnBuilder
from rupu.providers.chat_compat import apply_compat, chat_url
from rupu.providers.http import HttpSettings
from rupu.providers.openai_chat import encode_request
from rupu.providers.registry import factory_for, provider_kind
from rupu.routing.cooldown import CooldownRegistry
from rupu.routing.plan import build_route_provider, route_for_target
from rupu.routing.target import RunTarget
from tests.conftest import Workspace
from tests.servers.openai_chat import ChatCompletionsServer, stream_reply, text_stream, usage


def body(**kwargs: Any) -> dict[str, Any]:
    request = ModelRequest(
        model="m", system="sys", messages=[Message.user("hi")], max_tokens=50, **kwargs
    )
    return encode_request(request, stream=True)


def test_defaults_change_nothing() -> None:
    assert apply_compat(body(effort="low"), ChatCompat(), provider="p") == body(effort="low")


def test_each_switch() -> None:
    compat = ChatCompat(
        system_role="developer",
        max_tokens_field="max_completion_tokens",
        reasoning="reasoning",
        stream_usage=False,
        service_tiers=["flex"],
    )
    out = apply_compat(body(effort="medium"), compat, provider="p", service_tier="flex")
    assert out["messages"][0]["role"] == "developer"
    assert out["max_completion_tokens"] == 50 and "max_tokens" not in out
    assert out["reasoning"] == {"effort": "medium"} and "reasoning_effort" not in out
    assert "stream_options" not in out
    assert out["service_tier"] == "flex"


def test_unsupported_service_tier_is_not_sent() -> None:
    out = apply_compat(
        body(), ChatCompat(service_tiers=["flex"]), provider="p", service_tier="priority"
    )
    assert "service_tier" not in out


@pytest.mark.parametrize(("effort", "kind"), [("high", "enabled"), ("minimal", "disabled")])
def test_thinking_toggle(effort: str, kind: str) -> None:
    out = apply_compat(body(effort=effort), ChatCompat(reasoning="thinking"), provider="p")
    assert out["thinking"] == {"type": kind}


def test_reasoning_none_sends_nothing() -> None:
    out = apply_compat(body(effort="high"), ChatCompat(reasoning="none"), provider="p")
    assert not {"reasoning_effort", "reasoning", "thinking"} & set(out)


def test_tools_on_an_endpoint_without_tools_fail_before_sending() -> None:
    tool = ToolSpec("read", "reads", {"type": "object", "properties": {}})
    encoded = encode_request(
        ModelRequest(model="m", system="", messages=[Message.user("x")], tools=[tool]),
        stream=True,
    )
    with pytest.raises(ProviderError) as info:
        apply_compat(encoded, ChatCompat(supports_tools=False), provider="perplexity")
    assert "does not support tool calls" in info.value.one_line()
    assert "remove `tools:`" in info.value.one_line()


@pytest.mark.parametrize(
    ("base", "path", "url"),
    [
        ("http://h/v1", None, "http://h/v1/chat/completions"),
        ("http://h", None, "http://h/v1/chat/completions"),
        ("http://h/api/paas/v4", "/chat/completions", "http://h/api/paas/v4/chat/completions"),
        ("http://h/compat/", "chat/completions", "http://h/compat/chat/completions"),
    ],
)
def test_chat_url(base: str, path: str | None, url: str) -> None:
    assert chat_url(base, ChatCompat(chat_path=path)) == url


def test_auth_header_moves_the_key_for_any_dialect() -> None:
    azure = HttpSettings(auth_header="api-key")
    assert azure.apply({"authorization": "Bearer k", "x": "1"}) == {"x": "1", "api-key": "k"}
    assert azure.apply({"x-api-key": "k"}) == {"api-key": "k"}
    gateway = HttpSettings(auth_header="cf-aig-authorization", auth_scheme="Bearer")
    assert gateway.apply({"x-goog-api-key": "k"}) == {"cf-aig-authorization": "Bearer k"}
    assert HttpSettings().apply({"authorization": "Bearer k"}) == {"authorization": "Bearer k"}


AZURE = """
[providers.azure]
kind = "openai-compatible"
base_url = "{base}/openai/deployments/gpt4o"
default_model = "gpt-4o"
auth_header = "api-key"
query = {{ api-version = "2024-10-21" }}
compat = {{ chat_path = "/chat/completions", max_tokens_field = "max_completion_tokens" }}
"""


@pytest.mark.anyio
async def test_azure_openai_api_key_header_and_api_version(workspace: Workspace) -> None:
    server = ChatCompletionsServer(
        api_key="az-key",
        path="/openai/deployments/gpt4o/chat/completions",
        auth_header="api-key",
        auth_scheme=None,
        query={"api-version": "2024-10-21"},
    )
    with server:
        workspace.write_config(AZURE.format(base=server.base_url))
        loaded = load_config(Paths(workspace.home, workspace.project, workspace.project))
        route = route_for_target(
            RunTarget("azure", "openai-compatible", "gpt-4o"),
            loaded,
            {"RUPU_AZURE_API_KEY": "az-key"},
        )
        provider = build_route_provider(route, loaded, cooldowns=CooldownRegistry())
        server.script.append(stream_reply(text_stream(["hello"], with_usage=usage())))
        builder = TurnBuilder("azure")
        try:
            async for event in provider.stream(
                ModelRequest(model="gpt-4o", system="", messages=[Message.user("hi")], max_tokens=9)
            ):
                builder.add(event)
        finally:
            await provider.aclose()
    assert builder.result().message.text() == "hello"
    (sent,) = server.requests
    assert sent.query == {"api-version": "2024-10-21"}
    assert sent.headers["api-key"] == "az-key" and "authorization" not in sent.headers
    assert sent.body["max_completion_tokens"] == 9


@pytest.mark.parametrize("kind", ["openai-compatible", "openai-responses", "anthropic", "gemini"])
def test_custom_provider_of_every_kind_is_declared_and_keyed(
    workspace: Workspace, kind: str
) -> None:
    workspace.write_config(
        f'[providers.gw]\nkind = "{kind}"\nbase_url = "http://gw.internal"\n'
        'auth_header = "api-key"\nquery = { api-version = "v1" }\n'
    )
    loaded = load_config(Paths(workspace.home, workspace.project, workspace.project))
    assert provider_kind("gw", loaded) == kind
    route = route_for_target(RunTarget("gw", kind, "m"), loaded, {"RUPU_GW_API_KEY": "k"})
    assert route.candidates[0].credential == "api-key from env RUPU_GW_API_KEY"
    if kind == "openai-compatible":
        assert factory_for(kind, "gw") is not None


def test_claude_code_kind_needs_no_base_url(workspace: Workspace) -> None:
    workspace.write_config('[providers.cc2]\nkind = "claude-code"\nmodel = "claude-sonnet-4-6"\n')
    loaded = load_config(Paths(workspace.home, workspace.project, workspace.project))
    assert loaded.provider("cc2").default_model == "claude-sonnet-4-6"
    workspace.write_config('[providers.my-vllm]\nkind = "anthropic"\n')
    with pytest.raises(ConfigError, match="has no base_url"):
        load_config(Paths(workspace.home, workspace.project, workspace.project))
