"""A whole sign-in: the provider's flow, the token exchange, and the `StoredCredential` to keep.

OpenAI sign-ins carry the ChatGPT account id (JWT claim `https://api.openai.com/auth` →
`chatgpt_account_id`) in `extras["chatgpt_account_id"]`; the ChatGPT backend needs it on every
request.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable

from pydantic import SecretStr

from rupu.auth.jwt import chatgpt_account_id
from rupu.auth.oauth.browser import open_url
from rupu.auth.oauth.device import Sleep, device_sign_in
from rupu.auth.oauth.endpoints import OAuthProfile
from rupu.auth.oauth.loopback import DEFAULT_WAIT, authorize_in_browser
from rupu.auth.oauth.tokens import DeviceCode, TokenClient, TokenSet
from rupu.auth.stored import StoredCredential
from rupu.clock import SYSTEM_CLOCK


async def sign_in(
    profile: OAuthProfile,
    *,
    say: Callable[[str], None],
    no_browser: bool = False,
    wait: float = DEFAULT_WAIT,
    clock: Callable[[], float] = SYSTEM_CLOCK.time,
    sleep: Sleep | None = None,
) -> StoredCredential:
    """Runs the provider's flow; returns what to store (the caller stores it)."""
    client = TokenClient(profile)
    if profile.flow == "device":

        def show_code(code: DeviceCode) -> None:
            url = code.verification_uri
            say(
                f"To sign in to {profile.provider}, open {url} and enter the code: {code.user_code}"
            )
            say(
                "Only enter this code on the provider's own site; never give it to anyone who "
                "asks for it. Waiting for approval (Ctrl-C cancels)..."
            )

        tokens = await device_sign_in(client, show_code=show_code, sleep=sleep)
    else:

        def show_url(url: str) -> None:
            if no_browser:
                say(f"Open this URL in a browser on this machine to sign in to {profile.provider}:")
            else:
                say(
                    f"Opening your browser to sign in to {profile.provider}. If it does not open, visit:"
                )
            say(url)
            say(f"Waiting for the browser (up to {wait:g}s; Ctrl-C cancels)...")

        opener = None if no_browser else browser_opener(say)
        authorization = await authorize_in_browser(
            profile, show_url=show_url, open_browser=opener, wait=wait
        )
        tokens = await client.exchange_code(
            authorization.code,
            verifier=authorization.pkce.verifier,
            redirect_uri=authorization.redirect_uri,
            state=authorization.pkce.state,
        )
    return stored_from_tokens(profile.provider, tokens, now=clock())


def stored_from_tokens(
    provider: str,
    tokens: TokenSet,
    *,
    now: float,
    previous: StoredCredential | None = None,
) -> StoredCredential:
    """A sign-in credential from a token response. On refresh, `previous` supplies what the response
    leaves out: the refresh token (kept unless a new one came) and the extras."""
    extras = dict(previous.extras) if previous else {}
    extras.update(tokens.extras)
    if provider == "openai":
        candidates = [t.reveal() for t in (tokens.id_token, tokens.access_token) if t is not None]
        account = next((a for a in map(chatgpt_account_id, candidates) if a), None)
        if account:
            extras["chatgpt_account_id"] = account
    refresh: SecretStr | None = None
    if tokens.refresh_token is not None:
        refresh = SecretStr(tokens.refresh_token.reveal())
    elif previous is not None:
        refresh = previous.refresh_token
    return StoredCredential(
        provider=provider,
        mode="sso",
        secret=SecretStr(tokens.access_token.reveal()),
        refresh_token=refresh,
        expires_at=now + tokens.expires_in if tokens.expires_in is not None else None,
        extras=extras,
        updated_at=now,
    )


def browser_opener(say: Callable[[str], None]) -> Callable[[str], Awaitable[bool]]:
    """Opens the sign-in URL with `BROWSER` or the desktop's browser; when that fails, says why and
    shows the URL again at once (the sign-in keeps waiting for it to be opened by hand)."""

    async def open_browser(url: str) -> bool:
        def failed(reason: str) -> None:
            say(f"Could not open a browser: {reason}. Open this URL yourself to sign in:")
            say(url)

        return open_url(url, env=os.environ, on_failure=failed)

    return open_browser
