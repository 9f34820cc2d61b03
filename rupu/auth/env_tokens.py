"""Sign-in tokens handed to rupu in the environment, for CI and containers where nobody can open a
browser: `CHATGPT_OAUTH_TOKEN` (openai), `ANTHROPIC_OAUTH_TOKEN` (anthropic), `GEMINI_OAUTH_TOKEN`
(gemini) and `ANTIGRAVITY_OAUTH_TOKEN` (antigravity, the name Omegon reads).

Such a token is used as is: rupu never refreshes it (it has no refresh token) and never stores it.
When it is a JWT, its `exp` claim is its expiry; once that has passed, using it is a
`CredentialError` (exit 4) that names the variable, checked again before every request because a
run may outlive the token. A ChatGPT token's account id comes from its
`https://api.openai.com/auth` claim. When the provider rejects the token (HTTP 401), there is
nothing to refresh: the run stops with the same kind of error instead of retrying the same token.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from rupu.auth.credentials import Credential, Secret
from rupu.auth.jwt import chatgpt_account_id, jwt_claims
from rupu.clock import SYSTEM_CLOCK, Clock
from rupu.errors import CredentialError

ENV_TOKEN_VARS: dict[str, str] = {
    "openai": "CHATGPT_OAUTH_TOKEN",
    "anthropic": "ANTHROPIC_OAUTH_TOKEN",
    "gemini": "GEMINI_OAUTH_TOKEN",
    "antigravity": "ANTIGRAVITY_OAUTH_TOKEN",
}


@dataclass(frozen=True, slots=True)
class EnvToken:
    """A sign-in token read from `var`; `expires_at` (unix seconds) from its JWT `exp`, if any."""

    provider: str
    var: str
    secret: Secret
    expires_at: float | None = None
    extras: Mapping[str, str] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"env {self.var}"

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def note(self, now: float) -> str:
        if self.expires_at is None:
            return "used as is, no expiry known"
        if self.expired(now):
            return f"expired {_when(self.expires_at)}"
        return f"used as is, expires {_when(self.expires_at)}"

    def credential(self) -> Credential:
        return Credential(
            self.provider,
            "sso",
            self.secret,
            source=self.where,
            extras=dict(self.extras),
            expires_at=self.expires_at,
        )


def env_token_var(provider: str) -> str | None:
    return ENV_TOKEN_VARS.get(provider)


def read_env_token(provider: str, env: Mapping[str, str]) -> EnvToken | None:
    """The provider's token from the environment, or None when its variable is unset or empty."""
    var = ENV_TOKEN_VARS.get(provider)
    value = env.get(var, "").strip() if var else ""
    if var is None or not value:
        return None
    claims = jwt_claims(value)
    exp = claims.get("exp")
    expires_at = float(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else None
    extras: dict[str, str] = {}
    if provider == "openai":
        account = chatgpt_account_id(value)
        if account:
            extras["chatgpt_account_id"] = account
    return EnvToken(provider, var, Secret(value), expires_at, extras)


def expired_error(token: EnvToken) -> CredentialError:
    assert token.expires_at is not None
    return CredentialError(
        token.provider,
        f"the sign-in token in {token.var} expired {_when(token.expires_at)}; rupu uses it as is "
        "and never refreshes it",
        hint=f"put a fresh token in {token.var}, or unset it to use "
        f"`rupu auth login --provider {token.provider}`",
    )


def rejected_error(token: EnvToken) -> CredentialError:
    return CredentialError(
        token.provider,
        f"the provider rejected the sign-in token in {token.var} (HTTP 401); rupu uses it as is "
        "and never refreshes it",
        hint=f"put a fresh token in {token.var}, or unset it to use "
        f"`rupu auth login --provider {token.provider}`",
    )


class EnvTokenSource:
    """A `CredentialSource` for a token from the environment: checks the expiry before each
    request; a forced refresh (after a 401) is an error, since there is nothing to refresh with."""

    def __init__(self, token: EnvToken, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self.token = token
        self.clock = clock

    @property
    def credential(self) -> Credential:
        return self.token.credential()

    async def get(self, *, force_refresh: bool = False) -> Credential:
        if self.token.expired(self.clock.time()):
            raise expired_error(self.token)
        if force_refresh:
            raise rejected_error(self.token)
        return self.token.credential()


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("at %Y-%m-%d %H:%M:%S UTC")
