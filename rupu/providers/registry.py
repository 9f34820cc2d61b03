"""Which code serves which provider: built-in names map to kinds, kinds map to factories.

Factories are named by import path and loaded on first use, so start-up pays only for the providers a
run actually uses. Adding a wire dialect is one line here; adding an OpenAI-compatible vendor is data.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager

from rupu.config import BUILTIN_PROVIDERS, LoadedConfig, ProviderConfig
from rupu.config.builtins import builtin_providers
from rupu.config.presets import is_preset, preset_kind, preset_names
from rupu.errors import ConfigError, did_you_mean
from rupu.providers.base import Provider, ProviderFactory, ProviderSetup

BUILTIN_KINDS: dict[str, str] = {name: record.kind for name, record in builtin_providers().items()}

FACTORIES: dict[str, str] = {
    "openai-compatible": "rupu.providers.openai_chat:create",
    "anthropic": "rupu.providers.anthropic:create",
    "openai": "rupu.providers.openai_responses:create",
    "openai-responses": "rupu.providers.openai_responses:create",
    "copilot": "rupu.providers.copilot:create",
    "gemini": "rupu.providers.gemini:create",
    "bedrock": "rupu.providers.bedrock:create",
    "antigravity": "rupu.providers.antigravity:create",
    "mock": "rupu.providers.mock:create",
    "claude-code": "rupu.providers.claude_code:create",
}

REGISTERED_KIND = "registered"
KEYLESS_KINDS = frozenset(
    {*(record.kind for record in builtin_providers().values() if record.keyless), REGISTERED_KIND}
)

# Provider names served by a factory given at run time (`rupu.testing.use_provider`, embedding code).
_registered: dict[str, ProviderFactory] = {}


@contextmanager
def register_provider(name: str, factory: ProviderFactory) -> Iterator[None]:
    """Serve the provider name `name` with `factory` in this process until the block ends. The name
    needs no config entry and no credential, and shadows a built-in or declared provider."""
    previous = _registered.get(name)
    _registered[name] = factory
    try:
        yield
    finally:
        if previous is None:
            _registered.pop(name, None)
        else:
            _registered[name] = previous


def is_buildable(kind: str) -> bool:
    return kind in FACTORIES or kind == REGISTERED_KIND


def provider_kind(name: str, loaded: LoadedConfig) -> str:
    """The wire kind of a provider name, or a `ConfigError` listing the known names."""
    if name in _registered:
        return REGISTERED_KIND
    if name in BUILTIN_KINDS:
        return BUILTIN_KINDS[name]
    declared = loaded.config.providers.get(name)
    if declared is not None and declared.kind is not None:
        return declared.kind
    if is_preset(name):
        return preset_kind(name)
    if declared is not None:
        return "openai-compatible"
    known = known_providers(loaded)
    raise ConfigError(
        f"unknown provider '{name}'{did_you_mean(name, known)}",
        field="provider",
        hint=f"known providers: {', '.join(known)}; declare others under [providers.{name}] in config.toml",
    )


def known_providers(loaded: LoadedConfig) -> list[str]:
    return sorted({*BUILTIN_PROVIDERS, *loaded.config.providers, *preset_names(), *_registered})


def needs_credential(kind: str, config: ProviderConfig) -> bool:
    """False for kinds that never take a key and for keyless endpoints (`keyless = true`)."""
    return kind not in KEYLESS_KINDS and not config.keyless


def factory_for(kind: str, name: str) -> ProviderFactory:
    if kind == REGISTERED_KIND and name in _registered:
        return _registered[name]
    target = FACTORIES.get(kind)
    if target is None:
        raise ConfigError(
            f"provider '{name}' (kind '{kind}') is not available in this version of rupu",
            field="provider",
            hint="use an openai-compatible provider or the mock provider",
        )
    module_name, _, attr = target.partition(":")
    factory: ProviderFactory = getattr(importlib.import_module(module_name), attr)
    return factory


def build_provider(setup: ProviderSetup) -> Provider:
    return factory_for(setup.kind, setup.name)(setup)
