"""The three gemini routes at the provider level: AI Studio (API key), Code Assist (Google sign-in,
with project discovery and onboarding) and Vertex AI (project + region)."""

from __future__ import annotations

import pytest

from rupu.errors import ConfigError, ProviderError
from rupu.providers.gemini import ai_studio_url, vertex_url
from rupu.providers.gemini_code_assist import forget_projects
from rupu.testing import FakeClock
from tests.providers.gemini_support import (
    RotatingCredentials,
    key_credentials,
    provider_for,
    request,
    run_turn,
    sso_credentials,
)
from tests.servers.gemini import GeminiServer
from tests.servers.gemini_streams import stream, text_chunks, usage

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def _fresh_project_cache() -> None:
    forget_projects()


def test_urls_normalise_base_and_model() -> None:
    for base in ("https://g.example", "https://g.example/", "https://g.example/v1beta"):
        assert ai_studio_url(base, "models/gemini-2.5-pro") == (
            "https://g.example/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse"
        )
    assert vertex_url(None, "p1", "europe-west4", "gemini-2.5-pro").startswith(
        "https://europe-west4-aiplatform.googleapis.com/v1/projects/p1/locations/europe-west4/"
    )
    assert vertex_url(None, "p1", "global", "gemini-3-pro-preview").startswith(
        "https://aiplatform.googleapis.com/v1/projects/p1/locations/global/publishers/google/models/"
    )


async def test_ai_studio_route_sends_key_header_and_streams() -> None:
    with GeminiServer(api_key="AIza-canary-1") as server:
        server.script.append(stream(text_chunks(["Hello", " there"])))
        provider = provider_for(server, credentials=key_credentials("AIza-canary-1"))
        _, turn = await run_turn(provider, request())
    assert turn.message.text() == "Hello there"
    sent = server.requests[0]
    assert sent.path == "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    assert sent.query == {"alt": "sse"}
    assert sent.headers["x-goog-api-key"] == "AIza-canary-1"
    assert "authorization" not in sent.headers
    assert sent.body["contents"] == [{"role": "user", "parts": [{"text": "hi"}]}]
    assert sent.body["systemInstruction"] == {"parts": [{"text": "You are terse."}]}


async def test_code_assist_route_uses_envelope_and_discovered_project() -> None:
    with GeminiServer(project="managed-proj-42") as server:
        server.script.append(stream(text_chunks(["Signed", " in"], meta=usage(20, 2))))
        provider = provider_for(server, credentials=sso_credentials())
        _, turn = await run_turn(provider, request())
    assert turn.message.text() == "Signed in"
    assert turn.request_id == "trace-7f3a"
    assert turn.usage.input_tokens == 20
    load, generate = server.requests
    assert load.path == "/v1internal:loadCodeAssist"
    assert load.body == {
        "metadata": {
            "ideType": "IDE_UNSPECIFIED",
            "platform": "PLATFORM_UNSPECIFIED",
            "pluginType": "GEMINI",
        }
    }
    assert generate.path == "/v1internal:streamGenerateContent"
    assert generate.headers["authorization"] == "Bearer ya29.test-token"
    body = generate.body
    assert body["model"] == "gemini-2.5-flash"
    assert body["project"] == "managed-proj-42"
    assert body["user_prompt_id"]
    assert body["request"]["contents"] == [{"role": "user", "parts": [{"text": "hi"}]}]
    assert isinstance(body["request"]["session_id"], str)


async def test_code_assist_onboards_a_new_account_and_polls_the_operation() -> None:
    clock = FakeClock()
    with GeminiServer(onboarded=False, onboard_polls=3, project="free-proj") as server:
        server.script.append(stream(text_chunks(["ok"])))
        provider = provider_for(server, credentials=sso_credentials(), clock=clock)
        _, turn = await run_turn(provider, request())
    paths = [r.path for r in server.requests]
    assert paths == [
        "/v1internal:loadCodeAssist",
        "/v1internal:onboardUser",
        "/v1internal/operations/onboard-1",
        "/v1internal/operations/onboard-1",
        "/v1internal/operations/onboard-1",
        "/v1internal:streamGenerateContent",
    ]
    onboard = server.requests[1].body
    assert onboard["tierId"] == "free-tier"
    assert "cloudaicompanionProject" not in onboard
    assert clock.sleeps == [5.0, 5.0, 5.0]
    assert server.requests[-1].body["project"] == "free-proj"
    assert turn.message.text() == "ok"


async def test_discovered_project_is_cached_for_the_process() -> None:
    with GeminiServer() as server:
        for _ in range(2):
            server.script.append(stream(text_chunks(["again"])))
            await run_turn(provider_for(server, credentials=sso_credentials()), request())
    paths = [r.path for r in server.requests]
    assert paths.count("/v1internal:loadCodeAssist") == 1
    assert paths.count("/v1internal:streamGenerateContent") == 2


@pytest.mark.parametrize("where", ["config", "credential"])
async def test_known_project_skips_discovery(where: str) -> None:
    with GeminiServer(project="my-gcp") as server:
        server.script.append(stream(text_chunks(["direct"])))
        if where == "config":
            provider = provider_for(server, credentials=sso_credentials(), project="my-gcp")
        else:
            provider = provider_for(
                server, credentials=sso_credentials(extras={"project": "my-gcp"})
            )
        await run_turn(provider, request())
    assert [r.path for r in server.requests] == ["/v1internal:streamGenerateContent"]
    assert server.requests[0].body["project"] == "my-gcp"


async def test_account_that_needs_a_project_gets_a_clear_error() -> None:
    with GeminiServer(
        onboarded=False,
        default_tier="standard-tier",
        ineligible=["Your account is not eligible for the free tier"],
    ) as server:
        with pytest.raises(ProviderError) as caught:
            await run_turn(provider_for(server, credentials=sso_credentials()), request())
        server.assert_clean()
    error = caught.value
    assert error.error_type == "project_required"
    assert "not eligible for the free tier" in error.message
    assert error.hint is not None and "project =" in error.hint
    assert [r.path for r in server.requests] == ["/v1internal:loadCodeAssist"]


async def test_sign_in_401_refreshes_once_and_retries() -> None:
    credentials = RotatingCredentials(
        ["ya29.expired", "ya29.test-token"], extras={"project": "test-project"}
    )
    with GeminiServer() as server:
        server.expired_tokens.add("ya29.expired")
        server.script.append(stream(text_chunks(["fresh"])))
        _, turn = await run_turn(provider_for(server, credentials=credentials), request())
    assert turn.message.text() == "fresh"
    assert credentials.refreshes == 1
    auths = [r.headers["authorization"] for r in server.requests]
    assert auths == ["Bearer ya29.expired", "Bearer ya29.test-token"]


async def test_sign_in_401_after_refresh_is_an_error() -> None:
    credentials = RotatingCredentials(["ya29.expired", "ya29.also-expired"])
    with GeminiServer() as server:
        server.expired_tokens.update({"ya29.expired", "ya29.also-expired"})
        with pytest.raises(ProviderError) as caught:
            await run_turn(provider_for(server, credentials=credentials), request())
    assert caught.value.status == 401
    assert caught.value.error_type == "UNAUTHENTICATED"
    assert (
        caught.value.hint is not None and "rupu auth login --provider gemini" in caught.value.hint
    )
    assert credentials.refreshes == 1
    assert len(server.requests) == 2  # loadCodeAssist, refused twice; never retried further


async def test_vertex_route_with_bearer() -> None:
    with GeminiServer(project="vx-proj", region="europe-west4") as server:
        server.script.append(stream(text_chunks(["from vertex"])))
        provider = provider_for(
            server, credentials=sso_credentials(), project="vx-proj", region="europe-west4"
        )
        _, turn = await run_turn(provider, request(model="gemini-2.5-pro"))
    assert turn.message.text() == "from vertex"
    sent = server.requests[0]
    assert sent.path == (
        "/v1/projects/vx-proj/locations/europe-west4/publishers/google/models/"
        "gemini-2.5-pro:streamGenerateContent"
    )
    assert sent.headers["authorization"] == "Bearer ya29.test-token"
    assert "project" not in sent.body


async def test_vertex_route_with_api_key() -> None:
    with GeminiServer(project="vx-proj", vertex_key=True) as server:
        server.script.append(stream(text_chunks(["keyed"])))
        provider = provider_for(server, project="vx-proj", region="us-central1")
        _, turn = await run_turn(provider, request())
    assert turn.message.text() == "keyed"
    assert server.requests[0].headers["x-goog-api-key"] == "test-gemini-key"


async def test_vertex_region_without_project_is_a_config_error() -> None:
    with GeminiServer() as server, pytest.raises(ConfigError) as caught:
        await run_turn(provider_for(server, region="us-central1"), request())
    assert "project" in caught.value.one_line()
    assert server.requests == []
