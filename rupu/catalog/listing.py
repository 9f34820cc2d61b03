"""Sans-IO model-list endpoints: for each wire kind, the first page request and a parser that turns a
page body into models plus the request for the next page (None at the end).

| kind              | endpoint                                   | auth                        | pages            |
|-------------------|--------------------------------------------|-----------------------------|------------------|
| anthropic         | `{root}/v1/models?limit=1000`              | x-api-key, or Bearer (SSO)  | has_more/after_id |
| openai (key)      | `{root}/v1/models`                         | Bearer                      | one page         |
| openai (sign-in)  | `{backend}/codex/models?client_version=..` | Bearer + chatgpt-account-id | one page         |
| gemini            | `{root}/v1beta/models?pageSize=1000`       | x-goog-api-key              | nextPageToken    |
| copilot           | `{api}/models`                             | Copilot token + editor hdrs | one page         |
| openai-compatible | `{root}/v1/models`                         | Bearer                      | one page         |
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlencode

from rupu import __version__
from rupu.auth.credentials import Credential
from rupu.catalog.schema import LiveModel
from rupu.config import ProviderConfig
from rupu.errors import CredentialError, ProviderError

ANTHROPIC_VERSION = "2023-06-01"
CODEX_CLIENT_VERSION = "0.150.0"
DEFAULT_BASE_URLS = {
    "anthropic": "https://api.anthropic.com",
    "openai": "https://api.openai.com",
    "gemini": "https://generativelanguage.googleapis.com",
    "copilot": "https://api.individual.githubcopilot.com",
}
DEFAULT_CHATGPT_BACKEND = "https://chatgpt.com/backend-api"
# Families on api.openai.com that the Responses API cannot run (embeddings, audio, images, ...).
OPENAI_NON_CHAT = (
    "embedding",
    "tts",
    "whisper",
    "dall-e",
    "moderation",
    "transcribe",
    "realtime",
    "audio",
    "image",
    "davinci",
    "babbage",
    "sora",
)


@dataclass(frozen=True, slots=True)
class PageRequest:
    url: str
    headers: dict[str, str] = field(repr=False)


Page = tuple[list[LiveModel], PageRequest | None]


class ModelLister(Protocol):
    provider: str

    def first(self) -> PageRequest: ...

    def parse(self, body: Any, request: PageRequest) -> Page: ...


def api_root(base_url: str, *suffixes: str) -> str:
    """`base_url` without a trailing slash or a trailing version segment (`/v1`, `/v1beta`)."""
    root = base_url.rstrip("/")
    for suffix in suffixes:
        if root.endswith(suffix):
            return root[: -len(suffix)]
    return root


def _url(base: str, query: Mapping[str, str]) -> str:
    return f"{base}?{urlencode(query)}" if query else base


def _malformed(provider: str, url: str, what: str) -> ProviderError:
    return ProviderError(
        provider,
        f"unexpected model list from {url}: {what}",
        error_type="malformed_response",
        hint="check the provider's base_url points at its API",
    )


def _items(provider: str, body: Any, key: str, url: str) -> list[dict[str, Any]]:
    if not isinstance(body, dict) or not isinstance(body.get(key), list):
        raise _malformed(provider, url, f"no '{key}' list")
    items: list[dict[str, Any]] = []
    for item in body[key]:
        if not isinstance(item, dict):
            raise _malformed(provider, url, f"'{key}' holds a non-object")
        items.append(item)
    return items


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _base_headers() -> dict[str, str]:
    return {"accept": "application/json", "user-agent": f"rupu/{__version__}"}


@dataclass(slots=True)
class AnthropicLister:
    provider: str
    root: str
    credential: Credential

    def first(self) -> PageRequest:
        return self._page({"limit": "1000"})

    def _page(self, query: dict[str, str]) -> PageRequest:
        headers = {**_base_headers(), "anthropic-version": ANTHROPIC_VERSION}
        secret = self.credential.secret.reveal()
        if self.credential.mode == "sso":
            headers["authorization"] = f"Bearer {secret}"
            headers["anthropic-beta"] = "oauth-2025-04-20"
        else:
            headers["x-api-key"] = secret
        return PageRequest(_url(f"{self.root}/v1/models", query), headers)

    def parse(self, body: Any, request: PageRequest) -> Page:
        models = []
        for item in _items(self.provider, body, "data", request.url):
            model_id = _str(item.get("id"))
            if model_id is None:
                raise _malformed(self.provider, request.url, "a model has no id")
            models.append(
                LiveModel(
                    id=model_id,
                    name=_str(item.get("display_name")),
                    context_window=_int(item.get("max_input_tokens")),
                    max_output=_int(item.get("max_tokens")),
                )
            )
        if body.get("has_more") is True:
            last = _str(body.get("last_id"))
            if last is None:
                raise _malformed(self.provider, request.url, "has_more without last_id")
            return models, self._page({"limit": "1000", "after_id": last})
        return models, None


@dataclass(slots=True)
class OpenAIModelsLister:
    """`GET {root}/v1/models`: the OpenAI API and every OpenAI-compatible server."""

    provider: str
    root: str
    credential: Credential
    chat_only: bool = False
    extra_headers: dict[str, str] = field(default_factory=dict)

    def first(self) -> PageRequest:
        headers = {
            **_base_headers(),
            **self.extra_headers,
            "authorization": f"Bearer {self.credential.secret.reveal()}",
        }
        return PageRequest(f"{self.root}/v1/models", headers)

    def parse(self, body: Any, request: PageRequest) -> Page:
        models = []
        for item in _items(self.provider, body, "data", request.url):
            model_id = _str(item.get("id"))
            if model_id is None:
                raise _malformed(self.provider, request.url, "a model has no id")
            if self.chat_only and any(word in model_id for word in OPENAI_NON_CHAT):
                continue
            models.append(
                LiveModel(
                    id=model_id,
                    name=_str(item.get("name")),
                    context_window=_int(item.get("context_length") or item.get("context_window")),
                    max_output=_int(item.get("max_output_tokens")),
                )
            )
        return models, None


@dataclass(slots=True)
class CodexModelsLister:
    """The ChatGPT backend's list for a ChatGPT sign-in."""

    provider: str
    backend: str
    credential: Credential

    def first(self) -> PageRequest:
        headers = {
            **_base_headers(),
            "authorization": f"Bearer {self.credential.secret.reveal()}",
            "originator": "rupu",
        }
        account = self.credential.extras.get("chatgpt_account_id") or self.credential.extras.get(
            "account_id"
        )
        if account:
            headers["chatgpt-account-id"] = account
        query = {"client_version": CODEX_CLIENT_VERSION}
        return PageRequest(_url(f"{self.backend}/codex/models", query), headers)

    def parse(self, body: Any, request: PageRequest) -> Page:
        models = []
        for item in _items(self.provider, body, "models", request.url):
            slug = _str(item.get("slug")) or _str(item.get("id"))
            if slug is None:
                raise _malformed(self.provider, request.url, "a model has no slug")
            models.append(
                LiveModel(
                    id=slug,
                    name=_str(item.get("display_name")),
                    context_window=_int(item.get("context_window")),
                )
            )
        return models, None


@dataclass(slots=True)
class GeminiLister:
    provider: str
    root: str
    credential: Credential

    def first(self) -> PageRequest:
        if self.credential.mode == "sso":
            raise CredentialError(
                self.provider,
                "a Google sign-in cannot list Gemini models",
                hint="set GEMINI_API_KEY (an AI Studio key) to refresh the list; the baked-in list "
                "stays in use",
            )
        return self._page({"pageSize": "1000"})

    def _page(self, query: dict[str, str]) -> PageRequest:
        headers = {**_base_headers(), "x-goog-api-key": self.credential.secret.reveal()}
        return PageRequest(_url(f"{self.root}/v1beta/models", query), headers)

    def parse(self, body: Any, request: PageRequest) -> Page:
        if body == {}:  # Google leaves out empty repeated fields
            return [], None
        models = []
        for item in _items(self.provider, body, "models", request.url):
            name = _str(item.get("name"))
            if name is None:
                raise _malformed(self.provider, request.url, "a model has no name")
            methods = item.get("supportedGenerationMethods")
            if isinstance(methods, list) and "generateContent" not in methods:
                continue
            models.append(
                LiveModel(
                    id=name.removeprefix("models/"),
                    name=_str(item.get("displayName")),
                    context_window=_int(item.get("inputTokenLimit")),
                    max_output=_int(item.get("outputTokenLimit")),
                )
            )
        token = _str(body.get("nextPageToken"))
        return models, self._page({"pageSize": "1000", "pageToken": token}) if token else None


@dataclass(slots=True)
class CopilotLister:
    provider: str
    root: str
    credential: Credential

    def first(self) -> PageRequest:
        from rupu.providers.copilot_token import EDITOR_HEADERS

        headers = {
            **_base_headers(),
            **EDITOR_HEADERS,
            "authorization": f"Bearer {self.credential.secret.reveal()}",
        }
        return PageRequest(f"{self.root}/models", headers)

    def parse(self, body: Any, request: PageRequest) -> Page:
        models = []
        for item in _items(self.provider, body, "data", request.url):
            model_id = _str(item.get("id"))
            if model_id is None:
                raise _malformed(self.provider, request.url, "a model has no id")
            caps = _dict(item.get("capabilities"))
            if caps.get("type") not in (None, "chat"):
                continue
            limits = _dict(caps.get("limits"))
            models.append(
                LiveModel(
                    id=model_id,
                    name=_str(item.get("name")),
                    context_window=_int(limits.get("max_context_window_tokens")),
                    max_output=_int(limits.get("max_output_tokens")),
                )
            )
        return models, None


ListerFactory = Callable[[str, ProviderConfig, Credential], ModelLister]


def _anthropic(provider: str, config: ProviderConfig, credential: Credential) -> ModelLister:
    base = config.base_url or DEFAULT_BASE_URLS["anthropic"]
    return AnthropicLister(provider, api_root(base, "/v1"), credential)


def _openai(provider: str, config: ProviderConfig, credential: Credential) -> ModelLister:
    if credential.mode == "sso":
        backend = api_root(config.sso_base_url or DEFAULT_CHATGPT_BACKEND, "/codex")
        return CodexModelsLister(provider, backend, credential)
    base = config.base_url or DEFAULT_BASE_URLS["openai"]
    extra = {"openai-organization": config.org_id} if config.org_id else {}
    return OpenAIModelsLister(provider, api_root(base, "/v1"), credential, True, extra)


def _gemini(provider: str, config: ProviderConfig, credential: Credential) -> ModelLister:
    base = config.base_url or DEFAULT_BASE_URLS["gemini"]
    return GeminiLister(provider, api_root(base, "/v1beta", "/v1alpha", "/v1"), credential)


def _copilot(provider: str, config: ProviderConfig, credential: Credential) -> ModelLister:
    """`credential` is the Copilot token (see `refresh.copilot_token_source`); its exchange names the
    API host, which `[providers.copilot] base_url` overrides."""
    base = config.base_url or credential.extras.get("api_base") or DEFAULT_BASE_URLS["copilot"]
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
    """The lister for a provider's wire kind; None for kinds with a fixed list (mock)."""
    factory = LISTERS.get(kind)
    return factory(provider, config, credential) if factory is not None else None
