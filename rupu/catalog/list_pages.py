"""Sans-IO model-list pages: one lister walks any provider's list, driven by the provider's record
(`rupu.config.builtins.ModelListing`: path, query, list key, paging style); what stays code per
provider is how an entry reads as a model (`EntryReader`) and the headers beyond the credential.
Which record and headers a provider uses is chosen in `rupu.catalog.listing`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlencode

from rupu.auth.credentials import Credential
from rupu.auth.jwt import account_id_of
from rupu.config.builtins import BuiltinProvider, ModelListing
from rupu.errors import CredentialError, ProviderError
from rupu.modeldata.schema import LiveModel
from rupu.providers.anthropic_encode import API_VERSION, SSO_BETAS
from rupu.providers.copilot_token import EDITOR_HEADERS
from rupu.providers.openai_responses import ORIGINATOR
from rupu.version import __version__

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
    provider: str, body: Any, key: str, url: str, id_keys: list[str]
) -> list[tuple[str, dict[str, Any]]]:
    """(model id, entry) for each object of the list `body[key]`; the id is the first of `id_keys`
    present. A missing list, a non-object entry or an entry without an id is a malformed page."""
    listed = body if not key else body.get(key) if isinstance(body, dict) else None
    if not isinstance(listed, list):
        raise _malformed(provider, url, f"no '{key}' list" if key else "not a list")
    entries: list[tuple[str, dict[str, Any]]] = []
    for item in listed:
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


# How one entry of a list reads as a model; None skips it (not a chat model).
EntryReader = Callable[[str, dict[str, Any]], LiveModel | None]


@dataclass(slots=True)
class PagedLister:
    """`GET {root}{listing.path}` and the pages after it. `headers` is called for the first page
    (it may refuse the credential); each page after it is sent with the headers of the one before."""

    provider: str
    listing: ModelListing
    root: str
    headers: Callable[[], dict[str, str]]
    read: EntryReader

    def first(self) -> PageRequest:
        return self._page({}, {**_base_headers(), **self.headers()})

    def _page(self, following: dict[str, str], headers: dict[str, str]) -> PageRequest:
        url = _url(f"{self.root}{self.listing.path}", {**self.listing.query, **following})
        return PageRequest(url, dict(headers))

    def parse(self, body: Any, request: PageRequest) -> Page:
        listing = self.listing
        if listing.paging == "page_token" and body == {}:  # Google leaves out empty repeated fields
            return [], None
        models = []
        for model_id, item in _entries(
            self.provider, body, listing.items, request.url, listing.id_keys
        ):
            model = self.read(model_id, item)
            if model is not None:
                models.append(model)
        return models, self._following(body, request)

    def _following(self, body: dict[str, Any], request: PageRequest) -> PageRequest | None:
        match self.listing.paging:
            case "none":
                return None
            case "after_id":
                if body.get("has_more") is not True:
                    return None
                last = _str(body.get("last_id"))
                if last is None:
                    raise _malformed(self.provider, request.url, "has_more without last_id")
                return self._page({"after_id": last}, request.headers)
            case "page_token":
                token = _str(body.get("nextPageToken"))
                return self._page({"pageToken": token}, request.headers) if token else None


def key_headers(record: BuiltinProvider, credential: Credential) -> dict[str, str]:
    """The credential as the provider's record says an API key is sent (a bearer by default)."""
    header, value = record.key_auth(credential.secret.reveal())
    return {header: value}


def bearer(credential: Credential) -> dict[str, str]:
    return {"authorization": f"Bearer {credential.secret.reveal()}"}


def anthropic_headers(record: BuiltinProvider, credential: Credential) -> dict[str, str]:
    headers = {"anthropic-version": API_VERSION}
    if credential.extras.get("auth_scheme") == "bearer":
        return {**headers, **bearer(credential)}
    if credential.mode == "sso":
        return {**headers, **bearer(credential), "anthropic-beta": ",".join(SSO_BETAS)}
    return {**headers, **key_headers(record, credential)}


def codex_headers(provider: str, credential: Credential) -> dict[str, str]:
    """A ChatGPT sign-in's headers: its bearer, and the account its token names."""
    account = account_id_of(credential)
    if not account:
        raise CredentialError(
            provider,
            f"the ChatGPT sign-in token ({credential.source}) carries no chatgpt_account_id claim",
            hint=f"sign in again with `rupu auth login --provider {provider} --mode sso`",
        )
    return {**bearer(credential), "originator": ORIGINATOR, "chatgpt-account-id": account}


def gemini_headers(
    provider: str, record: BuiltinProvider, credential: Credential
) -> dict[str, str]:
    if credential.mode == "sso":
        raise CredentialError(
            provider,
            "a Google sign-in cannot list Gemini models",
            hint="set GEMINI_API_KEY (an AI Studio key) to refresh the list; the baked-in list "
            "stays in use",
        )
    return key_headers(record, credential)


def copilot_headers(credential: Credential) -> dict[str, str]:
    return {**EDITOR_HEADERS, **bearer(credential)}


def anthropic_model(model_id: str, item: dict[str, Any]) -> LiveModel:
    return LiveModel(
        id=model_id,
        name=_str(item.get("display_name")),
        context_window=_int(item.get("max_input_tokens")),
        max_output=_int(item.get("max_tokens")),
    )


def openai_model(model_id: str, item: dict[str, Any]) -> LiveModel:
    """An entry of `GET /v1/models`: the OpenAI API's and every OpenAI-compatible server's (and
    GitHub Models' catalog, whose token limits are under `limits`)."""
    limits = _dict(item.get("limits"))
    return LiveModel(
        id=model_id,
        name=_str(item.get("name")),
        context_window=_int(
            item.get("context_length")
            or item.get("context_window")
            or limits.get("max_input_tokens")
        ),
        max_output=_int(item.get("max_output_tokens") or limits.get("max_output_tokens")),
    )


def openai_chat_model(model_id: str, item: dict[str, Any]) -> LiveModel | None:
    """An api.openai.com entry the Responses API can run."""
    if any(word in model_id for word in OPENAI_NON_CHAT):
        return None
    return openai_model(model_id, item)


def codex_model(slug: str, item: dict[str, Any]) -> LiveModel:
    return LiveModel(
        id=slug,
        name=_str(item.get("display_name")),
        context_window=_int(item.get("context_window")),
    )


def gemini_model(name: str, item: dict[str, Any]) -> LiveModel | None:
    methods = item.get("supportedGenerationMethods")
    if isinstance(methods, list) and "generateContent" not in methods:
        return None
    return LiveModel(
        id=name.removeprefix("models/"),
        name=_str(item.get("displayName")),
        context_window=_int(item.get("inputTokenLimit")),
        max_output=_int(item.get("outputTokenLimit")),
    )


def copilot_model(model_id: str, item: dict[str, Any]) -> LiveModel | None:
    caps = _dict(item.get("capabilities"))
    if caps.get("type") not in (None, "chat"):
        return None
    limits = _dict(caps.get("limits"))
    return LiveModel(
        id=model_id,
        name=_str(item.get("name")),
        context_window=_int(limits.get("max_context_window_tokens")),
        max_output=_int(limits.get("max_output_tokens")),
    )
