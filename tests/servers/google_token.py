"""A loopback Google OAuth 2.0 token endpoint (`POST /token`, form-encoded), standing in for the
`token_uri` of an ADC file.

- A service account (`grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`): the `assertion` is a
  JWT whose RS256 signature is VERIFIED with the public half of the key the test generated, and
  whose claims must be what Google requires: `iss` the service account's email, `aud` Google's token
  audience (`https://oauth2.googleapis.com/token`, whatever host the file's token_uri names), `scope` naming cloud-platform, `iat`/`exp` at most an hour apart around now.
- An authorized user (`grant_type=refresh_token`): client id, secret and refresh token must match.

Each good request is answered with the next access token of `tokens` and `expires_in` (one number
for all, or one per token).
"""

from __future__ import annotations

import base64
import time
import urllib.parse
from typing import Any

import orjson
from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.servers.base import LoopbackServer, RecordedRequest, Reply, ValidationFailed

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
AUDIENCE = "https://oauth2.googleapis.com/token"
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


class GoogleTokenServer(LoopbackServer):
    def __init__(
        self,
        *,
        public_key: rsa.RSAPublicKey | None = None,
        client_email: str = "",
        user: tuple[str, str, str] | None = None,
        tokens: list[str] | None = None,
        expires_in: int | list[int] = 3600,
    ) -> None:
        super().__init__()
        self.public_key = public_key
        self.client_email = client_email
        self.user = user  # (client_id, client_secret, refresh_token)
        self.tokens = list(tokens or ["ya29.adc-token-1", "ya29.adc-token-2", "ya29.adc-token-3"])
        self.expires_in = expires_in
        self.claims: list[dict[str, Any]] = []

    @property
    def token_uri(self) -> str:
        return f"{self.base_url}/token"

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/token", self.handle)

    def validate(self, request: RecordedRequest) -> None:
        if request.headers.get("content-type") != "application/x-www-form-urlencoded":
            raise ValidationFailed("the token request must be form-encoded")
        form = dict(urllib.parse.parse_qsl(request.raw.decode()))
        grant = form.get("grant_type")
        if grant == JWT_BEARER and self.public_key is not None:
            if set(form) != {"grant_type", "assertion"}:
                raise ValidationFailed(f"unexpected fields {sorted(form)}")
            self.claims.append(self._verified(form["assertion"]))
        elif grant == "refresh_token" and self.user is not None:
            client_id, secret, refresh = self.user
            wanted = {"client_id": client_id, "client_secret": secret, "refresh_token": refresh}
            if any(form.get(k) != v for k, v in wanted.items()):
                raise ValidationFailed("wrong client or refresh token")
        else:
            raise ValidationFailed(f"unsupported grant_type {grant!r}")

    def _verified(self, assertion: str) -> dict[str, Any]:
        assert self.public_key is not None
        try:
            header_b64, payload_b64, signature_b64 = assertion.split(".")
        except ValueError:
            raise ValidationFailed("the assertion is not a JWT") from None
        header = orjson.loads(_b64(header_b64))
        if header.get("alg") != "RS256":
            raise ValidationFailed(f"the assertion is signed with {header.get('alg')}, not RS256")
        try:
            self.public_key.verify(
                _b64(signature_b64),
                f"{header_b64}.{payload_b64}".encode(),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except InvalidSignature:
            raise ValidationFailed("the assertion's signature does not verify") from None
        claims: dict[str, Any] = orjson.loads(_b64(payload_b64))
        now = time.time()
        if claims.get("iss") != self.client_email:
            raise ValidationFailed(f"iss is {claims.get('iss')!r}")
        if claims.get("aud") != AUDIENCE:
            raise ValidationFailed(f"aud is {claims.get('aud')!r}, not {AUDIENCE}")
        if CLOUD_PLATFORM not in str(claims.get("scope", "")).split():
            raise ValidationFailed("the assertion does not ask for the cloud-platform scope")
        iat, exp = claims.get("iat", 0), claims.get("exp", 0)
        if not (iat - 300 <= now <= exp) or exp - iat > 3600:
            raise ValidationFailed("iat/exp are not a window of at most an hour around now")
        return claims

    def next_reply(self, recorded: RecordedRequest) -> Reply:
        token = self.tokens.pop(0)
        lifetime = self.expires_in
        if isinstance(lifetime, list):
            lifetime = lifetime.pop(0)
        body = {"access_token": token, "expires_in": lifetime, "token_type": "Bearer"}
        return Reply(body=orjson.dumps(body), content_type="application/json")
