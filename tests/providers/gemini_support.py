"""Shared set-up for the gemini provider tests: providers pointed at a `GeminiServer`, a credential
source that counts refreshes; their waits go to a `rupu.testing.FakeClock`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rupu.auth.credentials import Credential, FixedCredential, Secret
from rupu.config import ProviderConfig
from rupu.messages import AssistantTurn, Message, ModelRequest, StreamEvent
from rupu.providers.base import ProviderSetup, TurnBuilder
from rupu.providers.gemini import GeminiProvider, create
from rupu.providers.retry import RetryPolicy
from rupu.testing import FakeClock
from tests.servers.gemini import GeminiServer

MODEL = "gemini-2.5-flash"


@dataclass
class RotatingCredentials:
    """Hands out `tokens` in order, moving on only when asked to refresh."""

    tokens: list[str]
    extras: dict[str, str] = field(default_factory=dict)
    refreshes: int = 0

    async def get(self, *, force_refresh: bool = False) -> Credential:
        if force_refresh:
            self.refreshes += 1
        token = self.tokens[min(self.refreshes, len(self.tokens) - 1)]
        return Credential("gemini", "sso", Secret(token), "test sign-in", extras=self.extras)


def key_credentials(key: str = "test-gemini-key") -> FixedCredential:
    return FixedCredential(Credential("gemini", "api-key", Secret(key), "test"))


def sso_credentials(
    token: str = "ya29.test-token", extras: dict[str, str] | None = None
) -> FixedCredential:
    return FixedCredential(
        Credential("gemini", "sso", Secret(token), "test sign-in", extras=extras or {})
    )


def provider_for(
    server: GeminiServer,
    *,
    credentials: Any = None,
    clock: FakeClock | None = None,
    max_retries: int = 2,
    name: str = "gemini",
    **config: Any,
) -> GeminiProvider:
    """A provider whose base URLs point at `server` (`base_url` for AI Studio and Vertex,
    `sso_base_url` for Code Assist); `config` adds project, region, and so on."""
    settings = ProviderConfig(base_url=server.base_url, sso_base_url=server.base_url, **config)
    setup = ProviderSetup(
        name=name,
        kind="gemini",
        config=settings,
        credentials=credentials if credentials is not None else key_credentials(),
        retry=RetryPolicy(max_retries=max_retries),
        clock=clock or FakeClock(),
    )
    return create(setup)


def request(text: str = "hi", **kwargs: Any) -> ModelRequest:
    kwargs.setdefault("model", MODEL)
    kwargs.setdefault("system", "You are terse.")
    return ModelRequest(messages=[Message.user(text)], **kwargs)


async def run_turn(
    provider: GeminiProvider, model_request: ModelRequest
) -> tuple[list[StreamEvent], AssistantTurn]:
    builder = TurnBuilder(provider.name)
    events: list[StreamEvent] = []
    try:
        async for event in provider.stream(model_request):
            events.append(event)
            builder.add(event)
    finally:
        await provider.aclose()
    return events, builder.result()
