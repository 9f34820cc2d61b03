"""Reading (not verifying) JWT payloads: rupu only takes the ChatGPT account id from its own tokens."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson

from rupu.auth.credentials import Credential

OPENAI_AUTH_CLAIM = "https://api.openai.com/auth"


def jwt_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT (base64url without padding), or {} when `token` is not one."""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        value = orjson.loads(base64.urlsafe_b64decode(payload))
    except (binascii.Error, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def chatgpt_account_id(token: str) -> str | None:
    """The `chatgpt_account_id` claim of a ChatGPT token, or None."""
    claim = jwt_claims(token).get(OPENAI_AUTH_CLAIM)
    account = claim.get("chatgpt_account_id") if isinstance(claim, dict) else None
    return account if isinstance(account, str) and account else None


def account_id_of(credential: Credential) -> str | None:
    """The ChatGPT account of a sign-in credential: stored at sign-in, else read from the token."""
    extras = credential.extras
    return (
        extras.get("chatgpt_account_id")
        or extras.get("account_id")
        or chatgpt_account_id(credential.secret.reveal())
    )
