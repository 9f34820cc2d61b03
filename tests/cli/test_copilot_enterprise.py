"""Copilot on a GitHub Enterprise Server domain: `rupu auth login --provider copilot --mode sso --host
DOMAIN` runs GitHub's device flow on that domain, stores the domain with the token, and a run
exchanges the token on the domain's API host and chats on the Copilot API the exchange names. The
domain is never reached: `[providers.copilot] enterprise_url` points it at a loopback server that
speaks GitHub's own paths for the device flow and the exchange."""

from __future__ import annotations

import json
import secrets
from typing import Any
from urllib.parse import parse_qsl

import pytest
from aiohttp import web

from rupu.auth.credentials import Credential, Secret
from rupu.auth.oauth.copilot_host import enterprise_site, normalise_host
from rupu.config import ProviderConfig
from rupu.errors import UsageError
from rupu.providers.copilot_token import DEFAULT_EXCHANGE_URL, exchange_url_for
from tests.conftest import Workspace, run_rupu
from tests.servers.copilot import CopilotServer
from tests.servers.openai_chat import stream_reply, text_stream, usage

COPILOT_CLIENT = "Iv1.b507a08c87ecfe98"  # the public client rupu's record names
NO_KEYCHAIN = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
HOST = "github.example.com"


class EnterpriseServer(CopilotServer):
    """One loopback server standing in for `https://HOST` (GitHub's device flow at
    `/login/device/code` and `/login/oauth/access_token`, answering JSON as GitHub does when asked)
    and `https://api.HOST` (the Copilot token exchange), plus the Copilot API."""

    def __init__(self) -> None:
        self.issued_github = "ghu_enterprise_" + secrets.token_hex(8)
        super().__init__(github_token=self.issued_github)
        self.device_codes: set[str] = set()
        self.polls = 0

    def routes(self, app: web.Application) -> None:
        super().routes(app)
        app.router.add_post("/login/device/code", self.device_code)
        app.router.add_post("/login/oauth/access_token", self.access_token)

    async def _form(self, request: web.Request) -> dict[str, str]:
        recorded = await self.record(request)
        self.requests.remove(recorded)
        if recorded.headers.get("accept") != "application/json":
            self.violations.append("GitHub answers the device flow in JSON only when asked")
        return dict(parse_qsl(recorded.raw.decode()))

    async def device_code(self, request: web.Request) -> web.Response:
        fields = await self._form(request)
        if fields.get("client_id") != COPILOT_CLIENT or fields.get("scope") != "read:user":
            self.violations.append(f"device code: unexpected fields {fields}")
        code = "dc-" + secrets.token_hex(8)
        self.device_codes.add(code)
        return web.json_response(
            {
                "device_code": code,
                "user_code": "GHES-1234",
                "verification_uri": f"https://{HOST}/login/device",
                "expires_in": 60,
                "interval": 0.05,
            }
        )

    async def access_token(self, request: web.Request) -> web.Response:
        fields = await self._form(request)
        self.polls += 1
        if fields.get("grant_type") != "urn:ietf:params:oauth:grant-type:device_code":
            self.violations.append("wrong grant_type")
        if fields.get("device_code") not in self.device_codes:
            self.violations.append("unknown device_code")
        if self.polls == 1:
            return web.json_response({"error": "authorization_pending"})
        return web.json_response(
            {"access_token": self.issued_github, "token_type": "bearer", "scope": "read:user"}
        )


def stored(workspace: Workspace) -> dict[str, Any]:
    return json.loads((workspace.home / "auth.json").read_text())["credentials"]  # type: ignore[no-any-return]


def test_sign_in_exchange_and_chat_on_an_enterprise_domain(workspace: Workspace) -> None:
    with EnterpriseServer() as server:
        workspace.write_config(f'[providers.copilot]\nenterprise_url = "{server.base_url}"\n')
        login = run_rupu(
            "auth", "login", "--provider", "copilot", "--mode", "sso",
            "--host", f"https://{HOST.upper()}/", env=NO_KEYCHAIN,
        )  # fmt: skip
        assert login.code == 0, login.stderr
        assert f"open https://{HOST}/login/device and enter the code: GHES-1234" in login.stderr
        assert f"on {HOST}" in login.stderr
        saved = stored(workspace)["copilot/sso"]
        assert saved["extras"]["host"] == HOST
        workspace.write_agent(
            "pair", "---\nname: pair\nprovider: copilot\nmodel: gpt-4.1\n---\n\nPair.\n"
        )
        server.script.append(stream_reply(text_stream(["on ", "GHES"], with_usage=usage(5, 2))))
        run = run_rupu("run", "--agent", "pair", "hello", env=NO_KEYCHAIN)
        server.assert_clean()
    assert run.code == 0, run.stderr
    assert run.stdout.strip() == "on GHES"
    assert server.polls == 2 and server.exchanges == 1
    (exchange,) = server.exchange_requests
    assert exchange.path == "/copilot_internal/v2/token"
    assert exchange.headers["authorization"] == f"token {server.issued_github}"
    (chat,) = server.requests
    assert chat.path == "/chat/completions" and chat.body["model"] == "gpt-4.1"
    assert server.issued_github not in login.stderr + run.stderr + run.stdout


def test_enterprise_urls_follow_the_domain() -> None:
    site = enterprise_site(normalise_host("GHE.Example.com"))
    assert (site.web, site.exchange_url) == (
        "https://ghe.example.com",
        "https://api.ghe.example.com/copilot_internal/v2/token",
    )
    github = Credential("copilot", "sso", Secret("t"), "auth.json", extras={"host": HOST})
    assert exchange_url_for(ProviderConfig())(github) == (
        f"https://api.{HOST}/copilot_internal/v2/token"
    )
    plain = Credential("copilot", "api-key", Secret("t"), "env GH_TOKEN")
    assert exchange_url_for(ProviderConfig())(plain) == DEFAULT_EXCHANGE_URL
    pinned = ProviderConfig(token_exchange_url="https://proxy.internal/exchange")
    assert exchange_url_for(pinned)(github) == "https://proxy.internal/exchange"


@pytest.mark.parametrize("value", ["ghe.example.com/path", "not a host", "localhost"])
def test_a_host_that_is_not_a_domain_is_refused(value: str) -> None:
    with pytest.raises(UsageError, match="not a GitHub Enterprise Server domain"):
        normalise_host(value)


def test_host_only_with_a_copilot_sign_in(workspace: Workspace) -> None:
    result = run_rupu(
        "auth", "login", "--provider", "anthropic", "--mode", "sso", "--host", HOST,
        env=NO_KEYCHAIN,
    )  # fmt: skip
    assert result.code == 2
    assert "--host only goes with --provider copilot --mode sso" in result.stderr
