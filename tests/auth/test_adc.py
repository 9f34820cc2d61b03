"""Vertex AI through Application Default Credentials: a service-account file whose `token_uri` is a
loopback token endpoint that verifies the signed JWT assertion; an authorized-user file found where
gcloud keeps it; the 60-second refresh rule and single-flight refresh; automatic choice on the Vertex
route when nothing stronger is configured; Gemini and Claude models on Vertex."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest
from aiohttp import web

from rupu.auth.adc import AdcSource, find_adc_file
from rupu.catalog.catalog import ModelCatalog
from rupu.config import LoadedConfig, load_config
from rupu.errors import ConfigError, CredentialError
from rupu.messages import Message, ModelRequest
from rupu.paths import Paths
from rupu.providers.base import TurnBuilder
from rupu.routing.cooldown import CooldownRegistry
from rupu.routing.plan import Route, build_route_provider, route_for_target
from rupu.routing.target import RunTarget
from tests.conftest import Workspace, run_rupu
from tests.servers.anthropic import Text, response_stream
from tests.servers.anthropic import stream_reply as claude_reply
from tests.servers.anthropic_validate import validate_body
from tests.servers.base import LoopbackServer, RecordedRequest, ValidationFailed
from tests.servers.gemini import GeminiServer
from tests.servers.gemini_streams import stream, text_chunks
from tests.servers.google_token import GoogleTokenServer, new_key, private_pem

pytestmark = pytest.mark.anyio

EMAIL = "rupu-runner@adc-proj.iam.gserviceaccount.com"
KEY = new_key()


def service_account_file(directory: Path, token_uri: str) -> Path:
    path = directory / "sa.json"
    info = {
        "type": "service_account",
        "project_id": "adc-proj",
        "private_key_id": "key-1",
        "private_key": private_pem(KEY),
        "client_email": EMAIL,
        "client_id": "1234567890",
        "token_uri": token_uri,
    }
    path.write_bytes(orjson.dumps(info))
    return path


def token_server(**kwargs: Any) -> GoogleTokenServer:
    return GoogleTokenServer(public_key=KEY.public_key(), client_email=EMAIL, **kwargs)


def loaded_with(workspace: Workspace, table: str) -> LoadedConfig:
    workspace.write_config(table)
    return load_config(Paths(home=workspace.home, project=None, cwd=workspace.project))


async def turn(route: Route, loaded: LoadedConfig, model: str) -> str:
    provider = build_route_provider(route, loaded, cooldowns=CooldownRegistry())
    builder = TurnBuilder(provider.name)
    request = ModelRequest(model=model, system="sys", messages=[Message.user("hi")], max_tokens=64)
    try:
        async for event in provider.stream(request):
            builder.add(event)
    finally:
        await provider.aclose()
    return builder.result().message.text()


async def test_service_account_on_the_vertex_route_is_chosen_and_verified(
    workspace: Workspace, tmp_path: Path
) -> None:
    """Three turns: the first token has 30 s left (under the 60 s rule), so the second turn refreshes
    it once; the second token has an hour, so the third turn reuses it."""
    with (
        token_server(expires_in=[30, 3600]) as tokens,
        GeminiServer(token="ya29.adc-token-1", project="adc-proj") as api,
    ):
        path = service_account_file(tmp_path, tokens.token_uri)
        env = {"GOOGLE_APPLICATION_CREDENTIALS": str(path)}
        loaded = loaded_with(
            workspace, f'[providers.gemini]\nbase_url = "{api.base_url}"\nregion = "us-central1"\n'
        )
        route = route_for_target(RunTarget("gemini", "gemini", "gemini-2.5-pro"), loaded, env)
        assert route.candidates[0].credential == (
            f"adc from GOOGLE_APPLICATION_CREDENTIALS ({path})"
        )
        provider = build_route_provider(route, loaded, cooldowns=CooldownRegistry())
        texts, bearers = [], []
        for word in ("one", "two", "three"):
            api.script.append(stream(text_chunks([word])))
            builder = TurnBuilder("gemini")
            request = ModelRequest(
                model="gemini-2.5-pro", system="s", messages=[Message.user("hi")], max_tokens=64
            )
            async for event in provider.stream(request):
                builder.add(event)
            texts.append(builder.result().message.text())
            bearers.append(api.requests[-1].headers["authorization"])
            api.token = "ya29.adc-token-2"  # the API accepts the refreshed token from now on
        await provider.aclose()
    assert texts == ["one", "two", "three"]
    assert len(tokens.requests) == 2, "refreshed once, when under 60 s remained"
    assert bearers == ["Bearer ya29.adc-token-1"] + ["Bearer ya29.adc-token-2"] * 2
    for claims in tokens.claims:  # each assertion verified with the test key's public half
        assert claims["iss"] == EMAIL and claims["aud"] == "https://oauth2.googleapis.com/token"
    assert len(tokens.claims) == 2
    assert {r.path for r in api.requests} == {
        "/v1/projects/adc-proj/locations/us-central1/publishers/google/models/"
        "gemini-2.5-pro:streamGenerateContent"
    }


def test_rupu_run_on_vertex_with_a_service_account(workspace: Workspace, tmp_path: Path) -> None:
    with (
        token_server() as tokens,
        GeminiServer(token="ya29.adc-token-1", project="adc-proj") as api,
    ):
        path = service_account_file(tmp_path, tokens.token_uri)
        workspace.write_config(
            f'[providers.gemini]\nbase_url = "{api.base_url}"\nregion = "us-central1"\n'
        )
        workspace.write_agent(
            "vertex",
            "---\nname: vertex\nprovider: gemini\nmodel: gemini-2.5-pro\n---\n\nBe brief.\n",
        )
        api.script.append(stream(text_chunks(["from vertex"])))
        result = run_rupu(
            "run", "--agent", "vertex", "hi", env={"GOOGLE_APPLICATION_CREDENTIALS": str(path)}
        )
    assert result.code == 0, result.stderr
    assert result.stdout.strip() == "from vertex"
    assert f"adc from GOOGLE_APPLICATION_CREDENTIALS ({path})" in result.stderr
    assert "ya29" not in result.stderr + result.stdout
    assert len(tokens.claims) == 1


class Clock:
    def __init__(self) -> None:
        import time

        self.now = time.time()

    def __call__(self) -> float:
        return self.now


async def test_refresh_when_under_60_seconds_remain(tmp_path: Path) -> None:
    clock = Clock()
    with token_server(expires_in=3600) as tokens:
        adc = find_adc_file(
            {
                "GOOGLE_APPLICATION_CREDENTIALS": str(
                    service_account_file(tmp_path, tokens.token_uri)
                )
            }
        )
        assert adc is not None
        source = AdcSource("gemini", adc, clock=clock)
        first = await source.get()
        assert first.expires_at is not None
        assert first.extras == {"auth": "adc", "project": "adc-proj"}
        clock.now = first.expires_at - 61
        assert (await source.get()).secret.reveal() == "ya29.adc-token-1"
        clock.now = first.expires_at - 59
        second = await source.get()
    assert second.secret.reveal() == "ya29.adc-token-2"
    assert len(tokens.claims) == 2, "each refresh signs a new assertion, and each one verifies"
    assert (
        "ya29" not in repr(second) and second.source == f"service account {EMAIL} via {adc.origin}"
    )


async def test_concurrent_callers_share_one_refresh(tmp_path: Path) -> None:
    with token_server() as tokens:
        path = service_account_file(tmp_path, tokens.token_uri)
        adc = find_adc_file({"GOOGLE_APPLICATION_CREDENTIALS": str(path)})
        assert adc is not None
        source = AdcSource("gemini", adc)
        got: list[str] = []

        async def one(force: bool) -> None:
            got.append((await source.get(force_refresh=force)).secret.reveal())

        async with anyio.create_task_group() as group:
            for _ in range(8):
                group.start_soon(one, False)
        assert len(tokens.requests) == 1 and set(got) == {"ya29.adc-token-1"}
        got.clear()
        async with anyio.create_task_group() as group:  # a 401 seen by eight requests at once
            for _ in range(8):
                group.start_soon(one, True)
    assert len(tokens.requests) == 2 and set(got) == {"ya29.adc-token-2"}


async def test_authorized_user_file_where_gcloud_keeps_it(
    workspace: Workspace, tmp_path: Path
) -> None:
    user = ("client-123.apps.googleusercontent.com", "client-secret-canary", "1//refresh-canary")
    with GoogleTokenServer(user=user) as tokens, GeminiServer(project="user-proj") as api:
        api.token = "ya29.adc-token-1"
        gcloud = tmp_path / "gcloud"
        gcloud.mkdir()
        (gcloud / "application_default_credentials.json").write_bytes(
            orjson.dumps(
                {
                    "type": "authorized_user",
                    "client_id": user[0],
                    "client_secret": user[1],
                    "refresh_token": user[2],
                    "quota_project_id": "user-proj",
                    "token_uri": tokens.token_uri,
                }
            )
        )
        env = {"CLOUDSDK_CONFIG": str(gcloud), "GOOGLE_CLOUD_LOCATION": "europe-west4"}
        api.region = "europe-west4"
        loaded = loaded_with(  # an authorized user always goes to Google's token endpoint
            workspace,
            f'[providers.gemini]\nbase_url = "{api.base_url}"\n'
            f'[providers.gemini.oauth]\ntoken_url = "{tokens.token_uri}"\n',
        )
        route = route_for_target(
            RunTarget("gemini", "gemini", "gemini-2.5-pro", auth="adc"), loaded, env
        )
        assert route.candidates[0].credential.startswith("adc from gcloud (")
        api.script.append(stream(text_chunks(["ok"])))
        assert await turn(route, loaded, "gemini-2.5-pro") == "ok"
    (sent,) = api.requests
    assert sent.path.startswith("/v1/projects/user-proj/locations/europe-west4/publishers/google/")


class VertexClaudeServer(LoopbackServer):
    """Anthropic's publisher on Vertex: `...:streamRawPredict`, a bearer, the Messages body without
    `model` and with `anthropic_version: vertex-2023-10-16`."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def routes(self, app: web.Application) -> None:
        app.router.add_post(
            "/v1/projects/{project}/locations/{region}/publishers/anthropic/models/{target}",
            self.handle,
        )

    def validate(self, request: RecordedRequest) -> None:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            raise ValidationFailed("missing or wrong bearer")
        if "x-api-key" in request.headers:
            raise ValidationFailed("Vertex takes no x-api-key")
        model, _, action = request.path.rsplit("/", 1)[1].partition(":")
        if action != "streamRawPredict":
            raise ValidationFailed(f"wrong method {action}")
        body = dict(request.body)
        if "model" in body:
            raise ValidationFailed("the model belongs in the URL on Vertex")
        if body.pop("anthropic_version", None) != "vertex-2023-10-16":
            raise ValidationFailed("anthropic_version must be vertex-2023-10-16")
        validate_body({**body, "model": model})


async def test_claude_on_vertex_through_adc(workspace: Workspace, tmp_path: Path) -> None:
    with token_server() as tokens, VertexClaudeServer("ya29.adc-token-1") as api:
        env = {
            "GOOGLE_APPLICATION_CREDENTIALS": str(service_account_file(tmp_path, tokens.token_uri))
        }
        loaded = loaded_with(
            workspace, f'[providers.gemini]\nbase_url = "{api.base_url}"\nregion = "us-east5"\n'
        )
        route = route_for_target(RunTarget("gemini", "gemini", "claude-sonnet-4-6"), loaded, env)
        api.script.append(claude_reply(response_stream([Text("from claude")])))
        assert await turn(route, loaded, "claude-sonnet-4-6") == "from claude"
    (sent,) = api.requests
    assert sent.path == (
        "/v1/projects/adc-proj/locations/us-east5/publishers/anthropic/models/"
        "claude-sonnet-4-6:streamRawPredict"
    )


def test_a_key_is_stronger_than_adc(workspace: Workspace, tmp_path: Path) -> None:
    path = service_account_file(tmp_path, "http://127.0.0.1:9/token")
    loaded = loaded_with(workspace, '[providers.gemini]\nregion = "us-central1"\nproject = "p"\n')
    env = {"GOOGLE_APPLICATION_CREDENTIALS": str(path), "GEMINI_API_KEY": "AIza-canary"}
    route = route_for_target(RunTarget("gemini", "gemini", "gemini-2.5-pro"), loaded, env)
    assert route.candidates[0].credential == "api-key from env GEMINI_API_KEY"


def test_adc_only_on_the_vertex_route_unless_asked(workspace: Workspace, tmp_path: Path) -> None:
    path = service_account_file(tmp_path, "http://127.0.0.1:9/token")
    loaded = loaded_with(workspace, "")
    env = {"GOOGLE_APPLICATION_CREDENTIALS": str(path)}
    with pytest.raises(CredentialError):  # AI Studio takes a key or a sign-in, not ADC
        route_for_target(RunTarget("gemini", "gemini", "gemini-2.5-pro"), loaded, env)
    with pytest.raises(ConfigError, match="auth: adc"):
        route_for_target(RunTarget("openai", "openai", "gpt-5", auth="adc"), loaded, env)
    with pytest.raises(CredentialError, match="no Application Default Credentials"):
        route_for_target(
            RunTarget("gemini", "gemini", "gemini-2.5-pro", auth="adc"), loaded, {"HOME": "/none"}
        )


@pytest.mark.parametrize(
    "text",
    [
        '{"type": "service_account", "private_key": "-----BEGIN nothing"}',
        '{"type": "service_account", "private_key": "-----BEGIN nothing", "client_email": "a@b"}',
        '{"type": "authorized_user"}',
        '{"type": "impersonated_service_account"}',
        "not json",
    ],
)
async def test_a_bad_file_is_a_credential_error_without_the_key(tmp_path: Path, text: str) -> None:
    path = tmp_path / "broken.json"
    path.write_text(text)
    source = AdcSource(
        "gemini", find_adc_file({"GOOGLE_APPLICATION_CREDENTIALS": str(path)}) or _no()
    )
    with pytest.raises(CredentialError) as info:
        await source.get()
    assert "cannot use the ADC file" in info.value.one_line()
    assert "BEGIN" not in info.value.one_line()


def _no() -> Any:
    raise AssertionError("the file should be found")


def test_claude_on_vertex_is_in_the_catalog_and_priced(workspace: Workspace) -> None:
    paths = Paths(home=workspace.home, project=None, cwd=workspace.project)
    vertex = ModelCatalog(
        loaded_with(workspace, '[providers.gemini]\nregion = "us-east5"\n'), paths
    )
    found = vertex.find("gemini", "claude-sonnet-4-6")
    assert found is not None and found.provider == "gemini"
    assert vertex.price("gemini", "claude-sonnet-4-6") == ModelCatalog(
        loaded_with(workspace, ""), paths
    ).price("anthropic", "claude-sonnet-4-6")
    assert vertex.find("gemini", "gemini-2.5-pro") is not None
    ai_studio = ModelCatalog(loaded_with(workspace, ""), paths)
    assert ai_studio.find("gemini", "claude-sonnet-4-6") is None
