"""Picks the credential for a provider. This first version reads environment variables only; stored
keys and sign-in tokens plug in behind the same `CredentialSource` seam."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from rupu.auth.credentials import AuthMode, Credential, CredentialSource, FixedCredential, Secret
from rupu.config import BUILTIN_PROVIDERS
from rupu.errors import CredentialError

BUILTIN_KEY_VARS: dict[str, tuple[str, ...]] = {
    "anthropic": ("ANTHROPIC_API_KEY",),
    "openai": ("OPENAI_API_KEY",),
    "gemini": ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
    "copilot": ("COPILOT_GITHUB_TOKEN", "GH_TOKEN", "GITHUB_TOKEN"),
}


def custom_key_var(provider: str) -> str:
    """`RUPU_<NAME>_API_KEY`, the name upper-cased with every non-alphanumeric as `_`."""
    cleaned = "".join(ch if ch.isalnum() else "_" for ch in provider.upper())
    return f"RUPU_{cleaned}_API_KEY"


def key_vars(provider: str) -> tuple[str, ...]:
    if provider in BUILTIN_KEY_VARS:
        return BUILTIN_KEY_VARS[provider]
    from rupu.providers.presets import preset_key_vars

    return (*preset_key_vars(provider), custom_key_var(provider))


@dataclass(frozen=True, slots=True)
class CredentialResolver:
    env: Mapping[str, str]

    def source(self, provider: str, *, mode: AuthMode | None = None) -> CredentialSource:
        """The credential for `provider`, or a `CredentialError` naming every place looked."""
        if mode == "sso":
            raise CredentialError(
                provider,
                "no sign-in (SSO) credentials are stored",
                hint=f"run `rupu auth login --provider {provider} --mode sso`",
            )
        for var in key_vars(provider):
            value = self.env.get(var, "").strip()
            if value:
                return FixedCredential(
                    Credential(provider, "api-key", Secret(value), source=f"env {var}")
                )
        places = " or ".join(key_vars(provider))
        login = f"rupu auth login --provider {provider} --mode api-key"
        if provider in BUILTIN_PROVIDERS:
            hint = f"set {places}, or run `{login}`"
        else:
            hint = f"set {places} (or run `{login}`)"
        raise CredentialError(provider, f"no API key found (looked in {places})", hint=hint)
