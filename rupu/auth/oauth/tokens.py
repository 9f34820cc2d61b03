"""The token endpoint client: authorization-code exchange, refresh, and the device-code grant.

Errors keep only the OAuth `error` and `error_description` fields (never the rest of a body, which
may hold tokens). An error in the body counts whatever the HTTP status or the content type (GitHub
answers device polls with 200 and form encoding unless asked for JSON).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import orjson

from rupu.auth.credentials import Secret
from rupu.auth.oauth.endpoints import OAuthProfile
from rupu.errors import CredentialError
from rupu.version import __version__

if TYPE_CHECKING:
    import httpx

TIMEOUT = 30.0
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
PENDING = frozenset({"authorization_pending", "slow_down"})
PERMANENT_ERRORS = frozenset(
    {
        "invalid_grant",
        "invalid_client",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
        "invalid_request",
        "access_denied",
        "expired_token",
        "incorrect_client_credentials",
        "device_flow_disabled",
    }
)


class OAuthError(CredentialError):
    """The authorization server said no, or could not be reached. `permanent` errors (an
    `invalid_grant`, say) will not change on retry; the others (network, 5xx) may."""

    def __init__(
        self,
        provider: str,
        message: str,
        *,
        error: str | None = None,
        status: int | None = None,
        permanent: bool = False,
        hint: str | None = None,
    ) -> None:
        super().__init__(provider, message, hint=hint)
        self.error = error
        self.status = status
        self.permanent = permanent


@dataclass(frozen=True, slots=True)
class TokenSet:
    access_token: Secret
    refresh_token: Secret | None = None
    expires_in: float | None = None
    id_token: Secret | None = None
    extras: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DeviceCode:
    device_code: Secret
    user_code: str
    verification_uri: str
    expires_in: float
    interval: float | None = None
    verification_uri_complete: str | None = None


@dataclass(frozen=True, slots=True)
class DevicePending:
    """`authorization_pending` or `slow_down` (with the server's new interval, if it sent one)."""

    error: str
    interval: float | None = None


class TokenClient:
    def __init__(self, profile: OAuthProfile, *, http: httpx.AsyncClient | None = None) -> None:
        self.profile = profile
        self._http = http

    async def exchange_code(
        self, code: str, *, verifier: str, redirect_uri: str, state: str
    ) -> TokenSet:
        fields = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": self.profile.client_id,
            "code_verifier": verifier,
        }
        if self.profile.send_state_to_token:
            fields["state"] = state
        data = await self._post(self.profile.token_url, self._with_secret(fields), "sign-in")
        return self._token_set(data, "sign-in")

    async def refresh(self, refresh_token: Secret) -> TokenSet:
        fields = {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token.reveal(),
            "client_id": self.profile.client_id,
        }
        data = await self._post(self.profile.token_url, self._with_secret(fields), "refresh")
        return self._token_set(data, "refresh")

    async def request_device_code(self) -> DeviceCode:
        url = self.profile.device_code_url
        if url is None:
            raise CredentialError(self.profile.provider, "no device-code URL is configured")
        fields = {"client_id": self.profile.client_id, "scope": " ".join(self.profile.scopes)}
        data = await self._post(url, fields, "device code request", form=True)
        try:
            return DeviceCode(
                device_code=Secret(_text(data, "device_code")),
                user_code=_text(data, "user_code"),
                verification_uri=str(
                    data.get("verification_uri") or data.get("verification_url") or ""
                )
                or _text(data, "verification_uri"),
                expires_in=_number(data.get("expires_in")) or 900.0,
                interval=_number(data.get("interval")),
                verification_uri_complete=data.get("verification_uri_complete") or None,
            )
        except (KeyError, TypeError, ValueError):
            raise self._malformed("device code request") from None

    async def poll_device(self, device_code: Secret) -> TokenSet | DevicePending:
        fields = {
            "client_id": self.profile.client_id,
            "device_code": device_code.reveal(),
            "grant_type": DEVICE_GRANT,
        }
        data = await self._post(
            self.profile.token_url, fields, "device sign-in", form=True, passthrough=PENDING
        )
        if data.get("error") in PENDING:
            return DevicePending(str(data["error"]), _number(data.get("interval")))
        return self._token_set(data, "device sign-in")

    # -- plumbing ---------------------------------------------------------------------------------
    def _with_secret(self, fields: dict[str, str]) -> dict[str, str]:
        if self.profile.client_secret:
            return {**fields, "client_secret": self.profile.client_secret}
        return fields

    async def _post(
        self,
        url: str,
        fields: dict[str, str],
        during: str,
        *,
        form: bool = False,
        passthrough: frozenset[str] = frozenset(),
    ) -> dict[str, Any]:
        import httpx

        as_json = self.profile.token_body == "json" and not form
        headers = {"accept": "application/json", "user-agent": f"rupu/{__version__}"}
        client = self._http or httpx.AsyncClient(timeout=TIMEOUT)
        try:
            if as_json:
                response = await client.post(url, json=fields, headers=headers)
            else:
                response = await client.post(url, data=fields, headers=headers)
            raw = await response.aread()
        except httpx.HTTPError as exc:
            raise OAuthError(
                self.profile.provider,
                f"{during} failed: cannot reach the authorization server ({type(exc).__name__})",
                hint="check the network connection and retry",
            ) from None
        finally:
            if self._http is None:
                await client.aclose()
        data = _parse_body(raw, response.headers.get("content-type", ""))
        error = data.get("error") if isinstance(data, dict) else None
        if isinstance(error, dict):  # {"error": {"type": ..., "message": ...}} (Anthropic style)
            data = {"error": error.get("type"), "error_description": error.get("message")}
            error = data["error"]
        if error and str(error) in passthrough:
            return data
        if error:
            raise self._error(
                str(error), data.get("error_description"), response.status_code, during
            )
        if response.status_code >= 400 or not isinstance(data, dict):
            transient = response.status_code >= 500 or response.status_code in (408, 429)
            raise OAuthError(
                self.profile.provider,
                f"{during} failed: the authorization server answered HTTP {response.status_code}",
                status=response.status_code,
                permanent=not transient,
                hint="retry later" if transient else None,
            )
        return data

    def _error(self, error: str, description: Any, status: int, during: str) -> OAuthError:
        detail = " ".join(str(description).split())[:200] if description else ""
        message = f"{during} failed: {error}" + (f" ({detail})" if detail else "")
        permanent = error in PERMANENT_ERRORS or (400 <= status < 500 and status not in (408, 429))
        if error in (
            "authorization_pending",
            "slow_down",
            "server_error",
            "temporarily_unavailable",
        ):
            permanent = False
        return OAuthError(
            self.profile.provider, message, error=error, status=status, permanent=permanent
        )

    def _token_set(self, data: Mapping[str, Any], during: str) -> TokenSet:
        access = data.get("access_token")
        if not isinstance(access, str) or not access:
            raise self._malformed(during)
        refresh = data.get("refresh_token")
        id_token = data.get("id_token")
        extras: dict[str, str] = {}
        for section, name in (("account", "account_id"), ("organization", "organization_id")):
            value = data.get(section)
            if isinstance(value, dict) and isinstance(value.get("uuid"), str):
                extras[name] = value["uuid"]
        return TokenSet(
            access_token=Secret(access),
            refresh_token=Secret(refresh) if isinstance(refresh, str) and refresh else None,
            expires_in=_number(data.get("expires_in")),
            id_token=Secret(id_token) if isinstance(id_token, str) and id_token else None,
            extras=extras,
        )

    def _malformed(self, during: str) -> OAuthError:
        return OAuthError(
            self.profile.provider,
            f"{during} failed: the authorization server's answer is missing required fields",
            permanent=True,
        )


def _parse_body(raw: bytes, content_type: str) -> dict[str, Any]:
    text = raw.strip()
    if not text:
        return {}
    if "json" in content_type or text.startswith(b"{"):
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError:
            return {}
        return value if isinstance(value, dict) else {}
    if "x-www-form-urlencoded" in content_type or b"=" in text:
        try:
            return dict(parse_qsl(text.decode("utf-8", "replace"), keep_blank_values=True))
        except ValueError:
            return {}
    return {}


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data[key]
    if not isinstance(value, str) or not value:
        raise ValueError(key)
    return value


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number >= 0 else None
