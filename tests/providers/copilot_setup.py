"""Building a real `CopilotProvider` against a `CopilotServer`, and driving it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from rupu.auth.credentials import AuthMode, Credential, FixedCredential, Secret
from rupu.config import ProviderConfig
from rupu.messages import AssistantTurn, Message, ModelRequest
from rupu.providers.base import ProviderSetup, TurnBuilder
from rupu.providers.copilot import CopilotProvider
from rupu.providers.retry import RetryPolicy
from tests.servers.copilot import CopilotServer

GITHUB_TOKEN = "ghp_test_github_token"


def github_credential(token: str = GITHUB_TOKEN, mode: AuthMode = "api-key") -> FixedCredential:
    return FixedCredential(Credential("copilot", mode, Secret(token), source="env GH_TOKEN"))


def copilot_provider(
    server: CopilotServer,
    *,
    github_token: str = GITHUB_TOKEN,
    mode: AuthMode = "api-key",
    max_retries: int = 2,
    **config: Any,
) -> CopilotProvider:
    setup = ProviderSetup(
        name="copilot",
        kind="copilot",
        config=ProviderConfig(token_exchange_url=server.exchange_url, **config),
        credentials=github_credential(github_token, mode),
        retry=RetryPolicy(max_retries=max_retries),
        clock=server.clock,
    )
    return CopilotProvider(setup)


@asynccontextmanager
async def open_copilot(server: CopilotServer, **kwargs: Any) -> AsyncIterator[CopilotProvider]:
    provider = copilot_provider(server, **kwargs)
    try:
        yield provider
    finally:
        await provider.aclose()


def ask(text: str = "hi", *, model: str = "gpt-4.1", **kwargs: Any) -> ModelRequest:
    return ModelRequest(model=model, system="You help.", messages=[Message.user(text)], **kwargs)


async def complete(provider: CopilotProvider, request: ModelRequest) -> AssistantTurn:
    builder = TurnBuilder(provider.name)
    async for event in provider.stream(request):
        builder.add(event)
    return builder.result()
