"""The Copilot token: a GitHub token (a PAT or a device-code sign-in token) exchanged at
`GET {token_exchange_url}` for a short-lived Copilot token, which is what the Copilot API accepts.

The exchange answers `{token, expires_at (epoch s), refresh_in, endpoints: {api}}`. The endpoint is
undocumented, so parsing tolerates a changed shape: extra fields are ignored, the expiry falls back to
the token's own `exp=` field, and the API host to the token's `proxy-ep=` field.

`CopilotTokenCache` keeps one token per provider in memory and hands it to every request; it re-mints
when fewer than 60 s remain, and concurrent callers wait for one exchange instead of making their own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from rupu.auth.credentials import Credential, CredentialSource, Secret
from rupu.auth.oauth.copilot_host import enterprise_site, is_enterprise
from rupu.clock import SYSTEM_CLOCK, Clock
from rupu.config import ProviderConfig
from rupu.config.builtins import builtin_url
from rupu.errors import CredentialError, ProviderError
from rupu.providers.http import HttpClient

DEFAULT_EXCHANGE_URL = builtin_url("copilot", "token_exchange_url")
DEFAULT_API_BASE = builtin_url("copilot", "base_url")
REMINT_MARGIN = 60.0
# Without any expiry in the answer the token is treated as short-lived rather than trusted forever.
FALLBACK_LIFETIME = 300.0

# What the Copilot Chat extension for VS Code sends; the API rejects requests from unknown editors.
EDITOR_HEADERS: Mapping[str, str] = {
    "editor-version": "vscode/1.107.0",
    "editor-plugin-version": "copilot-chat/0.35.0",
    "copilot-integration-id": "vscode-chat",
    "user-agent": "GitHubCopilotChat/0.35.0",
}
GITHUB_API_VERSION = "2025-04-01"

SUBSCRIPTION_STATUSES = (401, 403, 404)


@dataclass(frozen=True, slots=True)
class CopilotToken:
    secret: Secret
    expires_at: float
    api_base: str
    refresh_in: float | None = None
    minted_at: float | None = None

    def remaining(self, now: float) -> float:
        return self.expires_at - now

    def refresh_margin(self) -> float:
        """How long before expiry to mint a new one: 60 s, or half the lifetime of a token minted
        with less than two minutes to live (else every request would mint one)."""
        if self.minted_at is None:
            return REMINT_MARGIN
        return min(REMINT_MARGIN, max(self.expires_at - self.minted_at, 0.0) / 2)


def token_fields(token: str) -> dict[str, str]:
    """The `key=value;...` fields a Copilot token carries (`tid`, `exp`, `sku`, `proxy-ep`, ...)."""
    fields: dict[str, str] = {}
    for item in token.split(";"):
        key, sep, value = item.partition("=")
        if sep:
            fields[key.strip()] = value.strip()
    return fields


def api_base_of(data: Mapping[str, Any], fields: Mapping[str, str]) -> str:
    """`endpoints.api` when the exchange names it, else `proxy-ep=proxy.X` → `https://api.X`."""
    endpoints = data.get("endpoints")
    if isinstance(endpoints, Mapping):
        api = endpoints.get("api")
        if isinstance(api, str) and api.strip():
            return api.strip().rstrip("/")
    proxy = fields.get("proxy-ep", "").strip()
    if proxy:
        host = proxy.removeprefix("https://").removeprefix("http://").rstrip("/")
        host = host.removeprefix("proxy.")
        return f"https://api.{host}"
    return DEFAULT_API_BASE


def parse_token_response(data: Any, *, now: float, provider: str = "copilot") -> CopilotToken:
    if not isinstance(data, Mapping) or not isinstance(data.get("token"), str) or not data["token"]:
        raise ProviderError(
            provider,
            "the Copilot token exchange answered without a token",
            error_type="bad_token_response",
            hint="check [providers.copilot] token_exchange_url; GitHub may have changed the endpoint",
        )
    token: str = data["token"]
    fields = token_fields(token)
    refresh_in = _number(data.get("refresh_in"))
    expires_at = _number(data.get("expires_at")) or _number(fields.get("exp"))
    if expires_at is None:
        expires_at = now + (refresh_in + REMINT_MARGIN if refresh_in else FALLBACK_LIFETIME)
    return CopilotToken(Secret(token), expires_at, api_base_of(data, fields), refresh_in, now)


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if value > 0 else None
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        return number if number > 0 else None
    return None


ExchangeUrl = str | Callable[[Credential], str]


def exchange_url_for(config: ProviderConfig) -> Callable[[Credential], str]:
    """Where a GitHub token is exchanged: `token_exchange_url` when configured, else the API host of
    the GitHub Enterprise domain the sign-in was made on (`extras["host"]`), else github.com's."""

    def url(github: Credential) -> str:
        if config.token_exchange_url:
            return config.token_exchange_url
        host = github.extras.get("host")
        if host and is_enterprise(host):
            return enterprise_site(host, config.enterprise_url).exchange_url
        return DEFAULT_EXCHANGE_URL

    return url


class CopilotTokenCache:
    """One Copilot token at a time, shared by every request of a provider. `exchange_url` may
    depend on the GitHub credential (its enterprise host: `exchange_url_for`)."""

    def __init__(
        self,
        github: CredentialSource,
        *,
        http: HttpClient,
        exchange_url: ExchangeUrl = DEFAULT_EXCHANGE_URL,
        clock: Clock = SYSTEM_CLOCK,
        provider: str = "copilot",
    ) -> None:
        import anyio

        self.provider = provider
        self.exchange_url = exchange_url
        self.exchanges = 0
        self._github = github
        self._http = http
        self._clock = clock
        self._lock = anyio.Lock()
        self._token: CopilotToken | None = None

    async def get(self, *, reject: CopilotToken | None = None) -> CopilotToken:
        """The current token, minted again when less than its refresh margin (60 s, or half a short
        token's lifetime) remains or when `reject` (a token the API refused) is still the current
        one; a caller that was beaten to it gets the new token."""
        async with self._lock:
            token = self._token
            stale = token is None or token.remaining(self._clock.time()) < token.refresh_margin()
            if stale or (reject is not None and token is reject):
                token = self._token = await self._exchange()
            assert token is not None
            return token

    async def _exchange(self) -> CopilotToken:
        github = await self._github.get()
        headers = {
            "authorization": f"token {github.secret.reveal()}",
            "accept": "application/json",
            "x-github-api-version": GITHUB_API_VERSION,
            **EDITOR_HEADERS,
        }
        self.exchanges += 1
        url = self.exchange_url if isinstance(self.exchange_url, str) else self.exchange_url(github)
        try:
            data, _ = await self._http.request_json("GET", url, headers=headers)
        except ProviderError as exc:
            if exc.status in SUBSCRIPTION_STATUSES:
                raise refused_error(self.provider, github, exc) from None
            raise type(exc)(
                self.provider,
                f"the Copilot token exchange failed: {detail_of(exc)}",
                status=exc.status,
                error_type=exc.error_type,
                request_id=exc.request_id,
                retry_after=exc.retry_after,
                rate_limits=exc.rate_limits,
                should_retry=exc.should_retry,
                hint=exc.hint or "check [providers.copilot] token_exchange_url and your network",
            ) from None
        return parse_token_response(data, now=self._clock.time(), provider=self.provider)


def detail_of(exc: ProviderError) -> str:
    """What the server said, without the `provider (HTTP n): ` head and request-id tail the error
    adds to its message."""
    text = exc.message.partition(": ")[2] or exc.message
    return text.removesuffix(f" [request id {exc.request_id}]") if exc.request_id else text


def refused_error(provider: str, github: Credential, exc: ProviderError) -> CredentialError:
    """A GitHub token the exchange refused: no Copilot seat, or a token Copilot does not accept."""
    detail = detail_of(exc)
    said = f": {detail}" if detail else ""
    if github.mode == "sso":
        fix = f"run `rupu auth login --provider {provider} --mode sso` again"
    else:
        fix = (
            f"run `rupu auth login --provider {provider} --mode sso` to sign in with a GitHub "
            "device code, or set COPILOT_GITHUB_TOKEN to a token of an account with Copilot access"
        )
    return CredentialError(
        provider,
        f"GitHub refused to issue a Copilot token for the GitHub token ({github.describe()}) "
        f"(HTTP {exc.status}{said}); the account needs a paid GitHub Copilot subscription (Pro, "
        "Pro+, Business or Enterprise) and a valid token",
        hint=fix,
    )
