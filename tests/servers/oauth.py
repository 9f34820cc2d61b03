"""A loopback OAuth 2.0 authorization server, strict about what clients send.

- `GET /oauth/authorize`: checks the PKCE parameters (S256 only), client id, scopes and a loopback
  redirect URI, then redirects back with a code and the same `state` (or, per `authorize_mode`, an
  `error=access_denied`, a wrong state, or no code).
- `POST /oauth/token`: `authorization_code` (verifies the PKCE verifier against the challenge, the
  redirect URI and the client), `refresh_token` (rotates refresh tokens; reusing a rotated one
  revokes the whole family, RFC 9700 §4.14.2), and the device-code grant (answers from
  `device_script`: pending, slow_down, expired, denied, approve).
- `POST /device/code`: a device code with the scripted `interval` and `expires_in`.
- `GET /api/check`: 200 when the bearer token is a live access token, else 401.

`faults` holds scripted answers for the next token calls (e.g. a 500, or `invalid_grant`).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from aiohttp import web

from tests.servers.base import LoopbackServer

CLIENT_ID = "rupu-test-client"


@dataclass
class Family:
    live_refresh: str
    used_refresh: set[str] = field(default_factory=set)
    access: set[str] = field(default_factory=set)
    revoked: bool = False


@dataclass
class Fault:
    status: int = 400
    body: dict[str, Any] | str = field(default_factory=lambda: {"error": "invalid_grant"})
    form: bool = False


class OAuthServer(LoopbackServer):
    def __init__(
        self,
        *,
        client_id: str = CLIENT_ID,
        client_secret: str | None = None,
        token_body: str = "form",
        expires_in: float | None = 3600,
        rotate: bool = True,
        scopes: tuple[str, ...] = (),
        send_state: bool = False,
        id_token_claims: dict[str, Any] | None = None,
        device_interval: float | None = 0.05,
        device_expires_in: float = 60,
    ) -> None:
        super().__init__()
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_body = token_body
        self.expires_in = expires_in
        self.rotate = rotate
        self.scopes = scopes
        self.send_state = send_state
        self.id_token_claims = id_token_claims
        self.device_interval = device_interval
        self.device_expires_in = device_expires_in
        self.authorize_mode = "approve"
        self.token_delay = 0.0
        self.device_script: deque[str] = deque()
        self.faults: deque[Fault] = deque()
        self.codes: dict[str, dict[str, str]] = {}
        self.families: dict[str, Family] = {}
        self.by_refresh: dict[str, str] = {}
        self.by_access: dict[str, str] = {}
        self.device_codes: dict[str, str] = {}
        self.counts = {"authorize": 0, "code": 0, "refresh": 0, "device": 0, "poll": 0}
        self.invalid_grants = 0
        self.reuse_detected = 0
        self._lock = threading.Lock()

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/oauth/authorize", self.authorize)
        app.router.add_post("/oauth/token", self.token)
        app.router.add_post("/device/code", self.device_code)
        app.router.add_get("/api/check", self.check)

    @property
    def authorize_url(self) -> str:
        return f"{self.base_url}/oauth/authorize"

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/oauth/token"

    @property
    def device_code_url(self) -> str:
        return f"{self.base_url}/device/code"

    def oauth_config(self, provider: str, **extra: str) -> str:
        """The `[providers.<name>.oauth]` table pointing `provider` at this server."""
        lines = [
            f"[providers.{provider}.oauth]",
            f'authorize_url = "{self.authorize_url}"',
            f'token_url = "{self.token_url}"',
            f'device_code_url = "{self.device_code_url}"',
            f'client_id = "{self.client_id}"',
            "redirect_port = 0",
        ]
        if self.client_secret:
            lines.append(f'client_secret = "{self.client_secret}"')
        lines.extend(f'{k} = "{v}"' for k, v in extra.items())
        return "\n".join(lines) + "\n"

    def fail(self, message: str) -> web.Response:
        self.violations.append(message)
        return web.json_response(
            {"error": "invalid_request", "error_description": message}, status=400
        )

    # -- authorize ----------------------------------------------------------------------------------
    async def authorize(self, request: web.Request) -> web.StreamResponse:
        recorded = await self.record(request)
        query = recorded.query
        self.counts["authorize"] += 1
        for name in ("response_type", "client_id", "redirect_uri", "code_challenge", "state"):
            if not query.get(name):
                return self.fail(f"authorize: missing {name}")
        if query["response_type"] != "code":
            return self.fail("authorize: response_type must be code")
        if query["client_id"] != self.client_id:
            return self.fail("authorize: unknown client_id")
        if query.get("code_challenge_method") != "S256":
            return self.fail("authorize: code_challenge_method must be S256")
        if len(query["code_challenge"]) != 43:
            return self.fail("authorize: code_challenge is not a base64url SHA-256")
        if self.scopes and query.get("scope", "").split() != list(self.scopes):
            return self.fail(f"authorize: unexpected scope {query.get('scope')!r}")
        redirect = urlsplit(query["redirect_uri"])
        if redirect.scheme != "http" or redirect.hostname not in ("127.0.0.1", "localhost"):
            return self.fail("authorize: redirect_uri must be a loopback http URI")
        state = query["state"]
        params: dict[str, str]
        if self.authorize_mode == "deny":
            params = {
                "error": "access_denied",
                "error_description": "The user said no",
                "state": state,
            }
        elif self.authorize_mode == "wrong-state":
            params = {"code": "stolen", "state": "not-the-state"}
        elif self.authorize_mode == "no-code":
            params = {"state": state}
        else:
            code = secrets.token_urlsafe(16)
            self.codes[code] = {
                "challenge": query["code_challenge"],
                "redirect_uri": query["redirect_uri"],
                "state": state,
            }
            params = {"code": code, "state": state}
        raise web.HTTPFound(query["redirect_uri"] + "?" + urlencode(params))

    # -- token --------------------------------------------------------------------------------------
    async def token(self, request: web.Request) -> web.Response:
        recorded = await self.record(request)
        if self.token_delay:
            await asyncio.sleep(self.token_delay)
        content_type = recorded.headers.get("content-type", "")
        if "application/json" in content_type:
            fields = recorded.body if isinstance(recorded.body, dict) else {}
            body_kind = "json"
        else:
            fields = dict(parse_qsl(recorded.raw.decode()))
            body_kind = "form"
        grant = fields.get("grant_type", "")
        expected_kind = "form" if grant.startswith("urn:") else self.token_body
        if body_kind != expected_kind:
            return self.fail(f"token: body must be {expected_kind}-encoded, got {body_kind}")
        if fields.get("client_id") != self.client_id:
            return self.fail("token: wrong client_id")
        secret_needed = self.client_secret and not grant.startswith("urn:")
        if secret_needed and fields.get("client_secret") != self.client_secret:
            return self.fail("token: wrong client_secret")
        if self.faults and grant != "authorization_code":
            self.counts["refresh" if grant == "refresh_token" else "poll"] += 1
            fault = self.faults.popleft()
            if isinstance(fault.body, str):
                return web.Response(status=fault.status, text=fault.body, content_type="text/plain")
            if fault.form:
                return web.Response(
                    status=fault.status,
                    text=urlencode(fault.body),
                    content_type="application/x-www-form-urlencoded",
                )
            return web.json_response(fault.body, status=fault.status)
        if grant == "authorization_code":
            return self._exchange(fields)
        if grant == "refresh_token":
            return self._refresh(fields)
        if grant == "urn:ietf:params:oauth:grant-type:device_code":
            return self._device_poll(fields)
        return self.fail(f"token: unsupported grant_type {grant!r}")

    def _exchange(self, fields: dict[str, str]) -> web.Response:
        self.counts["code"] += 1
        grant = self.codes.pop(fields.get("code", ""), None)
        if grant is None:
            return web.json_response({"error": "invalid_grant"}, status=400)
        verifier = fields.get("code_verifier", "")
        if not 43 <= len(verifier) <= 128:
            return self.fail("token: code_verifier has the wrong length")
        digest = hashlib.sha256(verifier.encode()).digest()
        if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != grant["challenge"]:
            return self.fail("token: PKCE verification failed")
        if fields.get("redirect_uri") != grant["redirect_uri"]:
            return self.fail("token: redirect_uri differs from the authorize request")
        if self.send_state and fields.get("state") != grant["state"]:
            return self.fail("token: state missing or wrong")
        return web.json_response(self._issue(None))

    def _refresh(self, fields: dict[str, str]) -> web.Response:
        with self._lock:
            self.counts["refresh"] += 1
            token = fields.get("refresh_token", "")
            family_id = self.by_refresh.get(token)
            family = self.families.get(family_id or "")
            if family is None or family.revoked:
                self.invalid_grants += 1
                return web.json_response(
                    {"error": "invalid_grant", "error_description": "refresh token revoked"},
                    status=400,
                )
            if token in family.used_refresh:
                family.revoked = True
                self.reuse_detected += 1
                self.invalid_grants += 1
                return web.json_response(
                    {"error": "invalid_grant", "error_description": "refresh token reused"},
                    status=400,
                )
            payload = self._issue(family_id)
            return web.json_response(payload)

    def _issue(self, family_id: str | None) -> dict[str, Any]:
        access = "at-" + secrets.token_urlsafe(24)
        refresh = "rt-" + secrets.token_urlsafe(24)
        new = family_id is None
        if family_id is None:
            family_id = secrets.token_hex(8)
            self.families[family_id] = Family(refresh)
            self.by_refresh[refresh] = family_id
        else:
            family = self.families[family_id]
            if self.rotate:
                family.used_refresh.add(family.live_refresh)
                family.live_refresh = refresh
                self.by_refresh[refresh] = family_id
            else:
                refresh = family.live_refresh
        self.families[family_id].access.add(access)
        self.by_access[access] = family_id
        payload: dict[str, Any] = {"access_token": access, "token_type": "Bearer"}
        if self.rotate or new:
            payload["refresh_token"] = refresh
        if self.expires_in is not None:
            payload["expires_in"] = self.expires_in
        if self.id_token_claims is not None:
            payload["id_token"] = make_jwt(self.id_token_claims)
        return payload

    # -- device -------------------------------------------------------------------------------------
    async def device_code(self, request: web.Request) -> web.Response:
        recorded = await self.record(request)
        fields = dict(parse_qsl(recorded.raw.decode()))
        self.counts["device"] += 1
        if fields.get("client_id") != self.client_id:
            return self.fail("device: wrong client_id")
        code = "dc-" + secrets.token_urlsafe(16)
        self.device_codes[code] = "pending"
        payload: dict[str, Any] = {
            "device_code": code,
            "user_code": "WDJB-MJHT",
            "verification_uri": f"{self.base_url}/device",
            "expires_in": self.device_expires_in,
        }
        if self.device_interval is not None:
            payload["interval"] = self.device_interval
        return web.json_response(payload)

    def _device_poll(self, fields: dict[str, str]) -> web.Response:
        self.counts["poll"] += 1
        if fields.get("device_code") not in self.device_codes:
            return self.fail("device poll: unknown device_code")
        step = self.device_script.popleft() if self.device_script else "approve"
        if step == "approve":
            return web.json_response(self._issue(None))
        if step == "slow_down" and self.device_interval is not None:
            return web.json_response({"error": "slow_down", "interval": self.device_interval + 5})
        errors = {
            "pending": "authorization_pending",
            "slow_down": "slow_down",
            "expired": "expired_token",
            "denied": "access_denied",
        }
        # GitHub answers device polls with HTTP 200 and the error in the body.
        return web.json_response({"error": errors.get(step, step)})

    async def check(self, request: web.Request) -> web.Response:
        recorded = await self.record(request)
        token = recorded.headers.get("authorization", "").removeprefix("Bearer ")
        family = self.families.get(self.by_access.get(token, ""))
        if family is None or family.revoked:
            return web.json_response({"error": "invalid_token"}, status=401)
        return web.json_response({"ok": True})

    def live_access_tokens(self) -> set[str]:
        return {t for f in self.families.values() if not f.revoked for t in f.access}


def make_jwt(claims: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}.sig"
