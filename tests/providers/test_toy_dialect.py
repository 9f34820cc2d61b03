"""A wire dialect added through the public seam alone: an encoder, a stream decoder and an error
explainer (`rupu.providers.dialect`), served by the one HTTP provider under a registered name. An
agent runs on it against a loopback server, and what the provider writes once (retries after a 429,
re-authentication after a 401, `max_concurrency`) works for it unchanged."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

import anyio
import orjson
import pytest
from aiohttp import web

from rupu.api import Agent, run_agent
from rupu.auth.credentials import Credential, Secret
from rupu.config import ProviderConfig
from rupu.errors import AuthRejected, ProviderError, RateLimited, StreamInterrupted
from rupu.messages import (
    Message,
    ModelRequest,
    ResponseFinished,
    ResponseStarted,
    StreamEvent,
    TextDelta,
)
from rupu.providers.base import Provider, ProviderSetup, TurnBuilder
from rupu.providers.dialect import BaseDialect, WireRequest
from rupu.providers.http import HttpClient
from rupu.providers.http_provider import HttpProvider
from rupu.providers.registry import register_provider
from tests.servers.base import LoopbackServer, RecordedRequest, Reply, ValidationFailed, sse

pytestmark = pytest.mark.anyio


# -- the toy wire format: `POST /toy/complete {model, prompt}`, `x-toy-token`, `data: {"t": ...}`


class ToyDecoder:
    def __init__(self) -> None:
        self.done = False
        self._started = False

    def feed(self, payload: bytes) -> Iterable[StreamEvent]:
        data = orjson.loads(payload)
        events: list[StreamEvent] = []
        if not self._started:
            self._started = True
            events.append(ResponseStarted(model=data.get("model")))
        if "t" in data:
            events.append(TextDelta(data["t"]))
        if "end" in data:
            self.done = True
            events.append(ResponseFinished("end_turn", data["end"]))
        return events

    def finish(self) -> Iterable[StreamEvent]:
        if not self.done:
            raise StreamInterrupted("toy", "the stream stopped short", error_type="truncated")
        return ()


class ToyDialect(BaseDialect):
    def __init__(self, setup: ProviderSetup, base_url: str) -> None:
        super().__init__(setup.name)
        self.base_url = base_url

    async def encode(
        self, request: ModelRequest, credential: Credential | None, *, http: HttpClient
    ) -> WireRequest:
        credential = self.require(credential, "give the toy provider a token")
        prompt = request.messages[-1].text()
        headers = {"content-type": "application/json", "x-toy-token": credential.secret.reveal()}
        body = {"model": request.model, "prompt": prompt}
        return WireRequest(f"{self.base_url}/toy/complete", headers, body)

    def decoder(
        self, request: ModelRequest, wire: WireRequest, headers: Mapping[str, str]
    ) -> ToyDecoder:
        return ToyDecoder()

    def explain_error(self, status: int, headers: Mapping[str, str], body: bytes) -> ProviderError:
        problem = orjson.loads(body)["problem"]
        if problem["kind"] == "slow_down":
            wait = float(headers.get("retry-after", "1"))
            return RateLimited(self.provider, problem["say"], status=status, retry_after=wait)
        if problem["kind"] == "who_are_you":
            return AuthRejected(self.provider, problem["say"], status=status)
        return ProviderError(self.provider, problem["say"], status=status)


class RotatingToken:
    """A sign-in token that a refresh replaces: `old` first, `fresh` after `force_refresh`."""

    def __init__(self) -> None:
        self.refreshes = 0

    async def get(self, *, force_refresh: bool = False) -> Credential:
        self.refreshes += force_refresh
        secret = "fresh" if self.refreshes else "old"
        return Credential("toy", "sso", Secret(secret), "toy test")


def toy_factory(base_url: str, token: RotatingToken, *, max_concurrency: int | None = None) -> Any:
    def create(setup: ProviderSetup) -> Provider:
        config = setup.config.model_copy(update={"max_concurrency": max_concurrency})
        setup = replace(setup, config=config, credentials=token)
        return HttpProvider(setup, ToyDialect(setup, base_url))

    return create


# -- the server --------------------------------------------------------------------------------


class ToyServer(LoopbackServer):
    """Accepts only the `fresh` token once `require_fresh`; counts requests in flight."""

    def __init__(self) -> None:
        super().__init__()
        self.in_flight = 0
        self.most_in_flight = 0
        self._lock = threading.Lock()

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/toy/complete", self.handle)

    def validate(self, request: RecordedRequest) -> None:
        body = request.body
        if not isinstance(body, dict) or set(body) != {"model", "prompt"}:
            raise ValidationFailed(f"not a toy request: {body!r}")
        if request.headers.get("x-toy-token") not in ("old", "fresh"):
            raise ValidationFailed("no toy token")

    async def send(self, request: web.Request, reply: Reply) -> web.StreamResponse:
        with self._lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            return await super().send(request, reply)
        finally:
            with self._lock:
                self.in_flight -= 1


def answer(*texts: str, chunk_delay: float = 0.0) -> Reply:
    chunks = [sse({"model": "toy-1", "t": t}) for t in texts] + [sse({"end": "stop"})]
    return Reply(chunks=chunks, chunk_delay=chunk_delay)


def problem(status: int, kind: str, say: str, **headers: str) -> Reply:
    body = orjson.dumps({"problem": {"kind": kind, "say": say}})
    return Reply(status=status, body=body, content_type="application/json", headers=headers)


def unless_fresh(reply: Reply) -> Any:
    def pick(request: RecordedRequest) -> Reply:
        if request.headers["x-toy-token"] == "fresh":
            return reply
        return problem(401, "who_are_you", "token expired")

    return pick


AGENT = Agent("toy-agent", provider="toy", model="toy-1", tools=[], system_prompt="Be brief.")


# -- the tests ---------------------------------------------------------------------------------


async def test_an_agent_runs_on_the_toy_dialect_through_a_429_then_succeeds() -> None:
    token = RotatingToken()
    with ToyServer() as server, register_provider("toy", toy_factory(server.base_url, token)):
        server.script.append(problem(429, "slow_down", "too fast", **{"retry-after": "0"}))
        server.script.append(answer("Hello", " there"))
        result = await run_agent(AGENT, "hi", allow_unknown_model=True)
    assert (result.status, result.text) == ("ok", "Hello there")
    assert [r.body for r in server.requests] == [{"model": "toy-1", "prompt": "hi"}] * 2
    assert token.refreshes == 0


async def test_a_401_refreshes_the_sign_in_token_once_then_succeeds() -> None:
    token = RotatingToken()
    with ToyServer() as server, register_provider("toy", toy_factory(server.base_url, token)):
        server.script.append(unless_fresh(answer("again")))
        server.script.append(unless_fresh(answer("again")))
        result = await run_agent(AGENT, "hi", allow_unknown_model=True)
    assert result.text == "again"
    assert [r.headers["x-toy-token"] for r in server.requests] == ["old", "fresh"]
    assert token.refreshes == 1


async def test_a_401_after_the_refresh_is_the_callers_with_the_dialects_class() -> None:
    token = RotatingToken()
    with ToyServer() as server, register_provider("toy", toy_factory(server.base_url, token)):
        server.default_reply = lambda _: problem(401, "who_are_you", "no such user")
        with pytest.raises(AuthRejected, match="no such user"):
            await run_agent(AGENT, "hi", allow_unknown_model=True)
    assert token.refreshes == 1 and len(server.requests) == 2


async def test_max_concurrency_holds_requests_to_the_limit() -> None:
    token = RotatingToken()
    with ToyServer() as server:
        server.default_reply = lambda _: answer("a", "b", "c", chunk_delay=0.05)
        factory = toy_factory(server.base_url, token, max_concurrency=2)
        provider = factory(ProviderSetup("toy", "registered", ProviderConfig(), None))
        texts: list[str] = []

        async def one(index: int) -> None:
            builder = TurnBuilder("toy")
            request = ModelRequest("toy-1", "", [Message.user(f"q{index}")])
            async for event in provider.stream(request):
                builder.add(event)
            assert builder.finished is not None
            texts.append(builder.finished.message.text())

        async with anyio.create_task_group() as group:
            for index in range(6):
                group.start_soon(one, index)
        await provider.aclose()
    assert texts == ["abc"] * 6
    assert server.most_in_flight == 2
