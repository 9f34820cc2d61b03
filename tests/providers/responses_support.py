"""Shared helpers for the OpenAI Responses provider tests: build the provider as the CLI does (a
`ProviderSetup` with a credential source and a clock), run one turn."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rupu.auth.credentials import AuthMode, Credential, CredentialSource, FixedCredential, Secret
from rupu.clock import SYSTEM_CLOCK, Clock
from rupu.config import ProviderConfig
from rupu.messages import AssistantTurn, Message, ModelRequest, StreamEvent, ToolSpec
from rupu.providers.base import Provider, ProviderSetup, TurnBuilder
from rupu.providers.registry import build_provider
from rupu.providers.retry import RetryPolicy

WEATHER_TOOL = ToolSpec(
    name="get_weather",
    description="Current weather for a city.",
    parameters={
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
)


def credential(
    secret: str, *, mode: AuthMode = "api-key", extras: Mapping[str, str] | None = None
) -> Credential:
    return Credential("openai", mode, Secret(secret), source="test", extras=extras or {})


def make_provider(
    config: ProviderConfig,
    *,
    source: CredentialSource | None = None,
    secret: str = "sk-test-key",
    mode: AuthMode = "api-key",
    clock: Clock = SYSTEM_CLOCK,
    max_retries: int = 2,
    name: str = "openai",
    kind: str = "openai",
) -> Provider:
    credentials = source if source is not None else FixedCredential(credential(secret, mode=mode))
    setup = ProviderSetup(
        name=name,
        kind=kind,
        config=config,
        credentials=credentials,
        retry=RetryPolicy(max_retries=max_retries),
        clock=clock,
    )
    return build_provider(setup)


def request(
    prompt: str = "hello",
    *,
    system: str = "You are terse.",
    history: list[Message] | None = None,
    tools: list[ToolSpec] | None = None,
    **kwargs: Any,
) -> ModelRequest:
    return ModelRequest(
        model="gpt-test",
        system=system,
        messages=[*(history or []), Message.user(prompt)] if prompt else list(history or []),
        tools=tools or [],
        **kwargs,
    )


async def run_turn(
    provider: Provider, req: ModelRequest
) -> tuple[AssistantTurn, list[StreamEvent]]:
    builder = TurnBuilder(provider.name)
    events: list[StreamEvent] = []
    async for event in provider.stream(req):
        events.append(event)
        builder.add(event)
    return builder.result(), events
