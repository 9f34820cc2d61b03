"""Sans-IO model-list pages: for each provider's list endpoint, the first page request and a parser
that turns a page body into models plus the request for the next page (None at the end). Which
endpoint a provider uses is chosen in `rupu.catalog.listing`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlencode

from rupu.auth.credentials import Credential
from rupu.auth.jwt import account_id_of
from rupu.errors import CredentialError, ProviderError
from rupu.modeldata.schema import LiveModel
from rupu.providers.anthropic_encode import SSO_BETAS
from rupu.providers.copilot_token import EDITOR_HEADERS
from rupu.providers.openai_responses import ORIGINATOR
from rupu.version import __version__

ANTHROPIC_VERSION = "2023-06-01"
CODEX_CLIENT_VERSION = "0.150.0"
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
    @property
    def provider(self) -> str: ...

    def first(self) -> PageRequest: ...

    def parse(self, body: Any, request: PageRequest) -> Page: ...


def _url(base: str, query: Mapping[str, str]) -> str:
    return f"{base}?{urlencode(query)}" if query else base


def _malformed(provider: str, url: str, what: str) -> ProviderError:
    return ProviderError(
        provider,
        f"unexpected model list from {url}: {what}",
        error_type="malformed_response",
        hint="check the provider's base_url points at its API",
    )


def _entries(
    provider: str, body: Any, key: str, url: str, id_keys: tuple[str, ...] = ("id",)
) -> list[tuple[str, dict[str, Any]]]:
    """(model id, entry) for each object of the list `body[key]`; the id is the first of `id_keys`
    present. A missing list, a non-object entry or an entry without an id is a malformed page."""
    if not isinstance(body, dict) or not isinstance(body.get(key), list):
        raise _malformed(provider, url, f"no '{key}' list")
    entries: list[tuple[str, dict[str, Any]]] = []
    for item in body[key]:
        if not isinstance(item, dict):
            raise _malformed(provider, url, f"'{key}' holds a non-object")
        model_id = next((v for v in map(_str, map(item.get, id_keys)) if v), None)
        if model_id is None:
            raise _malformed(provider, url, f"a model has no {id_keys[0]}")
        entries.append((model_id, item))
    return entries


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
        if self.credential.extras.get("auth_scheme") == "bearer":
            headers["authorization"] = f"Bearer {secret}"
        elif self.credential.mode == "sso":
            headers["authorization"] = f"Bearer {secret}"
            headers["anthropic-beta"] = ",".join(SSO_BETAS)
        else:
            headers["x-api-key"] = secret
        return PageRequest(_url(f"{self.root}/v1/models", query), headers)

    def parse(self, body: Any, request: PageRequest) -> Page:
        models = []
        for model_id, item in _entries(self.provider, body, "data", request.url):
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
        for model_id, item in _entries(self.provider, body, "data", request.url):
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
    """The ChatGPT backend's list for a ChatGPT sign-in; `backend` is the site root
    (`https://chatgpt.com`)."""

    provider: str
    backend: str
    credential: Credential

    def first(self) -> PageRequest:
        secret = self.credential.secret.reveal()
        headers = {**_base_headers(), "authorization": f"Bearer {secret}", "originator": ORIGINATOR}
        account = account_id_of(self.credential)
        if not account:
            raise CredentialError(
                self.provider,
                f"the ChatGPT sign-in token ({self.credential.source}) carries no "
                "chatgpt_account_id claim",
                hint=f"sign in again with `rupu auth login --provider {self.provider} --mode sso`",
            )
        headers["chatgpt-account-id"] = account
        query = {"client_version": CODEX_CLIENT_VERSION}
        return PageRequest(_url(f"{self.backend}/backend-api/codex/models", query), headers)

    def parse(self, body: Any, request: PageRequest) -> Page:
        models = []
        for slug, item in _entries(self.provider, body, "models", request.url, ("slug", "id")):
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
        for name, item in _entries(self.provider, body, "models", request.url, ("name",)):
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
        headers = {
            **_base_headers(),
            **EDITOR_HEADERS,
            "authorization": f"Bearer {self.credential.secret.reveal()}",
        }
        return PageRequest(f"{self.root}/models", headers)

    def parse(self, body: Any, request: PageRequest) -> Page:
        models = []
        for model_id, item in _entries(self.provider, body, "data", request.url):
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
