"""What a credential store holds: one `StoredCredential` per `<provider>/<mode>`, and the interface
every store backend implements (the keychain, `auth.json`, and in tests a dict)."""

from __future__ import annotations

import hashlib
import itertools
import re
from typing import Any, Literal, Protocol

from pydantic import Field, SecretStr, field_serializer

from rupu.auth.credentials import AuthMode, Credential, Secret
from rupu.errors import UsageError
from rupu.strict import StrictModel

MODES: tuple[AuthMode, ...] = ("sso", "api-key")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_memory_ids = itertools.count(1)


class StoredCredential(StrictModel):
    """An API key (`secret` is the key) or a sign-in (`secret` is the access token, with its refresh
    token and expiry in unix seconds). `extras` holds non-secret companions: ChatGPT account id,
    Google Cloud project. `refresh_error` remembers a permanent refresh failure (`invalid_grant`)
    so no process retries a dead refresh token; a new sign-in clears it."""

    provider: str
    mode: AuthMode
    secret: SecretStr
    refresh_token: SecretStr | None = None
    expires_at: float | None = None
    extras: dict[str, str] = Field(default_factory=dict)
    updated_at: float = 0.0
    refresh_error: str | None = None

    @field_serializer("secret", "refresh_token", when_used="always")
    def _reveal(self, value: SecretStr | None) -> str | None:
        return value.get_secret_value() if value is not None else None

    @property
    def key(self) -> str:
        return store_key(self.provider, self.mode)

    def to_credential(self, source: str) -> Credential:
        return Credential(
            self.provider,
            self.mode,
            Secret(self.secret.get_secret_value()),
            source=source,
            extras=dict(self.extras),
            expires_at=self.expires_at,
        )

    def refresh_fingerprint(self) -> str | None:
        """A one-way tag of the refresh token, to remember failures without keeping the token."""
        if self.refresh_token is None:
            return None
        digest = hashlib.sha256(self.refresh_token.get_secret_value().encode()).hexdigest()
        return digest[:16]

    def same_tokens(self, other: StoredCredential) -> bool:
        return self.secret == other.secret and self.refresh_token == other.refresh_token

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


class CredentialStore(Protocol):
    """Blocking calls (async code goes through `anyio.to_thread`). `identity` names the store for
    process-wide bookkeeping (refresh single-flight); `label` is what users read ("keychain",
    "auth.json")."""

    @property
    def kind(self) -> str: ...

    @property
    def label(self) -> str: ...

    @property
    def identity(self) -> str: ...

    def get(self, provider: str, mode: AuthMode) -> StoredCredential | None: ...

    def put(self, credential: StoredCredential) -> None: ...

    def delete(self, provider: str, mode: AuthMode) -> bool: ...

    def list(self) -> list[StoredCredential]: ...


def store_key(provider: str, mode: AuthMode) -> str:
    return f"{provider}/{mode}"


def check_provider_name(name: str) -> str:
    """Provider names become keys and lock-file names: letters, digits, `-`, `_`, `.`, no leading dot
    or separator, at most 64 characters."""
    if not _NAME.match(name) or ".." in name:
        raise UsageError(
            "invalid provider name (use letters, digits, '-', '_' and '.', starting with a letter or digit)",
            hint="check --provider",
        )
    return name


class MemoryStore:
    """A store in a dict: for tests and for callers that resolve from the environment only."""

    kind = "memory"
    label = "memory"

    def __init__(self) -> None:
        self._items: dict[str, dict[str, Any]] = {}
        self.identity = f"memory:{next(_memory_ids)}"

    def get(self, provider: str, mode: AuthMode) -> StoredCredential | None:
        raw = self._items.get(store_key(provider, mode))
        return StoredCredential.model_validate(raw) if raw is not None else None

    def put(self, credential: StoredCredential) -> None:
        self._items[credential.key] = credential.to_json_dict()

    def delete(self, provider: str, mode: AuthMode) -> bool:
        return self._items.pop(store_key(provider, mode), None) is not None

    def list(self) -> list[StoredCredential]:
        return [StoredCredential.model_validate(raw) for raw in self._items.values()]


StoreKind = Literal["keychain", "file", "encrypted-file"]
