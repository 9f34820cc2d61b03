"""The loopback model-list servers are honest: the vendors' own SDKs list every model through them,
page by page, and the servers accept the SDKs' requests."""

from __future__ import annotations

from tests.servers.model_lists import (
    AnthropicModelsServer,
    CopilotModelsServer,
    GeminiModelsServer,
    OpenAIModelsServer,
    anthropic_model,
    copilot_model,
    gemini_model,
    openai_model,
)

ANTHROPIC = [
    anthropic_model("claude-opus-4-7", "Claude Opus 4.7", 1_000_000, 128_000),
    anthropic_model("claude-sonnet-4-6", "Claude Sonnet 4.6", 1_000_000, 64_000),
    anthropic_model("claude-haiku-4-5-20251001", "Claude Haiku 4.5", 200_000, 64_000),
    anthropic_model("claude-opus-4-5-20251101", "Claude Opus 4.5", 200_000, 64_000),
    anthropic_model("claude-sonnet-4-5-20250929", "Claude Sonnet 4.5"),
]


def test_anthropic_sdk_pages_through_the_list() -> None:
    import anthropic

    with AnthropicModelsServer(ANTHROPIC, api_key="sk-ant-sdk", page_size=2) as server:
        with anthropic.Anthropic(
            api_key="sk-ant-sdk", base_url=server.base_url, max_retries=0
        ) as client:
            listed = list(client.models.list(limit=2))
        server.assert_clean()
    assert [m.id for m in listed] == [m["id"] for m in ANTHROPIC]
    assert listed[0].display_name == "Claude Opus 4.7"
    assert listed[0].max_input_tokens == 1_000_000
    assert listed[0].max_tokens == 128_000
    assert [r.query.get("after_id") for r in server.requests] == [
        None,
        "claude-sonnet-4-6",
        "claude-opus-4-5-20251101",
    ]


def test_anthropic_sdk_sees_the_authentication_error() -> None:
    import anthropic
    import pytest

    with AnthropicModelsServer(ANTHROPIC, api_key="right") as server:
        with (
            anthropic.Anthropic(api_key="wrong", base_url=server.base_url, max_retries=0) as client,
            pytest.raises(anthropic.AuthenticationError) as caught,
        ):
            list(client.models.list())
        server.assert_clean()
    assert caught.value.status_code == 401


def test_openai_sdk_lists_models() -> None:
    import openai

    models = [
        openai_model("gpt-5"),
        openai_model("gpt-4.1"),
        openai_model("text-embedding-3-small"),
    ]
    with OpenAIModelsServer(models, api_key="sk-sdk") as server:
        with openai.OpenAI(
            api_key="sk-sdk", base_url=f"{server.base_url}/v1", max_retries=0
        ) as client:
            listed = list(client.models.list())
        server.assert_clean()
    assert [m.id for m in listed] == ["gpt-5", "gpt-4.1", "text-embedding-3-small"]
    assert listed[0].owned_by == "openai"


def test_openai_sdk_parses_copilot_list() -> None:
    """Copilot's list has the OpenAI shape; the openai SDK reads it (with the editor headers)."""
    import openai

    models = [copilot_model("claude-sonnet-4.6", "Claude Sonnet 4.6", 200_000, 32_000)]
    with CopilotModelsServer(models, token="tok") as server:
        with openai.OpenAI(
            api_key="tok",
            base_url=server.base_url,
            max_retries=0,
            default_headers={
                "Editor-Version": "vscode/1.107.0",
                "Copilot-Integration-Id": "vscode-chat",
            },
        ) as client:
            listed = list(client.models.list())
        server.assert_clean()
    assert [m.id for m in listed] == ["claude-sonnet-4.6"]


def test_google_genai_sdk_pages_through_the_list() -> None:
    from google import genai
    from google.genai import types

    models = [
        gemini_model("gemini-2.5-pro", "Gemini 2.5 Pro"),
        gemini_model("gemini-2.5-flash", "Gemini 2.5 Flash"),
        gemini_model("text-embedding-004", "Embedding", 2048, 1, ["embedContent"]),
        gemini_model("gemini-3-pro-preview", "Gemini 3 Pro Preview"),
    ]
    with GeminiModelsServer(models, api_key="AIza-sdk", page_size=2) as server:
        client = genai.Client(
            api_key="AIza-sdk",
            http_options=types.HttpOptions(base_url=server.base_url, api_version="v1beta"),
        )
        listed = list(client.models.list(config={"page_size": 2}))
        client.close()
        server.assert_clean()
    assert [m.name for m in listed] == [m["name"] for m in models]
    assert listed[0].input_token_limit == 1_048_576
    assert listed[0].output_token_limit == 65_536
    assert [r.query.get("pageToken") for r in server.requests] == [None, "page-2"]
