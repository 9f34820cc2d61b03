"""What a provider receives: a resolved credential, and the source it can ask again (after a 401,
or before each retry, when a token may have been refreshed)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

from rupu.config.builtins import builtin_providers

AuthMode = Literal["api-key", "sso"]


class Secret:
    """A string that never shows itself in repr/str/format, logs or tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


@dataclass(frozen=True, slots=True)
class Credential:
    """`source` says where it came from in words a user understands ("env RUPU_ORACLE_API_KEY",
    "keychain", "auth.json"); `extras` carries non-secret companions (ChatGPT account id, Google
    Cloud project, Copilot API host)."""

    provider: str
    mode: AuthMode
    secret: Secret
    source: str
    extras: Mapping[str, str] = field(default_factory=dict)
    expires_at: float | None = None

    def describe(self) -> str:
        """`sso from keychain`; a sign-in route with its own identity names it: `Google
        Antigravity (sign-in) from keychain`."""
        identity = sign_in_identity(self.provider) if self.mode == "sso" else None
        return f"{identity or self.mode} from {self.source}"


def sign_in_identity(provider: str) -> str | None:
    """The `identity` of a built-in provider's sign-in route (`builtins.toml`), if it has one."""
    record = builtin_providers().get(provider)
    return record.identity if record is not None else None


class CredentialSource(Protocol):
    """Hands a provider its credential; `force_refresh` after the provider rejected a fresh one."""

    async def get(self, *, force_refresh: bool = False) -> Credential: ...


@dataclass(frozen=True, slots=True)
class FixedCredential:
    credential: Credential

    async def get(self, *, force_refresh: bool = False) -> Credential:
        return self.credential
