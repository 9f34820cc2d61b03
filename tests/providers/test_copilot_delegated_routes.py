"""Copilot's Messages (claude-*) and Responses (gpt-5*) routes, served through the anthropic and
openai-responses dialects with the Copilot token as a plain bearer."""

from __future__ import annotations

import pytest
from aiohttp import web

from rupu.testing import FakeClock
from tests.providers.copilot_setup import GITHUB_TOKEN, ask, complete, open_copilot
from tests.servers import anthropic as anthropic_server
from tests.servers import openai_responses as responses_server
from tests.servers.anthropic_validate import validate_body as validate_messages_body
from tests.servers.anthropic_validate import validate_with_sdk
from tests.servers.base import LoopbackServer, RecordedRequest, ValidationFailed
from tests.servers.copilot import EDITOR_HEADERS, CopilotServer


class CopilotGateway(LoopbackServer):
    """The Copilot API host's `/responses` and `/v1/messages`, accepting only issued Copilot tokens."""

    def __init__(self, exchange: CopilotServer) -> None:
        super().__init__()
        self.exchange = exchange

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/responses", self.handle)
        app.router.add_post("/v1/messages", self.handle)

    def validate(self, request: RecordedRequest) -> None:
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
        if bearer not in self.exchange.issued:
            raise ValidationFailed("not a Copilot token this exchange issued")
        if "x-api-key" in request.headers or "anthropic-beta" in request.headers:
            raise ValidationFailed("Copilot takes a plain bearer: no x-api-key, no sign-in betas")
        missing = [h for h in EDITOR_HEADERS if not request.headers.get(h)]
        if missing or request.headers.get("openai-intent") != "conversation-edits":
            raise ValidationFailed(f"missing Copilot headers {missing}")
        if "chatgpt-account-id" in request.headers:
            raise ValidationFailed("the ChatGPT route headers do not belong here")
        assert isinstance(request.body, dict)
        if request.path == "/v1/messages":
            validate_messages_body(request.body)
            validate_with_sdk(request.body)
        else:
            responses_server.validate_body(request.body)


@pytest.mark.anyio
async def test_claude_models_take_the_messages_route() -> None:
    with CopilotServer(clock=FakeClock()) as exchange, CopilotGateway(exchange) as gateway:
        gateway.script.append(
            anthropic_server.stream_reply(
                anthropic_server.response_stream([anthropic_server.Text("From Claude.")])
            )
        )
        async with open_copilot(exchange, base_url=gateway.base_url) as provider:
            turn = await complete(provider, ask("hi", model="claude-sonnet-4.6"))
    assert turn.message.text() == "From Claude."
    (request,) = gateway.requests
    assert request.path == "/v1/messages"
    assert request.body["model"] == "claude-sonnet-4.6"
    assert GITHUB_TOKEN not in str(request.headers)


@pytest.mark.anyio
async def test_gpt5_models_take_the_responses_route() -> None:
    with CopilotServer(clock=FakeClock()) as exchange, CopilotGateway(exchange) as gateway:
        stream = responses_server.ResponseStream(model="gpt-5").text("From GPT-5.").completed()
        gateway.script.append(responses_server.stream_reply(stream))
        async with open_copilot(exchange, base_url=gateway.base_url) as provider:
            turn = await complete(provider, ask("hi", model="gpt-5"))
    assert turn.message.text() == "From GPT-5."
    (request,) = gateway.requests
    assert request.path == "/responses"
    assert request.body["model"] == "gpt-5"
    assert request.body["store"] is False
