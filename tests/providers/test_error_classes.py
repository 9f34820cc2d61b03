"""Each error class, for each dialect: a provider's real error answer (the status and body its loopback
server sends, or an error event inside a 200 stream) goes through the real decoding seam, and the test
asserts the class raised and each decision that reads it: retried in place or not, failed over to the
next candidate of a route or not, a sign-in token refreshed or not, the context trimmed or not."""

from __future__ import annotations

import dataclasses
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from rupu.agents.overflow import is_context_overflow
from rupu.auth.credentials import Credential, Secret
from rupu.config import ProviderConfig
from rupu.errors import (
    AccessDenied,
    AuthRejected,
    ConnectionFailed,
    ContextOverflow,
    Overloaded,
    ProviderError,
    RateLimited,
    ServerError,
    StreamInterrupted,
)
from rupu.messages import FailedOver, Message, ModelRequest, StreamEvent
from rupu.providers.base import Provider, ProviderSetup, TurnBuilder
from rupu.providers.registry import build_provider
from rupu.providers.retry import RetryPolicy
from rupu.routing.classify import action_for, classify
from rupu.routing.cooldown import CooldownRegistry
from rupu.routing.fallback import Candidate, FallbackProvider
from rupu.testing import FakeClock
from tests.providers.error_cases import (
    ANTHROPIC,
    CASES,
    CHAT,
    COPILOT,
    GEMINI,
    RESPONSES,
    Dialect,
    built,
    setup_for,
)
from tests.servers import anthropic as messages
from tests.servers import gemini_streams as google
from tests.servers.base import LoopbackServer, Reply
from tests.servers.copilot import CopilotServer, copilot_error

TRANSIENT = (RateLimited, Overloaded, ServerError, StreamInterrupted)


def _label(case: tuple[Dialect, Reply, type[ProviderError]]) -> str:
    dialect, reply, cls = case
    where = f"http{reply.status}" if reply.status != 200 else "stream"
    return f"{dialect.name}-{where}-{cls.__name__}"


def request_for(dialect: Dialect) -> ModelRequest:
    return ModelRequest(model=dialect.model, system="You are terse.", messages=[Message.user("hi")])


@contextmanager
def answering(dialect: Dialect, reply: Reply) -> Iterator[LoopbackServer]:
    with dialect.server() as server:
        server.default_reply = lambda _: reply
        yield server


async def drive(provider: Provider, request: ModelRequest) -> tuple[str, list[StreamEvent]]:
    builder = TurnBuilder(provider.name)
    events: list[StreamEvent] = []
    try:
        async for event in provider.stream(request):
            events.append(event)
            builder.add(event)
    finally:
        await provider.aclose()
    return builder.result().message.text(), events


@pytest.mark.anyio
@pytest.mark.parametrize(("dialect", "reply", "cls"), CASES, ids=[_label(c) for c in CASES])
async def test_each_class_is_raised_where_the_answer_is_read_and_retried_only_if_transient(
    dialect: Dialect, reply: Reply, cls: type[ProviderError]
) -> None:
    clock = FakeClock()
    with answering(dialect, reply) as server:
        provider = dialect.build(server.base_url, RetryPolicy(max_retries=1), clock)
        with pytest.raises(ProviderError) as caught:
            await drive(provider, request_for(dialect))
        sent = len(server.requests)
    error = caught.value
    assert type(error) is cls, error.one_line()
    retried = issubclass(cls, TRANSIENT)
    assert error.retryable is retried
    assert (sent, len(clock.sleeps)) == ((2, 1) if retried else (1, 0))
    assert is_context_overflow(error) is (cls is ContextOverflow), "the agent loop trims only these"
    assert classify(error) == cls.error_class


@pytest.mark.anyio
@pytest.mark.parametrize(("dialect", "reply", "cls"), CASES, ids=[_label(c) for c in CASES])
async def test_a_route_fails_over_on_transient_classes_and_surfaces_the_rest(
    dialect: Dialect, reply: Reply, cls: type[ProviderError]
) -> None:
    clock = FakeClock()
    with answering(dialect, reply) as server:
        route = routed(dialect, server, clock)
        if issubclass(cls, TRANSIENT):
            text, events = await drive(route, request_for(dialect))
            assert text == "hi", "the fallback (the mock provider, echoing) answered"
            (moved,) = [e for e in events if isinstance(e, FailedOver)]
            assert moved.error_class == cls.error_class and moved.to_provider == "mock"
            # A rate limit or an overload moves at once; a server or stream failure is retried first.
            assert len(server.requests) == (1 if issubclass(cls, RateLimited | Overloaded) else 2)
        else:
            with pytest.raises(ProviderError) as caught:
                await drive(route, request_for(dialect))
            assert type(caught.value) is cls
            assert action_for(classify(caught.value)) in ("surface", "reauthenticate")
            assert len(server.requests) == 1


def routed(dialect: Dialect, server: LoopbackServer, clock: FakeClock) -> FallbackProvider:
    """A route of two candidates: the dialect under test, then the offline mock provider."""
    first = Candidate(
        dialect.name,
        dialect.kind,
        dialect.model,
        ProviderConfig(base_url=server.base_url),
        None,
        "test key",
    )
    second = Candidate("mock", "mock", "mock-1", ProviderConfig(), None, "none")

    def build(candidate: Candidate, policy: RetryPolicy) -> Provider:
        if candidate is first:
            return dialect.build(server.base_url, policy, clock)
        return build_provider(setup_for("mock", "mock", ProviderConfig(), None))

    return FallbackProvider(
        [first, second],
        build=build,
        retry=RetryPolicy(max_retries=1),
        cooldowns=CooldownRegistry(),
        sleep=clock.sleep,
    )


def _dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.anyio
@pytest.mark.parametrize(
    "dialect", [ANTHROPIC, RESPONSES, CHAT, GEMINI, COPILOT], ids=lambda d: d.name
)
async def test_a_refused_connection_is_connection_failed_and_retried(dialect: Dialect) -> None:
    clock = FakeClock()
    provider = dialect.build(f"http://127.0.0.1:{_dead_port()}", RetryPolicy(max_retries=1), clock)
    with pytest.raises(ProviderError) as caught:
        await drive(provider, request_for(dialect))
    assert type(caught.value) is ConnectionFailed and caught.value.retryable
    assert len(clock.sleeps) == 1


@dataclass
class SignIn:
    """A sign-in credential source: each forced refresh hands out the next token."""

    provider: str
    token: str
    extras: dict[str, str] = field(default_factory=dict)
    refreshes: int = 0

    async def get(self, *, force_refresh: bool = False) -> Credential:
        if force_refresh:
            self.refreshes += 1
        return Credential(
            self.provider, "sso", Secret(self.token), "test sign-in", extras=self.extras
        )


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("dialect", "reply", "cls", "refreshed"),
    [
        (
            ANTHROPIC,
            messages.error_reply(401, "authentication_error", "invalid bearer"),
            AuthRejected,
            True,
        ),
        (
            ANTHROPIC,
            messages.error_reply(403, "permission_error", "no access"),
            AccessDenied,
            False,
        ),
        (
            GEMINI,
            google.error_reply(401, "Invalid credentials", "UNAUTHENTICATED"),
            AuthRejected,
            True,
        ),
        (
            GEMINI,
            google.error_reply(403, "Permission denied", "PERMISSION_DENIED"),
            AccessDenied,
            False,
        ),
    ],
    ids=lambda v: v.name if isinstance(v, Dialect) else getattr(v, "__name__", None),
)
async def test_a_sign_in_token_is_refreshed_once_on_auth_rejected_but_not_on_access_denied(
    dialect: Dialect, reply: Reply, cls: type[ProviderError], refreshed: bool
) -> None:
    if dialect is GEMINI:
        source = SignIn("gemini", "ya29.test-token", {"project": "test-project"})
    else:
        source = SignIn("anthropic", "sso-token-1")
    with answering(dialect, reply) as server:
        config = ProviderConfig(base_url=server.base_url, sso_base_url=server.base_url)
        setup = ProviderSetup(
            name=dialect.kind, kind=dialect.kind, config=config, credentials=source
        )
        provider = built(setup, RetryPolicy(max_retries=1), FakeClock())
        with pytest.raises(ProviderError) as caught:
            await drive(provider, request_for(dialect))
        sent = len(server.requests)
    assert type(caught.value) is cls
    assert (source.refreshes, sent) == ((1, 2) if refreshed else (0, 1))


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("status", "cls", "reminted"), [(401, AuthRejected, True), (403, AccessDenied, False)]
)
async def test_copilot_remints_its_token_on_auth_rejected_only(
    status: int, cls: type[ProviderError], reminted: bool
) -> None:
    reply = copilot_error(status, "token rejected", "unauthorized")
    with answering(COPILOT, reply) as server:
        assert isinstance(server, CopilotServer)
        provider = COPILOT.build(server.base_url, RetryPolicy(max_retries=1), FakeClock())
        with pytest.raises(ProviderError) as caught:
            await drive(provider, request_for(COPILOT))
        exchanges = server.exchanges
    assert type(caught.value) is cls
    assert exchanges == (2 if reminted else 1)


FAKE_CLAUDE = [sys.executable, str(Path(__file__).with_name("fake_claude.py"))]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("scenario", "cls"),
    [
        ("usage_limit", RateLimited),
        ("overloaded", Overloaded),
        ("auth", AuthRejected),
        ("too_long", ContextOverflow),
    ],
)
async def test_claude_code_results_are_classified_and_routed_by_class(
    monkeypatch: pytest.MonkeyPatch, scenario: str, cls: type[ProviderError]
) -> None:
    """The claude CLI has no HTTP status: its failed `result` text is read once, in the decoder."""
    monkeypatch.setenv("FAKE_CLAUDE_SCENARIO", scenario)
    config = ProviderConfig(command=FAKE_CLAUDE)
    request = ModelRequest(model="sonnet", system="", messages=[Message.user("hi")])
    with pytest.raises(ProviderError) as caught:
        await drive(build_provider(setup_for("claude-code", "claude-code", config, None)), request)
    assert type(caught.value) is cls
    assert is_context_overflow(caught.value) is (cls is ContextOverflow)
    first = Candidate("claude-code", "claude-code", "sonnet", config, None, "cli login")
    second = Candidate("mock", "mock", "mock-1", ProviderConfig(), None, "none")

    def build(candidate: Candidate, policy: RetryPolicy) -> Provider:
        kind = candidate.kind
        setup = setup_for(candidate.provider, kind, candidate.config, None)
        return build_provider(dataclasses.replace(setup, retry=policy))

    route = FallbackProvider(
        [first, second], build=build, cooldowns=CooldownRegistry(), sleep=FakeClock().sleep
    )
    if issubclass(cls, TRANSIENT):
        _, events = await drive(route, request)
        (moved,) = [e for e in events if isinstance(e, FailedOver)]
        assert moved.error_class == cls.error_class
    else:
        with pytest.raises(ProviderError) as surfaced:
            await drive(route, request)
        assert type(surfaced.value) is cls
