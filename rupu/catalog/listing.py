"""Where each provider's model list is read, and with which credential headers (the pages themselves
are requested and parsed in `rupu.catalog.list_pages`). Default hosts are the providers' own.

| kind              | endpoint                                            | auth                         | pages              |
|-------------------|-----------------------------------------------------|------------------------------|--------------------|
| anthropic         | `{root}/v1/models?limit=1000`                       | x-api-key, or Bearer (SSO)   | has_more/after_id  |
| openai (key)      | `{root}/v1/models`                                  | Bearer (+ organization)      | one page           |
| openai (sign-in)  | `{site}/backend-api/codex/models?client_version=..` | Bearer + chatgpt-account-id  | one page           |
| gemini            | `{root}/v1beta/models?pageSize=1000`                | x-goog-api-key               | nextPageToken      |
| copilot           | `{api}/models`                                      | Copilot token + editor hdrs  | one page           |
| openai-compatible | `{root}/v1/models`                                  | Bearer                       | one page           |
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from rupu.auth.credentials import Credential
from rupu.catalog.list_pages import (
    AnthropicLister,
    CodexModelsLister,
    CopilotLister,
    GeminiLister,
    ModelLister,
    OpenAIModelsLister,
    Page,
    PageRequest,
)
from rupu.config import ProviderConfig
from rupu.errors import ProviderError
from rupu.providers import anthropic, openai_responses
from rupu.providers.copilot_token import DEFAULT_API_BASE
from rupu.providers.gemini import AI_STUDIO_URL

__all__ = ["LISTERS", "ModelLister", "PageRequest", "api_root", "lister_for"]

# Headers that carry the credential; configured `headers` never replace them.
AUTH_HEADERS = frozenset({"authorization", "x-api-key", "x-goog-api-key"})


def api_root(base_url: str, *suffixes: str) -> str:
    """`base_url` without a trailing slash or a trailing version segment (`/v1`, `/v1beta`)."""
    root = base_url.rstrip("/")
    for suffix in suffixes:
        if root.endswith(suffix):
            return root[: -len(suffix)]
    return root


ListerFactory = Callable[[str, ProviderConfig, Credential], ModelLister]


def _anthropic(provider: str, config: ProviderConfig, credential: Credential) -> ModelLister:
    base = config.base_url or anthropic.DEFAULT_BASE_URL
    return AnthropicLister(provider, api_root(base, "/v1"), credential)


def _openai(provider: str, config: ProviderConfig, credential: Credential) -> ModelLister:
    if credential.mode == "sso":
        site = (config.sso_base_url or openai_responses.DEFAULT_SSO_BASE_URL).rstrip("/")
        site = site.removesuffix("/codex").removesuffix("/backend-api")
        return CodexModelsLister(provider, site, credential)
    base = config.base_url or openai_responses.DEFAULT_BASE_URL
    extra = {"openai-organization": config.org_id} if config.org_id else {}
    return OpenAIModelsLister(provider, api_root(base, "/v1"), credential, True, extra)


def _gemini(provider: str, config: ProviderConfig, credential: Credential) -> ModelLister:
    base = config.base_url or AI_STUDIO_URL
    return GeminiLister(provider, api_root(base, "/v1beta", "/v1alpha", "/v1"), credential)


def _copilot(provider: str, config: ProviderConfig, credential: Credential) -> ModelLister:
    """`credential` is the Copilot token (see `refresh.copilot_token_source`); its exchange names the
    API host, which `[providers.copilot] base_url` overrides."""
    base = config.base_url or credential.extras.get("api_base") or DEFAULT_API_BASE
    return CopilotLister(provider, base.rstrip("/"), credential)


def _compatible(provider: str, config: ProviderConfig, credential: Credential) -> ModelLister:
    if not config.base_url:
        raise ProviderError(provider, "no base_url to list models from", error_type="config")
    return OpenAIModelsLister(provider, api_root(config.base_url, "/v1"), credential)


LISTERS: dict[str, ListerFactory] = {
    "anthropic": _anthropic,
    "openai": _openai,
    "openai-responses": _openai,
    "gemini": _gemini,
    "copilot": _copilot,
    "openai-compatible": _compatible,
}


def lister_for(
    provider: str, kind: str, config: ProviderConfig, credential: Credential
) -> ModelLister | None:
    """The lister for a provider's wire kind, sending `[providers.<name>] headers` too; None for
    kinds with a fixed list (mock)."""
    factory = LISTERS.get(kind)
    if factory is None:
        return None
    lister = factory(provider, config, credential)
    return WithHeaders(lister, config.headers) if config.headers else lister


@dataclass(slots=True)
class WithHeaders:
    """Adds the configured headers (a gateway's, say) to every page request; they may replace any
    header but the credential's."""

    inner: ModelLister
    headers: Mapping[str, str]

    @property
    def provider(self) -> str:
        return self.inner.provider

    def first(self) -> PageRequest:
        return self._add(self.inner.first())

    def parse(self, body: Any, request: PageRequest) -> Page:
        models, following = self.inner.parse(body, request)
        return models, self._add(following) if following is not None else None

    def _add(self, request: PageRequest) -> PageRequest:
        configured = {
            k.lower(): v for k, v in self.headers.items() if k.lower() not in AUTH_HEADERS
        }
        return PageRequest(request.url, {**request.headers, **configured})
