"""The built-in providers' records (`builtins.toml`): one table per provider, read once.

Every module that needs a fact about a built-in provider (its wire kind, default hosts, key
variables, its sign-in client, which declared kinds speak its API) reads it here, so adding
or changing a built-in provider is an edit to one table.
"""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError

from rupu.strict import StrictModel

BUILTINS_FILE = Path(__file__).with_name("builtins.toml")


class OAuthDefaults(StrictModel):
    """A provider's public sign-in client (the fields of `rupu.auth.oauth.endpoints.OAuthProfile`).
    `redirect_ports` are tried in order, 0 meaning any free port."""

    flow: Literal["pkce", "device"]
    token_url: str
    client_id: str
    authorize_url: str | None = None
    device_code_url: str | None = None
    verification_url: str | None = None
    scopes: list[str] = Field(default_factory=list)
    redirect_ports: list[int] = Field(default_factory=lambda: [0])
    redirect_host: str = "localhost"
    redirect_path: str = "/callback"
    token_body: Literal["json", "form"] = "form"
    authorize_params: dict[str, str] = Field(default_factory=dict)
    send_state_to_token: bool = False


class ModelListing(StrictModel):
    """Where a provider's model list is read: `path` under the API root (the configured host less
    the first of `strip` it ends with), `query` on every page, the list under `items` (a model's
    id is the first of `id_keys` it has), and how the next page is asked for: `after_id` (the
    body's `has_more` and `last_id`), `page_token` (its `nextPageToken`, sent as `pageToken`) or
    `none`. An empty `items` means the body itself is the list (GitHub Models' catalog)."""

    path: str
    query: dict[str, str] = Field(default_factory=dict)
    items: str = "data"
    id_keys: list[str] = Field(default_factory=lambda: ["id"])
    paging: Literal["none", "after_id", "page_token"] = "none"
    strip: list[str] = Field(default_factory=list)


class BuiltinProvider(StrictModel):
    label: str
    kind: str
    dialect: str | None = None
    base_url: str | None = None
    sso_base_url: str | None = None
    token_exchange_url: str | None = None
    control_base_url: str | None = None
    credentials: Literal["key", "aws"] = "key"
    key_env: list[str] = Field(default_factory=list)
    key_header: str | None = None
    keyless: bool = False
    sign_in_only: bool = False
    identity: str | None = None
    default_model: str | None = None
    oauth: OAuthDefaults | None = None
    models: ModelListing | None = None
    sso_models: ModelListing | None = None

    @property
    def sign_in(self) -> bool:
        return self.oauth is not None

    def key_auth(self, key: str) -> tuple[str, str]:
        """The header an API key is sent in, and its value: `key_header` as is, else a bearer."""
        if self.key_header is not None:
            return self.key_header, key
        return "authorization", f"Bearer {key}"


@cache
def builtin_providers() -> dict[str, BuiltinProvider]:
    """The records by provider name, in the file's order."""
    data = tomllib.loads(BUILTINS_FILE.read_text(encoding="utf-8"))
    try:
        return {name: BuiltinProvider.model_validate(entry) for name, entry in data.items()}
    except ValidationError as exc:  # a packaging mistake, not a user error
        raise RuntimeError(f"{BUILTINS_FILE} is invalid: {exc}") from None


def builtin(name: str) -> BuiltinProvider:
    return builtin_providers()[name]


@cache
def credential_headers() -> tuple[str, ...]:
    """Every header a built-in dialect sends a credential in, `authorization` first (configured
    headers never replace them)."""
    keyed = (r.key_header for r in builtin_providers().values() if r.key_header is not None)
    return tuple(dict.fromkeys(("authorization", *keyed)))


def builtin_url(name: str, key: str) -> str:
    """A default host of a built-in provider (`base_url`, `sso_base_url`, `token_exchange_url`)."""
    value: str | None = getattr(builtin(name), key)
    if value is None:
        raise KeyError(f"built-in provider '{name}' has no {key}")
    return value
