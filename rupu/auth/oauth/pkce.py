"""PKCE (RFC 7636) and the `state` value: pure functions."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def new_verifier() -> str:
    """43 characters from the unreserved set (32 random bytes, base64url without padding)."""
    return b64url(secrets.token_bytes(32))


def challenge_for(verifier: str) -> str:
    """The S256 challenge: base64url(SHA-256(verifier)) without padding."""
    return b64url(hashlib.sha256(verifier.encode("ascii")).digest())


def new_state() -> str:
    return b64url(secrets.token_bytes(32))


@dataclass(frozen=True, slots=True)
class PkcePair:
    verifier: str
    challenge: str
    state: str

    def __repr__(self) -> str:
        return "PkcePair(verifier='********', challenge=..., state='********')"

    @classmethod
    def new(cls) -> PkcePair:
        verifier = new_verifier()
        return cls(verifier, challenge_for(verifier), new_state())
