"""The PKCE authorization-code flow with a loopback redirect (RFC 8252).

A one-shot HTTP listener on 127.0.0.1 waits for the browser's redirect. Requests to other paths get
a 404 and do not end the wait; a wrong or missing `state` gets a 400 page and the wait goes on; an
`error` ends the sign-in with that error; `GET /cancel` ends it too (a newer `rupu auth login` uses
it to free a fixed port held by a stale login). The listener is closed on every exit path: success,
failure, timeout and Ctrl-C.
"""

from __future__ import annotations

import errno
import hmac
import html
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlencode, urlsplit

from rupu.auth.oauth.endpoints import OAuthProfile
from rupu.auth.oauth.pkce import PkcePair
from rupu.auth.oauth.tokens import OAuthError
from rupu.errors import CredentialError

if TYPE_CHECKING:
    from anyio.abc import Listener, SocketStream

DEFAULT_WAIT = 300.0
MAX_REQUEST = 16 * 1024


@dataclass(frozen=True, slots=True)
class Authorization:
    """What the token exchange needs after the browser came back."""

    code: str
    redirect_uri: str
    pkce: PkcePair

    def __repr__(self) -> str:
        return f"Authorization(code='********', redirect_uri={self.redirect_uri!r})"


def authorize_url(profile: OAuthProfile, redirect_uri: str, pkce: PkcePair) -> str:
    assert profile.authorize_url is not None
    params = {
        **profile.authorize_params,
        "response_type": "code",
        "client_id": profile.client_id,
        "redirect_uri": redirect_uri,
        "scope": " ".join(profile.scopes),
        "code_challenge": pkce.challenge,
        "code_challenge_method": "S256",
        "state": pkce.state,
    }
    separator = "&" if "?" in profile.authorize_url else "?"
    return profile.authorize_url + separator + urlencode(params)


async def authorize_in_browser(
    profile: OAuthProfile,
    *,
    show_url: Callable[[str], None],
    open_browser: Callable[[str], Awaitable[bool]] | None,
    wait: float = DEFAULT_WAIT,
    retry_busy_for: float = 2.0,
) -> Authorization:
    """Binds the callback listener, shows (and opens) the authorize URL, and returns the code once
    the browser is redirected back, or raises `OAuthError` / `CredentialError`."""
    import anyio

    pkce = PkcePair.new()
    async with callback_listener(profile, pkce.state, retry_busy_for=retry_busy_for) as server:
        redirect_uri = f"http://{profile.redirect_host}:{server.port}{profile.redirect_path}"
        url = authorize_url(profile, redirect_uri, pkce)
        show_url(url)
        if open_browser is not None:
            await open_browser(url)
        outcome: str | CredentialError = CredentialError(
            profile.provider,
            f"no answer from the browser within {wait:g}s; the sign-in was abandoned",
            hint=f"run `rupu auth login --provider {profile.provider} --mode sso` again",
        )
        with anyio.move_on_after(wait):
            outcome = await server.outcome()
    # Raised only here, outside the listener's task group (which would wrap it in a group).
    if isinstance(outcome, CredentialError):
        raise outcome
    return Authorization(outcome, redirect_uri, pkce)


class CallbackServer:
    def __init__(self, provider: str, path: str, state: str) -> None:
        import anyio

        self.provider = provider
        self.path = path
        self.state = state
        self.port = 0
        self._done = anyio.Event()
        self._code: str | None = None
        self._error: CredentialError | None = None

    async def outcome(self) -> str | CredentialError:
        """The authorization code, or the error that ended the sign-in."""
        await self._done.wait()
        if self._error is not None:
            return self._error
        assert self._code is not None
        return self._code

    def _finish(self, code: str | None, error: CredentialError | None) -> None:
        if not self._done.is_set():
            self._code, self._error = code, error
            self._done.set()

    async def handle(self, stream: SocketStream) -> None:
        import anyio

        outcome: tuple[str | None, CredentialError | None] | None = None
        try:
            async with stream:
                with anyio.move_on_after(10):
                    target = await _read_request_target(stream)
                    if target is None:
                        return
                    status, title, text, outcome = self.route(target)
                    await stream.send(_response(status, title, text))
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            pass
        finally:
            # Only after the page went out: finishing first would close the listener under it.
            if outcome is not None:
                self._finish(*outcome)

    def route(
        self, target: str
    ) -> tuple[int, str, str, tuple[str | None, CredentialError | None] | None]:
        """(status, page title, page text, outcome or None to keep waiting)."""
        parts = urlsplit(target)
        if parts.path == "/cancel":
            cancelled = CredentialError(
                self.provider,
                "the sign-in was cancelled by another `rupu auth login`",
                hint="finish the sign-in in the newer command",
            )
            return 200, "Sign-in cancelled", "This sign-in was cancelled.", (None, cancelled)
        if parts.path != self.path:
            return 404, "Not found", "Nothing here.", None
        if self._done.is_set():
            return 409, "Already finished", "This sign-in has already finished.", None
        query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        if not hmac.compare_digest(query.get("state", "").encode(), self.state.encode()):
            return (
                400,
                "Sign-in failed",
                "The answer did not match this sign-in (state). Start the sign-in again.",
                None,
            )
        if query.get("error"):
            error = query["error"]
            detail = " ".join(query.get("error_description", "").split())[:200]
            verb = "denied" if error == "access_denied" else "failed"
            failure = OAuthError(
                self.provider,
                f"sign-in {verb}: {error}" + (f" ({detail})" if detail else ""),
                error=error,
                permanent=True,
                hint=f"run `rupu auth login --provider {self.provider} --mode sso` to try again",
            )
            page = f"The provider answered: {error}. Return to the terminal."
            return 200, "Sign-in failed", page, (None, failure)
        code = query.get("code", "")
        if not code:
            missing = OAuthError(
                self.provider,
                "sign-in failed: the redirect carried no authorization code",
                permanent=True,
                hint=f"run `rupu auth login --provider {self.provider} --mode sso` to try again",
            )
            return (
                400,
                "Sign-in failed",
                "The redirect carried no authorization code.",
                (None, missing),
            )
        page = "rupu is signed in. You can close this tab and return to the terminal."
        return 200, "Signed in", page, (code, None)


@asynccontextmanager
async def callback_listener(
    profile: OAuthProfile, state: str, *, retry_busy_for: float = 2.0
) -> AsyncIterator[CallbackServer]:
    import anyio

    server = CallbackServer(profile.provider, profile.redirect_path, state)
    listener = await bind_loopback(profile.provider, profile.redirect_ports, retry_busy_for)
    server.port = int(listener.extra(anyio.abc.SocketAttribute.local_port))
    try:
        async with anyio.create_task_group() as group:
            group.start_soon(listener.serve, server.handle)
            try:
                yield server
            finally:
                group.cancel_scope.cancel()
    finally:
        await listener.aclose()


async def bind_loopback(
    provider: str, ports: tuple[int, ...], retry_busy_for: float = 2.0
) -> Listener[SocketStream]:
    """The first free port of `ports` on 127.0.0.1 (0: any free port). When every fixed port is
    busy, asks a stale rupu login on them to cancel and retries for `retry_busy_for` seconds."""
    import anyio

    fixed = [p for p in ports if p != 0]
    for port in fixed:
        listener = await _try_bind(port)
        if listener is not None:
            return listener
    if 0 in ports:
        listener = await _try_bind(0)
        if listener is not None:
            return listener
    for port in fixed:
        await _cancel_stale_login(port)
    with anyio.move_on_after(retry_busy_for):
        while True:
            for port in fixed:
                listener = await _try_bind(port)
                if listener is not None:
                    return listener
            await anyio.sleep(0.2)
    names = " and ".join(str(p) for p in fixed)
    raise CredentialError(
        provider,
        f"cannot listen for the sign-in redirect: port{'s' if len(fixed) > 1 else ''} {names} "
        "on 127.0.0.1 in use",
        hint="close the other sign-in or the program using the port (`ss -ltnp` shows it), then retry",
    )


async def _try_bind(port: int) -> Listener[SocketStream] | None:
    import anyio

    try:
        return await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=port)
    except OSError as exc:
        if exc.errno in (errno.EADDRINUSE, errno.EACCES):
            return None
        raise


async def _cancel_stale_login(port: int) -> None:
    import anyio

    with anyio.move_on_after(0.5):
        try:
            stream = await anyio.connect_tcp("127.0.0.1", port)
        except OSError:
            return
        async with stream:
            await stream.send(
                b"GET /cancel HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
            )
            with suppress(anyio.EndOfStream, anyio.BrokenResourceError, OSError):
                await stream.receive()


async def _read_request_target(stream: SocketStream) -> str | None:
    import anyio

    buffer = b""
    while b"\r\n\r\n" not in buffer and b"\n\n" not in buffer:
        if len(buffer) > MAX_REQUEST:
            return None
        try:
            buffer += await stream.receive()
        except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
            break
    line = buffer.split(b"\n", 1)[0].decode("latin-1").strip()
    pieces = line.split(" ")
    if len(pieces) < 2 or pieces[0] != "GET":
        return None
    return pieces[1]


def _response(status: int, title: str, text: str) -> bytes:
    reasons = {200: "OK", 400: "Bad Request", 404: "Not Found", 409: "Conflict"}
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>rupu: {html.escape(title)}</title>"
        "<style>body{font-family:system-ui,sans-serif;margin:4em auto;max-width:32em;"
        "color:#222}h1{font-size:1.4em}</style></head>"
        f"<body><h1>{html.escape(title)}</h1><p>{html.escape(text)}</p></body></html>"
    )
    body = page.encode()
    head = (
        f"HTTP/1.1 {status} {reasons.get(status, 'OK')}\r\n"
        "Content-Type: text/html; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Cache-Control: no-store\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body
