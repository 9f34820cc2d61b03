"""The Copilot routing table, the setup handed to delegated dialects, and the refusal messages."""

from __future__ import annotations

from typing import get_args

import pytest

from rupu.config import ProviderConfig, ProviderKind
from rupu.errors import ProviderError
from rupu.messages import Message, ModelRequest, TextPart, ToolResultPart
from rupu.providers.base import ProviderSetup
from rupu.providers.copilot import CopilotBearerSource, delegate_setup
from rupu.providers.copilot_routes import (
    FAMILY_ROUTES,
    ROUTES,
    CopilotApi,
    ListedModel,
    initiator_of,
    is_model_refusal,
    listed_models,
    model_refusal,
    route_for,
)
from rupu.providers.retry import RetryPolicy
from rupu.testing import FakeClock
from tests.providers.copilot_setup import open_copilot
from tests.servers.copilot import CopilotServer


@pytest.mark.parametrize(
    ("model", "route"),
    [
        ("gpt-4.1", "chat"),
        ("gpt-4o", "chat"),
        ("gpt-4o-mini", "chat"),
        ("o3-mini", "chat"),
        ("o4-mini", "chat"),
        ("gemini-2.5-pro", "chat"),
        ("grok-code-fast-1", "chat"),
        ("gpt-5", "responses"),
        ("gpt-5-mini", "responses"),
        ("gpt-5.1-codex", "responses"),
        ("gpt-5.2", "responses"),
        ("claude-sonnet-4.6", "messages"),
        ("claude-opus-4.5", "messages"),
        ("claude-haiku-4.5", "messages"),
        ("Claude-Sonnet-4.6", "messages"),
        ("claude-sonnet-4-6", "messages"),
    ],
)
def test_route_by_model_family(model: str, route: str) -> None:
    assert route_for(model) == route


def test_routes_are_data_with_their_paths_and_dialects() -> None:
    assert {r: (s.path, s.dialect) for r, s in ROUTES.items()} == {
        "chat": ("/chat/completions", None),
        "responses": ("/responses", "openai-responses"),
        "messages": ("/v1/messages", "anthropic"),
    }
    assert all(route in ROUTES for _, route in FAMILY_ROUTES)
    kinds = set(get_args(ProviderKind))
    assert {s.dialect for s in ROUTES.values() if s.dialect} <= kinds


def test_initiator_is_user_only_for_a_person_asking() -> None:
    def request(*messages: Message) -> ModelRequest:
        return ModelRequest(model="gpt-4.1", system="", messages=list(messages))

    assert initiator_of(request(Message.user("hi"))) == "user"
    tool_result = Message("user", [ToolResultPart("c1", "ls", "x")])
    assert initiator_of(request(Message.user("hi"), tool_result)) == "agent"
    assert initiator_of(request(Message("assistant", [TextPart("x")]))) == "agent"
    assert initiator_of(request()) == "agent"


def test_delegated_setup_points_the_dialect_at_the_copilot_host() -> None:
    clock = FakeClock()
    parent = ProviderSetup(
        name="copilot",
        kind="copilot",
        config=ProviderConfig(
            token_exchange_url="http://127.0.0.1:1/x",
            timeout=30,
            headers={"x-extra": "1"},
        ),
        credentials=None,
        retry=RetryPolicy(max_retries=0),
        clock=clock,
    )
    routes: tuple[tuple[CopilotApi, ProviderKind], ...] = (
        ("messages", "anthropic"),
        ("responses", "openai-responses"),
    )
    for route, kind in routes:
        setup = delegate_setup(
            parent,
            route,
            api_base="https://api.business.githubcopilot.com",
            initiator="agent",
            credentials=object(),  # type: ignore[arg-type]  # a stand-in that is only passed on
        )
        assert setup.name == "copilot"
        assert setup.kind == kind
        assert setup.config.base_url == "https://api.business.githubcopilot.com"
        assert setup.config.token_exchange_url is None
        assert setup.config.timeout == 30
        assert setup.config.headers["x-initiator"] == "agent"
        assert setup.config.headers["openai-intent"] == "conversation-edits"
        assert setup.config.headers["copilot-integration-id"] == "vscode-chat"
        assert setup.config.headers["editor-version"].startswith("vscode/")
        assert setup.config.headers["x-extra"] == "1"
        assert "authorization" not in setup.config.headers
        assert setup.retry.max_retries == 0
        assert setup.clock is clock
    with pytest.raises(ValueError):
        delegate_setup(
            parent,
            "chat",
            api_base="x",
            initiator="user",
            credentials=object(),  # type: ignore[arg-type]  # a stand-in that is only passed on
        )


@pytest.mark.anyio
async def test_bearer_source_yields_the_copilot_token_and_remints_on_force() -> None:
    with CopilotServer(clock=FakeClock()) as server:
        async with open_copilot(server) as provider:
            source = CopilotBearerSource("copilot", provider.tokens)
            first = await source.get()
            again = await source.get()
            forced = await source.get(force_refresh=True)
    assert first.secret.reveal() in server.issued
    assert first.extras["auth_scheme"] == "bearer"
    assert first.extras["api_base"] == server.base_url
    assert first.expires_at == server.issued[first.secret.reveal()]
    assert again.secret == first.secret
    assert forced.secret != first.secret
    assert server.exchanges == 2


def refusal(
    status: int = 400, error_type: str = "invalid_request_error/model_not_supported"
) -> ProviderError:
    return ProviderError(
        "copilot",
        "The requested model is not supported.",
        status=status,
        error_type=error_type,
        request_id="r1",
    )


MODELS = [
    ListedModel("claude-sonnet-4.6", ("/chat/completions", "/v1/messages"), "enabled"),
    ListedModel("claude-opus-4.5", (), None),
    ListedModel("claude-haiku-4.5", ("/v1/messages",), "unconfigured"),
    ListedModel("gpt-5-mini", ("/chat/completions", "/responses"), None),
    ListedModel("gpt-4.1", ("/chat/completions",), None),
]


def test_messages_refusal_suggests_the_dotted_id_without_rewriting() -> None:
    error = model_refusal(refusal(), "claude-sonnet-4-6", "messages", MODELS)
    text = error.one_line()
    assert (
        "model 'claude-sonnet-4-6' is not available on Copilot's Anthropic Messages API route (/v1/messages)"
        in text
    )
    assert "did you mean 'claude-sonnet-4.6'" in text
    assert "ids this route accepts: claude-sonnet-4.6, claude-opus-4.5" in text
    assert "claude-haiku-4.5" not in text
    assert error.status == 400
    assert error.request_id == "r1"
    assert error.model == "claude-sonnet-4-6"


def test_refusal_of_a_model_served_on_another_route() -> None:
    text = model_refusal(refusal(), "gpt-4.1", "responses", MODELS).one_line()
    assert "Copilot serves 'gpt-4.1' on /chat/completions, not /responses" in text


def test_refusal_of_a_model_not_enabled() -> None:
    text = model_refusal(refusal(), "claude-haiku-4.5", "messages", MODELS).one_line()
    assert "'claude-haiku-4.5' is unconfigured for this account" in text


def test_refusal_without_a_model_list() -> None:
    text = model_refusal(refusal(404, "not_found"), "gpt-9", "chat", None).one_line()
    assert "HTTP 404" in text
    assert "Copilot model ids are route-specific" in text


def test_which_errors_are_model_refusals() -> None:
    assert is_model_refusal(refusal())
    assert is_model_refusal(refusal(404, "not_found"))
    assert not is_model_refusal(refusal(400, "invalid_request_error"))
    assert not is_model_refusal(refusal(429, "rate_limited"))


def test_model_list_parsing_skips_what_it_does_not_recognise() -> None:
    payload = {
        "data": [
            {
                "id": "gpt-4.1",
                "supported_endpoints": ["/chat/completions"],
                "policy": {"state": "enabled"},
            },
            {"id": "text-embedding-3-small", "capabilities": {"type": "embeddings"}},
            {"name": "no id"},
            "junk",
            {"id": "o3", "supported_endpoints": "bad", "policy": "bad"},
        ]
    }
    assert listed_models(payload) == [
        ListedModel("gpt-4.1", ("/chat/completions",), "enabled"),
        ListedModel("o3", (), None),
    ]
    assert listed_models({"data": "nope"}) == []
    assert listed_models(None) == []


def test_model_not_supported_says_how_to_enable_the_model() -> None:
    unlisted = model_refusal(refusal(), "gpt-9", "chat", None).one_line()
    assert (
        "enable it once in VS Code (Copilot Chat → model selector → select the model → Enable)"
        in unlisted
    )
    disabled = model_refusal(refusal(), "claude-haiku-4.5", "messages", MODELS).one_line()
    assert "Copilot Chat → model selector" in disabled
    missing = ProviderError("copilot", "Not Found", status=404, error_type="not_found")
    assert "model selector" not in model_refusal(missing, "gpt-9", "chat", None).one_line()
