"""The Google Antigravity sign-in: Antigravity's own installed-app OAuth client (not Gemini CLI's),
and the Cloud Code project its requests bill to.

Read from pi-ai (`packages/ai/src/utils/oauth/google-antigravity.ts`, which Omegon's
`google-antigravity` route follows): PKCE with `S256` against `accounts.google.com`, the redirect
`http://localhost:51121/oauth-callback` (the only one the client accepts), `access_type=offline`
and `prompt=consent` (so Google returns a refresh token), and the scopes `cloud-platform`,
`userinfo.email`, `userinfo.profile`, `cclog` and `experimentsandconfigs`. The client id is in
`builtins.toml`, its installed-app secret (public, RFC 8252 §8.5) in `endpoints.py`.

After the token exchange the project is discovered once, with `v1internal:loadCodeAssist` on the
production endpoint, then on the daily sandbox (`cloudaicompanionProject`, a string or `{id}`).
An account without one runs on Antigravity's shared default project, as pi-ai does, and rupu says
so; `[providers.antigravity] project` names your own instead. The project is stored with the sign-in
(`extras["project"]`), so runs do not ask again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import orjson

from rupu.auth.credentials import Secret
from rupu.auth.stored import StoredCredential
from rupu.version import __version__

if TYPE_CHECKING:
    import httpx

PROD_ENDPOINT = "https://cloudcode-pa.googleapis.com"
DAILY_ENDPOINT = "https://daily-cloudcode-pa.sandbox.googleapis.com"
DISCOVERY_ENDPOINTS = (PROD_ENDPOINT, DAILY_ENDPOINT)
DEFAULT_PROJECT = "rising-fact-p41fc"
CLIENT_METADATA = {
    "ideType": "IDE_UNSPECIFIED",
    "platform": "PLATFORM_UNSPECIFIED",
    "pluginType": "GEMINI",
}
TIMEOUT = 30.0


def discovery_headers(token: Secret) -> dict[str, str]:
    return {
        "authorization": f"Bearer {token.reveal()}",
        "content-type": "application/json",
        "user-agent": f"rupu/{__version__}",
        "client-metadata": orjson.dumps(CLIENT_METADATA).decode(),
    }


def project_of(answer: Any) -> str | None:
    """`cloudaicompanionProject` of a `loadCodeAssist` answer: a string or `{"id": ...}`."""
    if not isinstance(answer, Mapping):
        return None
    value = answer.get("cloudaicompanionProject")
    if isinstance(value, Mapping):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


async def discover_project(
    token: Secret,
    endpoints: Sequence[str] = DISCOVERY_ENDPOINTS,
    *,
    http: httpx.AsyncClient | None = None,
) -> str | None:
    """The account's Cloud Code project from the first endpoint that names one, or None. An
    endpoint that fails (network, HTTP error, not JSON) is skipped, as pi-ai does."""
    import httpx  # lazy: only a sign-in talks to the discovery endpoints

    client = http or httpx.AsyncClient(timeout=TIMEOUT)
    try:
        for endpoint in endpoints:
            try:
                response = await client.post(
                    f"{endpoint.rstrip('/')}/v1internal:loadCodeAssist",
                    headers=discovery_headers(token),
                    content=orjson.dumps({"metadata": CLIENT_METADATA}),
                )
            except httpx.HTTPError:
                continue
            if response.status_code != 200:
                continue
            try:
                project = project_of(orjson.loads(response.content))
            except orjson.JSONDecodeError:
                continue
            if project:
                return project
        return None
    finally:
        if http is None:
            await client.aclose()


async def complete_sign_in(
    stored: StoredCredential,
    *,
    endpoints: Sequence[str] = DISCOVERY_ENDPOINTS,
    say: Callable[[str], None],
    http: httpx.AsyncClient | None = None,
) -> StoredCredential:
    """The sign-in with its project in `extras["project"]` (kept when already there)."""
    if stored.extras.get("project"):
        return stored
    token = Secret(stored.secret.get_secret_value())
    project = await discover_project(token, endpoints, http=http)
    if project is None:
        project = DEFAULT_PROJECT
        say(
            f"No Cloud Code project was found for this account; requests go to Antigravity's "
            f"shared default project ({DEFAULT_PROJECT}). To use your own, set "
            'project = "<gcp-project>" under [providers.antigravity] and sign in again.'
        )
    return stored.model_copy(update={"extras": {**stored.extras, "project": project}})
