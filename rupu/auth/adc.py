"""Google Application Default Credentials (`auth: adc`) for the Vertex AI route of the gemini provider.

The file is `GOOGLE_APPLICATION_CREDENTIALS`, else gcloud's
(`$CLOUDSDK_CONFIG/application_default_credentials.json`, by default under `~/.config/gcloud`, written
by `gcloud auth application-default login`). It may hold a service-account key, an authorized user or
an external account (workload identity federation); `google-auth` (the optional `rupu[google]` extra)
reads it and mints the access token, over httpx, in a worker thread. The refresh follows rupu's rule
for sign-in tokens: a token with under 60 seconds left is refreshed before use, and concurrent
callers share one refresh.
"""

from __future__ import annotations

import calendar
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import anyio
import httpx

from rupu.auth.credentials import Credential, Secret
from rupu.errors import CredentialError

# How a run authenticates: the stored/env modes, or Application Default Credentials (Vertex).
AuthChoice = Literal["api-key", "sso", "adc"]
SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
REFRESH_MARGIN = 60.0
TOKEN_TIMEOUT = 30.0
ADC_ENV = "GOOGLE_APPLICATION_CREDENTIALS"
LOCATION_ENV = ("GOOGLE_CLOUD_LOCATION", "GOOGLE_CLOUD_REGION")
PROJECT_ENV = ("GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT")
LOGIN_HINT = (
    f"set {ADC_ENV} to a service-account key file, or run `gcloud auth application-default login`"
)


@dataclass(frozen=True, slots=True)
class AdcFile:
    """An ADC file and what pointed at it (`GOOGLE_APPLICATION_CREDENTIALS` or `gcloud`), plus the
    project and location the environment names for Vertex."""

    path: Path
    origin: str
    project: str | None = None
    location: str | None = None

    def where(self) -> str:
        return f"{self.origin} ({self.path})"


def find_adc_file(env: Mapping[str, str]) -> AdcFile | None:
    """The ADC file the environment points at, or gcloud's when it exists; None when neither."""
    project = _first(env, PROJECT_ENV)
    location = _first(env, LOCATION_ENV)
    explicit = env.get(ADC_ENV, "").strip()
    if explicit:
        return AdcFile(Path(explicit).expanduser(), ADC_ENV, project, location)
    config_dir = env.get("CLOUDSDK_CONFIG", "").strip()
    if config_dir:
        directory = Path(config_dir).expanduser()
    else:
        home = env.get("HOME", "").strip()
        directory = (Path(home) if home else Path.home()) / ".config" / "gcloud"
    path = directory / "application_default_credentials.json"
    return AdcFile(path, "gcloud", project, location) if path.is_file() else None


def _first(env: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    return next((env[n].strip() for n in names if env.get(n, "").strip()), None)


class AdcSource:
    """A `CredentialSource` of Google access tokens from an ADC file. `clock` is wall-clock seconds
    (tests move it forward to make a token due). `token_url` replaces Google's token endpoint
    (`[providers.<name>.oauth] token_url`: a proxy, or a test); without it a service account uses
    its file's `token_uri` and an authorized user Google's."""

    def __init__(
        self,
        provider: str,
        adc: AdcFile,
        *,
        clock: Callable[[], float] = time.time,
        token_url: str | None = None,
    ) -> None:
        self.provider = provider
        self.adc = adc
        self.token_url = token_url
        self._clock = clock
        self._lock = anyio.Lock()
        self._google: Any = None  # google.auth credentials, loaded on first use
        self._project: str | None = adc.project
        self._current: Credential | None = None

    def describe(self) -> str:
        return f"adc from {self.adc.where()}"

    def _fresh(self, credential: Credential | None) -> bool:
        if credential is None:
            return False
        expires = credential.expires_at
        return expires is None or expires - self._clock() >= REFRESH_MARGIN

    async def get(self, *, force_refresh: bool = False) -> Credential:
        seen = self._current
        if not force_refresh and self._fresh(seen):
            assert seen is not None
            return seen
        async with self._lock:
            current = self._current
            # Another caller refreshed while this one waited: its token is the fresh one.
            if current is not seen and self._fresh(current):
                assert current is not None
                return current
            if not force_refresh and self._fresh(current):
                assert current is not None
                return current
            self._current = await anyio.to_thread.run_sync(self._refresh)
            return self._current

    def _refresh(self) -> Credential:
        """Loads the file (first time) and mints a token. Blocks: runs in a worker thread."""
        try:
            from google.auth import exceptions  # lazy: the optional `rupu[google]` extra
        except ImportError:
            raise CredentialError(
                self.provider,
                "Application Default Credentials need the google-auth package",
                hint="install it with `pip install 'rupu[google]'`",
            ) from None
        try:
            if self._google is None:
                loaded, project = self._load()
                if self.token_url and hasattr(loaded, "with_token_uri"):
                    loaded = loaded.with_token_uri(self.token_url)
                self._google = loaded
                self._project = self._project or project
            self._google.refresh(_HttpxRequest())
        except (exceptions.DefaultCredentialsError, ValueError, KeyError, TypeError) as exc:
            # A missing field (KeyError) or a key that does not parse (ValueError) in the file.
            raise CredentialError(
                self.provider,
                f"cannot use the ADC file from {self.adc.where()}: {_first_line(exc)}",
                hint=LOGIN_HINT,
            ) from None
        except exceptions.GoogleAuthError as exc:  # RefreshError, TransportError, ...
            raise CredentialError(
                self.provider,
                f"Google did not issue a token for the ADC file from {self.adc.where()}: "
                f"{_first_line(exc)}",
                hint=LOGIN_HINT,
            ) from None
        token = self._google.token
        if not token:
            raise CredentialError(
                self.provider, "the ADC refresh returned no token", hint=LOGIN_HINT
            )
        expiry = self._google.expiry  # a naive datetime in UTC
        expires_at = float(calendar.timegm(expiry.utctimetuple())) if expiry is not None else None
        project = self._project or getattr(self._google, "quota_project_id", None)
        extras = {"auth": "adc"}
        if project:
            extras["project"] = project
        if self.adc.location:
            extras["location"] = self.adc.location
        account = getattr(self._google, "service_account_email", None)
        who = f"service account {account}" if isinstance(account, str) else "ADC"
        return Credential(
            self.provider,
            "sso",
            Secret(token),
            source=f"{who} via {self.adc.origin}",
            extras=extras,
            expires_at=expires_at,
        )

    def _load(self) -> tuple[Any, str | None]:
        """The google-auth credentials for the file's `type`, and the project it names."""
        from google.auth import exceptions  # lazy: the optional extra

        try:
            info = json.loads(self.adc.path.read_bytes())
        except FileNotFoundError:
            raise exceptions.DefaultCredentialsError("the file does not exist") from None
        except (OSError, ValueError) as exc:
            raise exceptions.DefaultCredentialsError(f"not a JSON file ({exc})") from None
        if not isinstance(info, dict):
            raise exceptions.DefaultCredentialsError("not a JSON object")
        scopes = list(SCOPES)
        match info.get("type"):
            case "service_account":
                from google.oauth2 import service_account  # lazy: the optional extra

                found: Any = service_account.Credentials.from_service_account_info(
                    info, scopes=scopes
                )
                return found, info.get("project_id")
            case "authorized_user":
                from google.oauth2 import credentials  # lazy: the optional extra

                found = credentials.Credentials.from_authorized_user_info(info, scopes=scopes)
                return found, info.get("quota_project_id")
            case "external_account":  # workload identity federation
                return _external_account(info, scopes), info.get("workforce_pool_user_project")
            case other:
                raise exceptions.DefaultCredentialsError(
                    f"type {other!r} is not a service account, authorized user or external account"
                )


def _external_account(info: dict[str, Any], scopes: list[str]) -> Any:
    source = info.get("credential_source") or {}
    if str(source.get("environment_id", "")).startswith("aws"):
        from google.auth import aws  # lazy: the optional extra

        return aws.Credentials.from_info(info, scopes=scopes)
    if "executable" in source:
        from google.auth import pluggable  # lazy: the optional extra

        return pluggable.Credentials.from_info(info, scopes=scopes)
    from google.auth import identity_pool  # lazy: the optional extra

    return identity_pool.Credentials.from_info(info, scopes=scopes)


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]


class _HttpxResponse:
    """`google.auth.transport.Response` over an httpx response."""

    def __init__(self, response: httpx.Response) -> None:
        self.status = response.status_code
        self.headers = dict(response.headers)
        self.data = response.content


class _HttpxRequest:
    """`google.auth.transport.Request` over httpx (google-auth's own transports need `requests`)."""

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        **_: Any,
    ) -> _HttpxResponse:
        try:
            with httpx.Client(timeout=timeout or TOKEN_TIMEOUT) as client:
                response = client.request(method, url, content=body, headers=dict(headers or {}))
        except httpx.HTTPError as exc:
            from google.auth import exceptions  # lazy: the optional extra, loaded by now

            raise exceptions.TransportError(f"cannot reach {url}: {type(exc).__name__}") from None
        return _HttpxResponse(response)
