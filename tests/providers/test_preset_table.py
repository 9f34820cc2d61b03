"""The full API-key list: every row of the seed's provider table is a rupu provider named by its
auth-file key with exactly its environment variable; the presets that do not speak chat completions
(Gemini and Vertex by API key, Azure OpenAI Responses) and the keyless local servers (LM Studio, vLLM,
llama.cpp) on the wire against loopback servers, and `models refresh` from a local server's own list."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from aiohttp import web

from rupu.auth.credentials import CredentialSource
from rupu.catalog.refresh import refresh_provider
from rupu.config import load_config
from rupu.config.builtins import builtin_providers
from rupu.config.presets import load_presets
from rupu.errors import CredentialError
from rupu.messages import Message, ModelRequest
from rupu.modeldata.schema import read_live
from rupu.paths import Paths
from rupu.providers.base import TurnBuilder
from rupu.providers.registry import provider_kind
from rupu.routing.cooldown import CooldownRegistry
from rupu.routing.plan import build_route_provider, route_for_target
from rupu.routing.target import RunTarget
from tests.conftest import Workspace, run_rupu
from tests.servers.base import RecordedRequest, ValidationFailed
from tests.servers.gemini import GeminiServer
from tests.servers.gemini_streams import stream, text_chunks
from tests.servers.model_lists import CompatibleServer
from tests.servers.openai_chat import stream_reply, text_stream, usage
from tests.servers.openai_responses import ResponsesServer, ResponseStream
from tests.servers.openai_responses import stream_reply as responses_reply

SEED_TABLE = Path(__file__).with_name("data") / "seed_api_key_providers.md"
_VAR = re.compile(r"[A-Z][A-Z0-9_]+")


def seed_rows() -> list[tuple[str, list[str], str]]:
    """(provider label, [key variable, companion variables...], auth-file key) per table row."""
    rows = []
    for line in SEED_TABLE.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or cells[0] in ("Provider", "---"):
            continue
        rows.append((cells[0], _VAR.findall(cells[1]), cells[2]))
    return rows


def key_vars_of(name: str) -> list[str]:
    presets = load_presets()
    if name in presets:
        return list(presets[name].key_env)
    builtins = builtin_providers()
    return list(builtins[name].key_env) if name in builtins else []


def test_the_seed_table_is_read_whole() -> None:
    rows = seed_rows()
    assert len(rows) == 29
    assert ("Google Vertex AI", ["GOOGLE_CLOUD_API_KEY"], "google-vertex") in rows


@pytest.mark.parametrize(("label", "variables", "key"), seed_rows())
def test_every_seed_row_is_a_provider_with_its_variable(
    label: str, variables: list[str], key: str
) -> None:
    assert key in load_presets() or key in builtin_providers(), f"{label}: no provider '{key}'"
    key_var, *companions = variables
    assert key_vars_of(key)[0] == key_var, f"{label}: its key is read from {key_vars_of(key)}"
    if key in load_presets():
        base = load_presets()[key].base_url
        for companion in companions:  # Cloudflare's account and gateway ids fill the base URL
            assert f"${{{companion}}}" in base


def paths(ws: Workspace) -> Paths:
    return Paths(home=ws.home, project=ws.project, cwd=ws.project)


async def one_turn(
    workspace: Workspace, name: str, base: str, env: dict[str, str], model: str | None = None
) -> tuple[str, str]:
    """Runs one turn on preset `name` with its base_url moved to `base`: (text, credential)."""
    workspace.write_config(f'[providers.{name}]\nbase_url = "{base}"\n')
    loaded = load_config(paths(workspace))
    kind = provider_kind(name, loaded)
    chosen = model or loaded.provider(name).default_model
    assert chosen is not None
    route = route_for_target(RunTarget(name, kind, chosen), loaded, env)
    provider = build_route_provider(route, loaded, cooldowns=CooldownRegistry())
    builder = TurnBuilder(provider.name)
    request = ModelRequest(model=chosen, system="sys", messages=[Message.user("hi")], max_tokens=64)
    try:
        async for event in provider.stream(request):
            builder.add(event)
    finally:
        await provider.aclose()
    return builder.result().message.text(), route.candidates[0].credential


@pytest.mark.anyio
async def test_google_preset_is_ai_studio_by_gemini_api_key(workspace: Workspace) -> None:
    with GeminiServer(api_key="AIza-canary") as server:
        server.script.append(stream(text_chunks(["ok"])))
        text, credential = await one_turn(
            workspace, "google", server.base_url, {"GEMINI_API_KEY": "AIza-canary"}
        )
    assert (text, credential) == ("ok", "api-key from env GEMINI_API_KEY")
    (sent,) = server.requests
    assert sent.path == "/v1beta/models/gemini-2.5-pro:streamGenerateContent"
    assert sent.headers["x-goog-api-key"] == "AIza-canary"
    assert "authorization" not in sent.headers


@pytest.mark.anyio
async def test_google_vertex_preset_is_vertex_express_by_cloud_api_key(
    workspace: Workspace,
) -> None:
    preset = load_presets()["google-vertex"]
    with GeminiServer(api_key="AQ.vertex-canary") as server:
        server.script.append(stream(text_chunks(["ok"])))
        base = server.base_url + urlsplit(preset.base_url).path
        text, credential = await one_turn(
            workspace, "google-vertex", base, {"GOOGLE_CLOUD_API_KEY": "AQ.vertex-canary"}
        )
    assert (text, credential) == ("ok", "api-key from env GOOGLE_CLOUD_API_KEY")
    (sent,) = server.requests
    assert sent.path == "/v1/publishers/google/models/gemini-2.5-pro:streamGenerateContent"
    assert sent.headers["x-goog-api-key"] == "AQ.vertex-canary"


class AzureResponsesServer(ResponsesServer):
    """Azure OpenAI's v1 Responses API: `POST /openai/v1/responses`, the key in `api-key`."""

    path = "/openai/v1/responses"

    def routes(self, app: web.Application) -> None:
        app.router.add_post(self.path, self.handle)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        return await super(ResponsesServer, self).handle(request)

    def validate(self, request: RecordedRequest) -> None:
        if request.headers.get("api-key") != self.api_key or "authorization" in request.headers:
            raise ValidationFailed("Azure wants the key in api-key, and no Authorization header")
        if not isinstance(request.body, dict):
            raise ValidationFailed("body must be a JSON object")
        if request.body.get("model") != "gpt-5":
            raise ValidationFailed("the deployment name goes in `model`")


@pytest.mark.anyio
async def test_azure_openai_responses_preset(workspace: Workspace) -> None:
    preset = load_presets()["azure-openai-responses"]
    with AzureResponsesServer(api_key="azure-canary") as server:
        server.script.append(
            responses_reply(ResponseStream(model="gpt-5").text(["ok"]).completed())
        )
        base = server.base_url + urlsplit(preset.base_url).path
        env = {"AZURE_OPENAI_API_KEY": "azure-canary", "AZURE_OPENAI_RESOURCE_NAME": "unused"}
        text, credential = await one_turn(workspace, "azure-openai-responses", base, env)
    assert (text, credential) == ("ok", "api-key from env AZURE_OPENAI_API_KEY")
    (sent,) = server.requests
    assert sent.path == "/openai/v1/responses"
    assert sent.headers["api-key"] == "azure-canary"
    assert server.violations == []


def test_azure_preset_builds_the_resource_url(workspace: Workspace) -> None:
    loaded = load_config(paths(workspace))
    env = {"AZURE_OPENAI_API_KEY": "k", "AZURE_OPENAI_RESOURCE_NAME": "contoso"}
    route = route_for_target(
        RunTarget("azure-openai-responses", "openai-responses", "gpt-5"), loaded, env
    )
    assert route.candidates[0].config.base_url == "https://contoso.openai.azure.com/openai/v1"


LOCAL = {"lmstudio": "LMSTUDIO_HOST", "vllm": "VLLM_HOST", "llamacpp": "LLAMA_CPP_HOST"}


@pytest.mark.parametrize("name", sorted(LOCAL))
@pytest.mark.anyio
async def test_local_server_presets_chat_without_a_key(workspace: Workspace, name: str) -> None:
    with CompatibleServer(["qwen3-8b"], api_key=None) as server:
        server.script.append(stream_reply(text_stream(["ok"], with_usage=usage(3, 1))))
        env = {LOCAL[name]: server.base_url.removeprefix("http://")}
        loaded = load_config(paths(workspace))
        assert provider_kind(name, loaded) == "openai-compatible"
        route = route_for_target(RunTarget(name, "openai-compatible", "qwen3-8b"), loaded, env)
        provider = build_route_provider(route, loaded, cooldowns=CooldownRegistry())
        builder = TurnBuilder(name)
        request = ModelRequest(
            model="qwen3-8b", system="sys", messages=[Message.user("hi")], max_tokens=64
        )
        async for event in provider.stream(request):
            builder.add(event)
        await provider.aclose()
    assert builder.result().message.text() == "ok"
    (sent,) = server.requests
    assert sent.path == "/v1/chat/completions" and "authorization" not in sent.headers
    assert sent.body["model"] == "qwen3-8b"
    assert route.candidates[0].credential == "none (no key needed)"


def no_credentials(provider: str) -> CredentialSource:
    raise CredentialError(provider, "asked for a key", hint="a keyless server needs none")


@pytest.mark.parametrize("name", sorted(LOCAL))
@pytest.mark.anyio
async def test_local_server_models_refresh_reads_its_own_list(
    workspace: Workspace, name: str
) -> None:
    with CompatibleServer(["qwen3-8b", "gpt-oss-20b"], api_key=None) as server:
        result = await refresh_provider(
            name,
            loaded=load_config(paths(workspace)),
            paths=paths(workspace),
            credentials=no_credentials,
            env={LOCAL[name]: server.base_url},
        )
    assert result.status == "ok", result.reason
    assert [r.path for r in server.requests] == ["/v1/models"]
    assert "authorization" not in server.requests[0].headers
    cache = read_live(paths(workspace), name)
    assert cache is not None
    assert sorted(m.id for m in cache.models) == ["gpt-oss-20b", "qwen3-8b"]


def test_rupu_models_refresh_and_list_a_local_server(workspace: Workspace) -> None:
    with CompatibleServer(["qwen3-8b"], api_key=None) as server:
        env = {"LMSTUDIO_HOST": server.base_url.removeprefix("http://")}
        refreshed = run_rupu("models", "refresh", "--provider", "lmstudio", env=env)
    assert refreshed.code == 0, refreshed.stderr
    assert "lmstudio: 1 models" in refreshed.stderr + refreshed.stdout
    listed = run_rupu("models", "list", "--provider", "lmstudio", env=env)
    assert listed.code == 0 and "qwen3-8b" in listed.stdout
