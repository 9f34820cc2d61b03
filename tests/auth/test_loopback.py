"""PKCE with a loopback callback, against the loopback authorization server; the test plays the
browser. Every exit path releases the port (G16)."""

from __future__ import annotations

import socket
import string
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import anyio
import httpx
import pytest

from rupu.auth.oauth.endpoints import OAuthProfile
from rupu.auth.oauth.loopback import authorize_in_browser, bind_loopback
from rupu.auth.oauth.pkce import PkcePair, challenge_for, new_verifier
from rupu.auth.oauth.tokens import OAuthError, TokenClient
from rupu.errors import CredentialError
from tests.servers.oauth import OAuthServer


def test_pkce_matches_rfc7636_appendix_b() -> None:
    assert (
        challenge_for("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
        == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )


def test_verifier_and_state_are_long_random_and_unreserved() -> None:
    allowed = set(string.ascii_letters + string.digits + "-._~")
    verifiers = {new_verifier() for _ in range(50)}
    assert len(verifiers) == 50
    assert all(43 <= len(v) <= 128 and set(v) <= allowed for v in verifiers)
    pair = PkcePair.new()
    assert pair.state != pair.verifier and pair.verifier not in repr(pair)


def profile_for(server: OAuthServer, **changes: Any) -> OAuthProfile:
    base = OAuthProfile(
        provider="openai",
        flow="pkce",
        authorize_url=server.authorize_url,
        token_url=server.token_url,
        client_id=server.client_id,
        scopes=("openid", "offline_access"),
        redirect_ports=(0,),
        redirect_path="/auth/callback",
    )
    return replace(base, **changes)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class Browser:
    """Follows the authorize redirect back to the callback; `tamper` may rewrite the callback URL."""

    def __init__(self, tamper: Callable[[str], list[str]] | None = None) -> None:
        self.tamper = tamper
        self.pages: list[tuple[int, str]] = []
        self.urls: list[str] = []
        self.port = 0

    async def __call__(self, url: str) -> bool:
        self.urls.append(url)
        async with httpx.AsyncClient() as client:
            answer = await client.get(url)
            location = answer.headers["location"].replace("localhost", "127.0.0.1")
            self.port = httpx.URL(location).port or 0
            for target in self.tamper(location) if self.tamper else [location]:
                try:
                    page = await client.get(target)
                except httpx.HTTPError:
                    self.pages.append((0, "closed"))
                    continue
                self.pages.append((page.status_code, page.text))
        return True


@pytest.mark.anyio
async def test_code_exchange_verifies_pkce_and_state() -> None:
    with OAuthServer(scopes=("openid", "offline_access")) as server:
        browser = Browser()
        profile = profile_for(server)
        authorization = await authorize_in_browser(
            profile, show_url=lambda url: None, open_browser=browser
        )
        tokens = await TokenClient(profile).exchange_code(
            authorization.code,
            verifier=authorization.pkce.verifier,
            redirect_uri=authorization.redirect_uri,
            state=authorization.pkce.state,
        )
    assert tokens.access_token.reveal().startswith("at-")
    assert browser.pages[0][0] == 200 and "signed in" in browser.pages[0][1]
    assert authorization.redirect_uri.startswith("http://localhost:")
    assert "code_challenge_method=S256" in browser.urls[0]
    assert port_is_free(browser.port)


@pytest.mark.anyio
async def test_wrong_state_gets_400_and_the_wait_goes_on() -> None:
    """O1 and O6: a forged callback and a stray request do not end the sign-in."""

    def tamper(location: str) -> list[str]:
        base = location.split("?", maxsplit=1)[0]
        root = base.rsplit("/", 2)[0]
        return [base + "?code=forged&state=wrong", root + "/favicon.ico", location]

    with OAuthServer() as server:
        browser = Browser(tamper)
        authorization = await authorize_in_browser(
            profile_for(server), show_url=lambda url: None, open_browser=browser
        )
    statuses = [status for status, _ in browser.pages]
    assert statuses == [400, 404, 200]
    assert authorization.code != "forged"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("deny", "sign-in denied: access_denied (The user said no)"),
        ("no-code", "no authorization code"),
    ],
)
async def test_denied_or_codeless_callback_fails_with_one_message(mode: str, message: str) -> None:
    """O2, O3."""
    with OAuthServer() as server:
        server.authorize_mode = mode
        browser = Browser()
        with pytest.raises(OAuthError) as caught:
            await authorize_in_browser(
                profile_for(server), show_url=lambda url: None, open_browser=browser
            )
    assert message in caught.value.one_line()
    assert port_is_free(browser.port)


@pytest.mark.anyio
async def test_timeout_releases_the_port_within_a_second() -> None:
    """O8 / G16: nobody comes back; the wait ends and the port is free again at once."""
    port = free_port()
    with (
        OAuthServer() as server,
        pytest.raises(CredentialError, match="no answer from the browser"),
    ):
        await authorize_in_browser(
            profile_for(server, redirect_ports=(port,)),
            show_url=lambda url: None,
            open_browser=None,
            wait=0.3,
        )
    assert port_is_free(port)


@pytest.mark.anyio
async def test_cancelled_sign_in_releases_the_port() -> None:
    """Ctrl-C (a cancelled task) closes the listener too."""
    port = free_port()
    shown: list[str] = []
    with OAuthServer() as server:
        with anyio.move_on_after(0.3):
            await authorize_in_browser(
                profile_for(server, redirect_ports=(port,)),
                show_url=shown.append,
                open_browser=None,
            )
    assert shown and port_is_free(port)


@pytest.mark.anyio
async def test_fixed_port_falls_back_to_the_registered_second_port() -> None:
    """OpenAI-style fixed ports: the first is taken, the second is used; the listener is on
    127.0.0.1 only."""
    first, second = free_port(), free_port()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", first))
        squatter.listen()
        listener = await bind_loopback("openai", (first, second), 0.1)
        async with listener:
            address = listener.extra(anyio.abc.SocketAttribute.local_address)
    assert isinstance(address, tuple)
    host, port = address[:2]
    assert (host, port) == ("127.0.0.1", second)


@pytest.mark.anyio
async def test_all_fixed_ports_busy_asks_stale_login_to_cancel_then_names_the_ports() -> None:
    """O4: a stale rupu login on the port is told to /cancel and gives the port up."""
    port = free_port()
    with OAuthServer() as server:
        profile = profile_for(server, redirect_ports=(port,))
        stale_error: list[BaseException] = []

        async def stale_login() -> None:
            try:
                await authorize_in_browser(
                    profile, show_url=lambda url: None, open_browser=None, wait=5
                )
            except CredentialError as exc:
                stale_error.append(exc)

        async with anyio.create_task_group() as group:
            group.start_soon(stale_login)
            await anyio.sleep(0.1)
            listener = await bind_loopback("openai", (port,), 2.0)
            await listener.aclose()
        assert "cancelled by another" in str(stale_error[0])

    with socket.socket() as squatter:  # not a rupu login: it ignores /cancel
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        with pytest.raises(CredentialError) as caught:
            await bind_loopback("openai", (port,), 0.3)
    assert f"port {port} on 127.0.0.1 in use" in caught.value.one_line()
