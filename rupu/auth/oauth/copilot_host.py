"""Copilot on a GitHub Enterprise Server (or GHE.com) domain: where its sign-in and its Copilot token
exchange are, derived from the domain the user names with `rupu auth login --provider copilot --mode
sso --host DOMAIN` (and stored with the credential as `extras["host"]`).

| what              | github.com                                         | DOMAIN                                  |
|-------------------|----------------------------------------------------|-----------------------------------------|
| device code       | `https://github.com/login/device/code`             | `https://DOMAIN/login/device/code`      |
| token             | `https://github.com/login/oauth/access_token`      | `https://DOMAIN/login/oauth/access_token` |
| token exchange    | `https://api.github.com/copilot_internal/v2/token` | `https://api.DOMAIN/copilot_internal/v2/token` |

The Copilot API host itself comes from the exchange's answer (`endpoints.api`). `[providers.copilot]
enterprise_url` stands in for both `https://DOMAIN` and `https://api.DOMAIN` (a proxy in front of the
server, or a test); `token_exchange_url` and `[providers.copilot.oauth]` still override single URLs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from rupu.auth.oauth.endpoints import OAuthProfile, require_secure_url
from rupu.errors import UsageError

GITHUB_COM = "github.com"
EXCHANGE_PATH = "/copilot_internal/v2/token"
_HOST = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+(:\d{1,5})?$")


def normalise_host(value: str) -> str:
    """`https://GHE.example.com/` → `ghe.example.com`; anything that is not a host name is a usage
    error (a path or a query would end up in every sign-in URL)."""
    host = value.strip().lower()
    host = host.removeprefix("https://").removeprefix("http://").rstrip("/")
    if not _HOST.match(host):
        raise UsageError(
            f"'{value}' is not a GitHub Enterprise Server domain",
            field="--host",
            hint="give the domain alone, e.g. --host github.example.com",
        )
    return host


def is_enterprise(host: str | None) -> bool:
    return bool(host) and host != GITHUB_COM


@dataclass(frozen=True, slots=True)
class GitHubSite:
    """A GitHub Enterprise domain, its web root (sign-in) and its API root (token exchange)."""

    host: str
    web: str
    api: str

    @property
    def exchange_url(self) -> str:
        return self.api + EXCHANGE_PATH


def enterprise_site(host: str, enterprise_url: str | None = None) -> GitHubSite:
    if enterprise_url:
        require_secure_url("copilot", "enterprise_url", enterprise_url)
        root = enterprise_url.rstrip("/")
        return GitHubSite(host, root, root)
    return GitHubSite(host, f"https://{host}", f"https://api.{host}")


def enterprise_profile(profile: OAuthProfile, site: GitHubSite) -> OAuthProfile:
    """Copilot's device-code sign-in moved to the enterprise domain (same public client)."""
    return replace(
        profile,
        device_code_url=f"{site.web}/login/device/code",
        token_url=f"{site.web}/login/oauth/access_token",
        verification_url=f"{site.web}/login/device",
    )
