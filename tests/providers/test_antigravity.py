"""The antigravity provider against the loopback Antigravity server: the envelope, Claude's tool
schemas and thinking budget, project discovery for a sign-in that carries no project, a 401 cured by
one refresh."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest

from rupu.auth.credentials import Credential, Secret
from rupu.config import ProviderConfig
from rupu.errors import ProviderError
from rupu.messages import Message, ModelRequest, ToolSpec
from rupu.providers.antigravity import encode_body, user_agent, wrap_request
from rupu.providers.base import ProviderSetup, TurnBuilder
from rupu.providers.registry import build_provider
from rupu.providers.retry import RetryPolicy
from rupu.testing import FakeClock
from tests.servers.antigravity import AntigravityServer
from tests.servers.gemini_streams import call_chunks, text_chunks
from tests.servers.gemini_streams import stream as gemini_stream

pytestmark = pytest.mark.anyio
TOOL = ToolSpec(
    "read_file",
    "Read a file.",
    {"$schema": "x", "type": "object", "properties": {"path": {"type": "string"}}},
)


@dataclass
class Tokens:
    """Hands out `tokens` in order, moving on only when asked to refresh."""

    tokens: list[str]
    extras: dict[str, str]
    refreshes: int = 0

    async def get(self, *, force_refresh: bool = False) -> Credential:
        if force_refresh:
            self.refreshes += 1
        token = self.tokens[min(self.refreshes, len(self.tokens) - 1)]
        return Credential("antigravity", "sso", Secret(token), "test sign-in", extras=self.extras)


def request(model: str, **kwargs: Any) -> ModelRequest:
    return ModelRequest(model=model, system="Be terse.", messages=[Message.user("hi")], **kwargs)


async def run(server: AntigravityServer, credentials: Tokens, model_request: ModelRequest) -> str:
    setup = ProviderSetup(
        name="antigravity",
        kind="antigravity",
        config=ProviderConfig(base_url=server.base_url),
        credentials=credentials,
        retry=RetryPolicy(max_retries=0),
        clock=FakeClock(),
    )
    provider = build_provider(setup)
    builder = TurnBuilder(provider.name)
    try:
        async for event in provider.stream(model_request):
            builder.add(event)
    finally:
        await provider.aclose()
    return builder.result().message.text()


def test_claude_takes_tools_in_parameters_and_gemini_in_json_schema() -> None:
    claude = encode_body(request("claude-sonnet-4-6", tools=[TOOL]), provider="antigravity")
    (declaration,) = claude["tools"][0]["functionDeclarations"]
    assert "parametersJsonSchema" not in declaration
    assert declaration["parameters"] == {
        "type": "object",
        "properties": {"path": {"type": "string"}},
    }
    gemini = encode_body(request("gemini-3-flash", tools=[TOOL]), provider="antigravity")
    assert "parametersJsonSchema" in gemini["tools"][0]["functionDeclarations"][0]


def test_claude_thinking_budget_follows_the_effort_below_max_output() -> None:
    body = encode_body(
        request("claude-opus-4-5-thinking", effort="high", max_tokens=4000), provider="antigravity"
    )
    generation = body["generationConfig"]
    assert generation["thinkingConfig"] == {"includeThoughts": True, "thinkingBudget": 24576}
    assert generation["maxOutputTokens"] == 24576 + 8192
    plain = encode_body(request("claude-sonnet-4-6", effort="high"), provider="antigravity")
    assert "generationConfig" not in plain


def test_the_envelope_and_user_agent() -> None:
    first = wrap_request({"contents": []}, model="gemini-3-flash", project="p", session_id="s")
    second = wrap_request({"contents": []}, model="gemini-3-flash", project="p", session_id="s")
    assert first["request"] == {"contents": [], "sessionId": "s"}
    assert (first["requestType"], first["userAgent"]) == ("agent", "antigravity")
    assert first["requestId"].startswith("agent-") and first["requestId"] != second["requestId"]
    agent, platform_part = user_agent().split(" ")
    assert agent == "antigravity/1.18.4" and "/" in platform_part


async def test_a_sign_in_without_a_project_discovers_it_once() -> None:
    with AntigravityServer(token="ya29.a", project="found-7") as server:
        server.script.extend(
            [
                gemini_stream(call_chunks([("read_file", {"path": "a.py"})])),
                gemini_stream(text_chunks(["Done."])),
            ]
        )
        credentials = Tokens(["ya29.a"], extras={})
        await run(server, credentials, request("claude-sonnet-4-6", tools=[TOOL]))
        assert await run(server, credentials, request("claude-sonnet-4-6")) == "Done."
    paths = [r.path for r in server.requests]
    assert paths.count("/v1internal:loadCodeAssist") == 1
    assert [r.body["project"] for r in server.requests if "stream" in r.path] == ["found-7"] * 2


async def test_a_401_refreshes_the_sign_in_once() -> None:
    with AntigravityServer(token="ya29.new", project="p-1") as server:
        server.expired_tokens.add("ya29.old")
        server.script.append(gemini_stream(text_chunks(["Fresh."])))
        credentials = Tokens(["ya29.old", "ya29.new"], extras={"project": "p-1"})
        assert await run(server, credentials, request("gemini-3.1-pro-low")) == "Fresh."
    assert credentials.refreshes == 1
    assert [r.headers["authorization"] for r in server.requests] == [
        "Bearer ya29.old",
        "Bearer ya29.new",
    ]


def cascade_setup(handler: httpx.MockTransport, **config: Any) -> ProviderSetup:
    return ProviderSetup(
        name="antigravity",
        kind="antigravity",
        config=ProviderConfig.model_validate(config),
        credentials=Tokens(["ya29.a"], extras={"project": "p-1"}),
        retry=RetryPolicy(max_retries=0),
        clock=FakeClock(),
        transport=handler,
    )


def sse_body(text: str) -> bytes:
    chunks = text_chunks([text])
    return b"".join(
        b"data: " + orjson.dumps({"response": c, "traceId": "t"}) + b"\r\n\r\n" for c in chunks
    )


async def stream_text(setup: ProviderSetup, turns: int = 1) -> str:
    provider = build_provider(setup)
    text = ""
    try:
        for _ in range(turns):
            builder = TurnBuilder(provider.name)
            async for event in provider.stream(request("gemini-3-flash")):
                builder.add(event)
            text = builder.result().message.text()
    finally:
        await provider.aclose()
    return text


async def test_the_sandboxes_refusing_cascade_to_production_and_it_is_remembered() -> None:
    hosts: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        hosts.append(request.url.host)
        if request.url.host == "daily-cloudcode-pa.sandbox.googleapis.com":
            return httpx.Response(404, json={"error": {"code": 404, "status": "NOT_FOUND"}})
        if request.url.host == "autopush-cloudcode-pa.sandbox.googleapis.com":
            return httpx.Response(403, json={"error": {"code": 403, "status": "PERMISSION_DENIED"}})
        assert request.headers["user-agent"].startswith("antigravity/")
        stream = httpx.ByteStream(sse_body("From production."))
        return httpx.Response(200, stream=stream, headers={"content-type": "text/event-stream"})

    assert await stream_text(cascade_setup(httpx.MockTransport(handler)), turns=2) == (
        "From production."
    )
    assert hosts == [
        "daily-cloudcode-pa.sandbox.googleapis.com",
        "autopush-cloudcode-pa.sandbox.googleapis.com",
        "cloudcode-pa.googleapis.com",
        "cloudcode-pa.googleapis.com",
    ]


async def test_a_configured_base_url_never_cascades() -> None:
    hosts: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        hosts.append(request.url.host)
        return httpx.Response(404, json={"error": {"code": 404, "status": "NOT_FOUND"}})

    setup = cascade_setup(httpx.MockTransport(handler), base_url="https://gateway.test")
    with pytest.raises(ProviderError) as caught:
        await stream_text(setup)
    assert caught.value.status == 404 and hosts == ["gateway.test"]


async def test_no_project_anywhere_means_the_shared_default_and_discovery_stays_on_base() -> None:
    with AntigravityServer(token="ya29.a", project=None) as server:
        server.script.append(gemini_stream(text_chunks(["Shared."])))
        assert await run(server, Tokens(["ya29.a"], extras={}), request("gemini-3-flash")) == (
            "Shared."
        )
    assert [r.path for r in server.requests] == [
        "/v1internal:loadCodeAssist",
        "/v1internal:streamGenerateContent",
    ]
    assert server.requests[1].body["project"] == "rising-fact-p41fc"
