"""Which list each provider's models are read from, and with which credential headers. The endpoint,
its query and its paging are the provider's record (`[<name>.models]` in
`rupu/config/builtins.toml`); the pages are requested and parsed in `rupu.catalog.list_pages`.

| kind              | list (record)                      | auth                         | extra                   |
|-------------------|------------------------------------|------------------------------|-------------------------|
| anthropic         | anthropic.models                   | key_header, or Bearer (SSO)  | anthropic-version       |
| openai (key)      | openai.models                      | Bearer (+ organization)      | chat models only        |
| openai (sign-in)  | openai.sso_models (sso_base_url)   | Bearer + chatgpt-account-id  | originator              |
| gemini            | gemini.models                      | key_header (no sign-in)      |                         |
| copilot           | copilot.models (exchange's host)   | Copilot token + editor hdrs  |                         |
| openai-compatible | openai.models                      | Bearer                       |                         |
| bedrock           | bedrock.models + inference profiles| SigV4 (botocore), per page   | control_base_url        |
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from rupu.auth.credentials import Credential
from rupu.catalog import list_pages as pages
from rupu.catalog.bedrock_listing import bedrock_lister
from rupu.catalog.list_pages import EntryReader, ModelLister, Page, PagedLister, PageRequest
from rupu.config import ProviderConfig
from rupu.config.builtins import ModelListing, builtin, builtin_url, credential_headers
from rupu.config.presets import preset_listing
from rupu.errors import ProviderError
from rupu.providers.copilot_token import DEFAULT_API_BASE

__all__ = ["LISTERS", "ModelLister", "PageRequest", "api_root", "lister_for"]


def api_root(base_url: str, *suffixes: str) -> str:
    """`base_url` without a trailing slash or the first of `suffixes` it ends with (`/v1`, ...)."""
    root = base_url.rstrip("/")
    for suffix in suffixes:
        if root.endswith(suffix):
            return root[: -len(suffix)]
    return root


ListerFactory = Callable[[str, ProviderConfig, Credential], ModelLister]


def _listing(name: str, *, sso: bool = False) -> ModelListing:
    record = builtin(name)
    listing = record.sso_models if sso else record.models
    if listing is None:
        raise KeyError(f"built-in provider '{name}' has no model list")
    return listing


def _paged(
    provider: str,
    listing: ModelListing,
    base: str,
    headers: Callable[[], dict[str, str]],
    read: EntryReader,
) -> PagedLister:
    return PagedLister(provider, listing, api_root(base, *listing.strip), headers, read)


def _anthropic(provider: str, config: ProviderConfig, credential: Credential) -> ModelLister:
    record = builtin("anthropic")
    base = config.base_url or builtin_url("anthropic", "base_url")
    return _paged(
        provider,
        _listing("anthropic"),
        base,
        lambda: pages.anthropic_headers(record, credential),
        pages.anthropic_model,
    )


def _openai(provider: str, config: ProviderConfig, credential: Credential) -> ModelLister:
    if credential.mode == "sso":
        site = config.sso_base_url or builtin_url("openai", "sso_base_url")
        return _paged(
            provider,
            _listing("openai", sso=True),
            site,
            lambda: pages.codex_headers(provider, credential),
            pages.codex_model,
        )
    base = config.base_url or builtin_url("openai", "base_url")
    extra = {"openai-organization": config.org_id} if config.org_id else {}
    return _paged(
        provider,
        _listing("openai"),
        base,
        lambda: {**extra, **pages.bearer(credential)},
        pages.openai_chat_model,
    )


def _gemini(provider: str, config: ProviderConfig, credential: Credential) -> ModelLister:
    record = builtin("gemini")
    base = config.base_url or builtin_url("gemini", "base_url")
    return _paged(
        provider,
        _listing("gemini"),
        base,
        lambda: pages.gemini_headers(provider, record, credential),
        pages.gemini_model,
    )


def _copilot(provider: str, config: ProviderConfig, credential: Credential) -> ModelLister:
    """`credential` is the Copilot token (see `refresh.copilot_token_source`); its exchange names the
    API host, which `[providers.copilot] base_url` overrides."""
    base = config.base_url or credential.extras.get("api_base") or DEFAULT_API_BASE
    return _paged(
        provider,
        _listing("copilot"),
        base,
        lambda: pages.copilot_headers(credential),
        pages.copilot_model,
    )


def _compatible(provider: str, config: ProviderConfig, credential: Credential) -> ModelLister:
    if not config.base_url:
        raise ProviderError(provider, "no base_url to list models from", error_type="config")
    return _paged(
        provider,
        preset_listing(provider) or _listing("openai"),
        config.base_url,
        lambda: pages.bearer(credential) if credential.secret else {},  # keyless: a local server
        pages.openai_model,
    )


LISTERS: dict[str, ListerFactory] = {
    "anthropic": _anthropic,
    "openai": _openai,
    "openai-responses": _openai,
    "gemini": _gemini,
    "copilot": _copilot,
    "openai-compatible": _compatible,
    "bedrock": bedrock_lister,
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
            k.lower(): v for k, v in self.headers.items() if k.lower() not in credential_headers()
        }
        return PageRequest(request.url, {**request.headers, **configured})
