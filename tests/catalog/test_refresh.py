"""`refresh_provider` against loopback model-list servers for every provider: pagination, auth
headers, auth failure, malformed bodies, and one provider's failure leaving the others alone."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest

from rupu.auth.credentials import AuthMode, Credential, CredentialSource, FixedCredential, Secret
from rupu.catalog.refresh import refresh_all, refresh_provider
from rupu.config import Config, LoadedConfig
from rupu.errors import CredentialError
from rupu.modeldata.schema import cache_path, read_live
from rupu.paths import Paths
from tests.conftest import Workspace
from tests.servers.base import Reply
from tests.servers.copilot import CopilotServer
from tests.servers.model_lists import (
    AnthropicModelsServer,
    CodexModelsServer,
    CompatibleServer,
    GeminiModelsServer,
    OpenAIModelsServer,
    anthropic_model,
    gemini_model,
    json_reply,
    openai_model,
)

pytestmark = pytest.mark.anyio

ANTHROPIC = [
    anthropic_model("claude-opus-4-7", "Claude Opus 4.7", 1_000_000, 128_000),
    anthropic_model("claude-sonnet-4-6", "Claude Sonnet 4.6", 1_000_000, 64_000),
    anthropic_model("claude-haiku-4-5-20251001", "Claude Haiku 4.5", 200_000, 64_000),
    anthropic_model("claude-opus-4-5-20251101", "Claude Opus 4.5"),
    anthropic_model("claude-mythos-preview", "Claude Mythos Preview", 1_000_000, 128_000),
]


def setup(workspace: Workspace, providers: dict[str, Any]) -> tuple[LoadedConfig, Paths]:
    loaded = LoadedConfig(Config.model_validate({"providers": providers}))
    return loaded, Paths(home=workspace.home, project=None, cwd=workspace.project)


def keys(secrets: dict[str, str], mode: AuthMode = "api-key", **extras: str) -> Any:
    def lookup(provider: str) -> CredentialSource:
        if provider not in secrets:
            raise CredentialError(provider, "no API key found", hint=f"set the key for {provider}")
        credential = Credential(
            provider, mode, Secret(secrets[provider]), source="test", extras=extras
        )
        return FixedCredential(credential)

    return lookup


async def test_anthropic_pages_through_the_list_into_the_cache(workspace: Workspace) -> None:
    with AnthropicModelsServer(ANTHROPIC, api_key="sk-ant-k1", page_size=2) as server:
        loaded, paths = setup(workspace, {"anthropic": {"base_url": server.base_url}})
        result = await refresh_provider(
            "anthropic", loaded=loaded, paths=paths, credentials=keys({"anthropic": "sk-ant-k1"})
        )
    assert result.status == "ok", result.reason
    assert (result.models, result.pages) == (5, 3)
    assert [r.query.get("after_id") for r in server.requests] == [
        None,
        "claude-sonnet-4-6",
        "claude-opus-4-5-20251101",
    ]
    assert all(r.headers["x-api-key"] == "sk-ant-k1" for r in server.requests)
    assert all(r.query["limit"] == "1000" for r in server.requests)
    cache = read_live(paths, "anthropic")
    assert cache is not None
    assert [m.id for m in cache.models] == [m["id"] for m in ANTHROPIC]
    assert cache.models[0].context_window == 1_000_000
    assert cache.models[0].max_output == 128_000
    assert cache.models[3].context_window is None
    assert cache.source == f"{server.base_url}/v1/models?limit=1000"
    assert "sk-ant-k1" not in cache_path(paths, "anthropic").read_text()
    assert result.line() == f"anthropic: 5 models (3 pages) -> {cache_path(paths, 'anthropic')}"


async def test_anthropic_sign_in_uses_a_bearer_token(workspace: Workspace) -> None:
    with AnthropicModelsServer(ANTHROPIC[:1], api_key="sk-ant-oat-1") as server:
        loaded, paths = setup(workspace, {"anthropic": {"base_url": f"{server.base_url}/v1/"}})
        result = await refresh_provider(
            "anthropic",
            loaded=loaded,
            paths=paths,
            credentials=keys({"anthropic": "sk-ant-oat-1"}, "sso"),
        )
    assert result.status == "ok", result.reason
    request = server.requests[0]
    assert request.headers["authorization"] == "Bearer sk-ant-oat-1"
    assert "x-api-key" not in request.headers


async def test_auth_failure_is_reported_without_the_secret(workspace: Workspace) -> None:
    with AnthropicModelsServer(ANTHROPIC, api_key="right") as server:
        loaded, paths = setup(workspace, {"anthropic": {"base_url": server.base_url}})
        result = await refresh_provider(
            "anthropic", loaded=loaded, paths=paths, credentials=keys({"anthropic": "sk-wrong-77"})
        )
    assert result.status == "failed"
    assert result.exit_code == 3
    assert "HTTP 401" in (result.reason or "")
    assert "invalid x-api-key" in (result.reason or "")
    assert "rupu auth login --provider anthropic" in (result.reason or "")
    assert "sk-wrong-77" not in (result.reason or "")
    assert not cache_path(paths, "anthropic").exists()


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (
            Reply(body=b"<html><body>Bad gateway page</body></html>", content_type="text/html"),
            "expected JSON",
        ),
        (json_reply({"models": []}), "no 'data' list"),
        (json_reply({"data": [{"display_name": "x"}]}), "a model has no id"),
        (json_reply({"data": ["claude"]}), "holds a non-object"),
        (
            json_reply({"data": [anthropic_model("a", "A")], "has_more": True}),
            "has_more without last_id",
        ),
    ],
)
async def test_malformed_bodies_fail_and_keep_the_old_cache(
    workspace: Workspace, reply: Reply, expected: str
) -> None:
    with AnthropicModelsServer(ANTHROPIC, api_key="k") as server:
        loaded, paths = setup(workspace, {"anthropic": {"base_url": server.base_url}})
        first = await refresh_provider(
            "anthropic", loaded=loaded, paths=paths, credentials=keys({"anthropic": "k"})
        )
        before = cache_path(paths, "anthropic").read_bytes()
        server.script.append(reply)
        result = await refresh_provider(
            "anthropic", loaded=loaded, paths=paths, credentials=keys({"anthropic": "k"})
        )
    assert first.status == "ok"
    assert result.status == "failed"
    assert expected in (result.reason or "")
    assert cache_path(paths, "anthropic").read_bytes() == before


async def test_a_list_that_never_ends_is_an_error(workspace: Workspace) -> None:
    looping = {
        "data": [anthropic_model("claude-opus-4-7", "x")],
        "has_more": True,
        "last_id": "claude-opus-4-7",
    }
    with AnthropicModelsServer(ANTHROPIC, api_key="k") as server:
        server.default_reply = lambda request: json_reply(looping)
        loaded, paths = setup(workspace, {"anthropic": {"base_url": server.base_url}})
        result = await refresh_provider(
            "anthropic", loaded=loaded, paths=paths, credentials=keys({"anthropic": "k"})
        )
    assert result.status == "failed"
    assert "did not end" in (result.reason or "")
    assert len(server.requests) == 2


async def test_openai_key_lists_chat_models_only(workspace: Workspace) -> None:
    models = [
        openai_model("gpt-5.4"),
        openai_model("gpt-5-2025-08-07"),
        openai_model("text-embedding-3-large"),
        openai_model("gpt-4o-realtime-preview"),
        openai_model("whisper-1"),
        openai_model("o3"),
    ]
    with OpenAIModelsServer(models, api_key="sk-proj-1") as server:
        loaded, paths = setup(
            workspace, {"openai": {"base_url": f"{server.base_url}/v1", "org_id": "org-7"}}
        )
        result = await refresh_provider(
            "openai", loaded=loaded, paths=paths, credentials=keys({"openai": "sk-proj-1"})
        )
    assert result.status == "ok", result.reason
    cache = read_live(paths, "openai")
    assert cache is not None
    assert [m.id for m in cache.models] == ["gpt-5.4", "gpt-5-2025-08-07", "o3"]
    assert server.requests[0].headers["openai-organization"] == "org-7"
    assert server.requests[0].headers["authorization"] == "Bearer sk-proj-1"


async def test_openai_sign_in_lists_the_chatgpt_backend_models(workspace: Workspace) -> None:
    models: list[dict[str, Any]] = [
        {"slug": "gpt-5.2-codex", "display_name": "GPT-5.2 Codex", "context_window": 272000},
        {"slug": "gpt-5.1-codex-mini", "display_name": "GPT-5.1 Codex mini"},
    ]
    claims = {"https://api.openai.com/auth": {"chatgpt_account_id": "acct_9"}}
    payload = base64.urlsafe_b64encode(orjson.dumps(claims)).decode().rstrip("=")
    token = f"eyJhbGciOiJSUzI1NiJ9.{payload}.c2ln"
    with CodexModelsServer(models, token=token, account="acct_9") as server:
        loaded, paths = setup(workspace, {"openai": {"sso_base_url": server.base_url}})
        result = await refresh_provider(
            "openai", loaded=loaded, paths=paths, credentials=keys({"openai": token}, "sso")
        )
    assert result.status == "ok", result.reason
    cache = read_live(paths, "openai")
    assert cache is not None
    assert [(m.id, m.context_window) for m in cache.models] == [
        ("gpt-5.2-codex", 272000),
        ("gpt-5.1-codex-mini", None),
    ]
    assert server.requests[0].headers["originator"] == "rupu"


async def test_configured_headers_reach_the_list_but_never_replace_the_key(
    workspace: Workspace,
) -> None:
    with AnthropicModelsServer(ANTHROPIC[:1], api_key="sk-ant-h", page_size=1) as server:
        headers = {"X-Gateway-Team": "infra", "x-api-key": "not-this-one"}
        loaded, paths = setup(
            workspace, {"anthropic": {"base_url": server.base_url, "headers": headers}}
        )
        result = await refresh_provider(
            "anthropic", loaded=loaded, paths=paths, credentials=keys({"anthropic": "sk-ant-h"})
        )
    assert result.status == "ok", result.reason
    assert server.requests[0].headers["x-gateway-team"] == "infra"
    assert server.requests[0].headers["x-api-key"] == "sk-ant-h"


async def test_gemini_pages_with_page_tokens(workspace: Workspace) -> None:
    models = [
        gemini_model("gemini-2.5-pro", "Gemini 2.5 Pro"),
        gemini_model("embedding-001", "Embedding", 2048, 1, ["embedContent"]),
        gemini_model("gemini-2.5-flash", "Gemini 2.5 Flash"),
        gemini_model("gemini-3-pro-preview", "Gemini 3 Pro", 1_048_576, 65_536),
        gemini_model("gemini-2.5-flash-lite", "Gemini 2.5 Flash-Lite"),
    ]
    with GeminiModelsServer(models, api_key="AIza-1", page_size=2) as server:
        loaded, paths = setup(workspace, {"gemini": {"base_url": f"{server.base_url}/v1beta"}})
        result = await refresh_provider(
            "gemini", loaded=loaded, paths=paths, credentials=keys({"gemini": "AIza-1"})
        )
    assert result.status == "ok", result.reason
    assert result.pages == 3
    assert [r.query.get("pageToken") for r in server.requests] == [None, "page-2", "page-4"]
    cache = read_live(paths, "gemini")
    assert cache is not None
    assert [m.id for m in cache.models] == [
        "gemini-2.5-pro",
        "gemini-2.5-flash",
        "gemini-3-pro-preview",
        "gemini-2.5-flash-lite",
    ]
    assert cache.models[0].name == "Gemini 2.5 Pro"
    assert cache.models[0].max_output == 65_536


async def test_gemini_invalid_key_and_empty_list(workspace: Workspace) -> None:
    with GeminiModelsServer([], api_key="AIza-right") as server:
        loaded, paths = setup(workspace, {"gemini": {"base_url": server.base_url}})
        wrong = await refresh_provider(
            "gemini", loaded=loaded, paths=paths, credentials=keys({"gemini": "AIza-wrong"})
        )
        server.script.append(json_reply({}))
        empty = await refresh_provider(
            "gemini", loaded=loaded, paths=paths, credentials=keys({"gemini": "AIza-right"})
        )
    assert wrong.status == "failed"
    assert "API key not valid" in (wrong.reason or "")
    assert empty.status == "failed"
    assert "listed no models" in (empty.reason or "")
    assert not cache_path(paths, "gemini").exists()


async def test_copilot_exchanges_the_github_token_then_lists_chat_models(
    workspace: Workspace,
) -> None:
    models: list[dict[str, Any]] = [
        {"id": "claude-sonnet-4.6", "supported_endpoints": ["/chat/completions", "/v1/messages"]},
        {"id": "gpt-5-mini", "supported_endpoints": ["/responses"]},
        {"id": "text-embedding-3-small", "type": "embeddings"},
    ]
    with CopilotServer(github_token="ghp_list", api_prefix="/api", models=models) as server:
        loaded, paths = setup(workspace, {"copilot": {"token_exchange_url": server.exchange_url}})
        ok = await refresh_provider(
            "copilot", loaded=loaded, paths=paths, credentials=keys({"copilot": "ghp_list"})
        )
        refused = await refresh_provider(
            "copilot", loaded=loaded, paths=paths, credentials=keys({"copilot": "ghp_other"})
        )
    assert ok.status == "ok", ok.reason
    cache = read_live(paths, "copilot")
    assert cache is not None
    assert [m.id for m in cache.models] == ["claude-sonnet-4.6", "gpt-5-mini"]
    # The list request went to the API host the exchange named, with the Copilot token.
    [listing] = server.model_requests
    assert listing.path == "/api/models"
    assert listing.headers["authorization"] == f"Bearer {next(iter(server.issued))}"
    assert cache.source == f"{server.base_url}/api/models"
    assert server.exchanges == 2
    assert refused.status == "failed"
    assert refused.exit_code == 4  # credentials refused
    assert "GitHub refused to issue a Copilot token" in (refused.reason or "")
    assert "ghp_other" not in (refused.reason or "")


@pytest.mark.parametrize("suffix", ["", "/v1", "/v1/"])
async def test_declared_provider_lists_base_v1_models(workspace: Workspace, suffix: str) -> None:
    with CompatibleServer(["glm-5", "qwen3-coder"], api_key="k-oracle") as server:
        loaded, paths = setup(workspace, {"oracle": {"base_url": f"{server.base_url}{suffix}"}})
        result = await refresh_provider(
            "oracle", loaded=loaded, paths=paths, credentials=keys({"oracle": "k-oracle"})
        )
    assert result.status == "ok", result.reason
    assert server.requests[0].path == "/v1/models"
    cache = read_live(paths, "oracle")
    assert cache is not None
    assert [m.id for m in cache.models] == ["glm-5", "qwen3-coder"]


async def test_one_failure_does_not_stop_the_others(workspace: Workspace) -> None:
    with (
        AnthropicModelsServer(ANTHROPIC, api_key="a") as anthropic,
        GeminiModelsServer([], api_key="g") as gemini,
        OpenAIModelsServer([openai_model("gpt-5")], api_key="o") as openai,
    ):
        gemini.script.append(Reply(status=503, body=b"upstream down", content_type="text/plain"))
        loaded, paths = setup(
            workspace,
            {
                "anthropic": {"base_url": anthropic.base_url},
                "gemini": {"base_url": gemini.base_url},
                "openai": {"base_url": openai.base_url},
            },
        )
        results = await refresh_all(
            ["anthropic", "openai", "gemini", "copilot", "mock"],
            loaded=loaded,
            paths=paths,
            credentials=keys({"anthropic": "a", "gemini": "g", "openai": "o"}),
            skip_without_credential=True,
        )
    by_name = {r.provider: r for r in results}
    assert [r.provider for r in results] == ["anthropic", "openai", "gemini", "copilot", "mock"]
    assert by_name["anthropic"].status == "ok"
    assert by_name["openai"].status == "ok"
    assert by_name["gemini"].status == "failed"
    assert "HTTP 503" in (by_name["gemini"].reason or "")
    assert by_name["copilot"].status == "skipped"
    assert "set the key for copilot" in (by_name["copilot"].reason or "")
    assert by_name["mock"].status == "skipped"
    assert read_live(paths, "anthropic") is not None
    assert read_live(paths, "gemini") is None


async def test_cache_file_is_replaced_atomically(workspace: Workspace) -> None:
    with OpenAIModelsServer([openai_model("gpt-5")], api_key="o") as server:
        loaded, paths = setup(workspace, {"openai": {"base_url": server.base_url}})
        for _ in range(2):
            result = await refresh_provider(
                "openai", loaded=loaded, paths=paths, credentials=keys({"openai": "o"})
            )
            assert result.status == "ok"
    directory = cache_path(paths, "openai").parent
    assert sorted(p.name for p in directory.iterdir()) == ["openai.json"]
    cache = read_live(paths, "openai")
    assert cache is not None
    assert cache.version == 1
    assert cache.fetched_at.endswith("+00:00")
