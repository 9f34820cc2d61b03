"""Helpers shared by the anthropic provider tests: a provider pointed at a loopback server (on the
clock it is given: a `rupu.testing.FakeClock` records its waits), and a credential source that rotates
sign-in tokens."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rupu.auth.credentials import AuthMode, Credential, FixedCredential, Secret
from rupu.clock import SYSTEM_CLOCK, Clock
from rupu.config import ProviderConfig
from rupu.messages import AssistantTurn, Message, ModelRequest, StreamEvent
from rupu.providers.anthropic import AnthropicProvider, create
from rupu.providers.base import ProviderSetup, TurnBuilder
from rupu.providers.retry import RetryPolicy
from tests.servers.anthropic import MODEL


@dataclass
class RotatingTokens:
    """A sign-in credential source: each forced refresh hands out the next token."""

    tokens: list[str]
    refreshes: int = 0
    gets: int = 0

    async def get(self, *, force_refresh: bool = False) -> Credential:
        self.gets += 1
        if force_refresh:
            self.refreshes += 1
        token = self.tokens[min(self.refreshes, len(self.tokens) - 1)]
        return Credential("anthropic", "sso", Secret(token), source="test sign-in")


def api_key(value: str = "test-key", *, mode: AuthMode = "api-key") -> FixedCredential:
    return FixedCredential(
        Credential("anthropic", mode, Secret(value), source="env ANTHROPIC_API_KEY")
    )


def make_provider(
    base_url: str,
    *,
    credentials: Any = None,
    clock: Clock = SYSTEM_CLOCK,
    max_retries: int = 2,
    **config: Any,
) -> AnthropicProvider:
    setup = ProviderSetup(
        name="anthropic",
        kind="anthropic",
        config=ProviderConfig(base_url=base_url, **config),
        credentials=credentials if credentials is not None else api_key(),
        retry=RetryPolicy(max_retries=max_retries),
        clock=clock,
    )
    return create(setup)


def request(text: str = "hi", **kwargs: Any) -> ModelRequest:
    kwargs.setdefault("model", MODEL)
    kwargs.setdefault("system", "You are terse.")
    messages = kwargs.pop("messages", None) or [Message.user(text)]
    return ModelRequest(messages=messages, **kwargs)


async def run_turn(
    provider: AnthropicProvider, req: ModelRequest
) -> tuple[AssistantTurn, list[StreamEvent]]:
    events = [event async for event in provider.stream(req)]
    builder = TurnBuilder(provider.name)
    for event in events:
        builder.add(event)
    return builder.result(), events
