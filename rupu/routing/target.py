"""Where a run goes before any fallback: the provider, its wire kind, the model and the auth mode,
resolved from flags, the agent's frontmatter, config.toml and the baked-in catalog.

Routing sits below `rupu.agents`, so it reads an agent through `RoutedAgent`, the few attributes it
needs (`rupu.agents.spec.AgentSpec` has them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from rupu.auth.adc import AuthChoice
from rupu.config import BUILTIN_PROVIDERS, LoadedConfig
from rupu.config.builtins import builtin
from rupu.errors import ConfigError
from rupu.providers.registry import provider_kind


class RoutedFrontmatter(Protocol):
    """The frontmatter keys that decide where an agent runs."""

    @property
    def provider(self) -> str | None: ...
    @property
    def model(self) -> str | None: ...
    @property
    def auth(self) -> AuthChoice | None: ...
    @property
    def fallback(self) -> Sequence[str] | None: ...
    @property
    def service_tier(self) -> str | None: ...


class RoutedAgent(Protocol):
    """An agent as routing sees it."""

    @property
    def name(self) -> str: ...
    @property
    def path(self) -> Path: ...
    @property
    def frontmatter(self) -> RoutedFrontmatter: ...


@dataclass(frozen=True, slots=True)
class RunTarget:
    provider: str
    kind: str
    model: str
    auth: AuthChoice | None = None
    fallbacks: tuple[str, ...] = ()


def resolve_target(
    spec: RoutedAgent,
    loaded: LoadedConfig,
    *,
    provider: str | None = None,
    model: str | None = None,
    auth: AuthChoice | None = None,
) -> RunTarget:
    """Flags beat the agent, the agent beats the provider's `default_model`, which beats the config's
    `default_model`, which beats the default in a built-in provider's record."""
    front = spec.frontmatter
    name = provider or front.provider or loaded.config.default_provider
    if not name:
        raise ConfigError(
            f"agent '{spec.name}' names no provider",
            field="provider",
            hint="add `provider:` to its frontmatter, set default_provider in config.toml, or pass --provider",
        )
    kind = provider_kind(name, loaded)
    chosen = model or (front.model if not provider or provider == front.provider else None)
    chosen = chosen or loaded.provider(name).default_model
    if not chosen and name == (loaded.config.default_provider or name):
        chosen = loaded.config.default_model
    chosen = chosen or catalog_default(name)
    if not chosen:
        raise ConfigError(
            f"no model for provider '{name}'",
            field="model",
            hint=f"add `model:` to the agent, set [providers.{name}] default_model, or pass --model",
        )
    return RunTarget(provider=name, kind=kind, model=chosen, auth=auth or front.auth)


def catalog_default(provider: str) -> str | None:
    """The default model of a built-in provider (its record's)."""
    return builtin(provider).default_model if provider in BUILTIN_PROVIDERS else None
