"""Sign-in tokens from the environment in the resolver: where they rank, what they carry, and the
errors once they expire or are rejected."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest
from pydantic import SecretStr

from rupu.auth.env_tokens import EnvTokenSource, read_env_token
from rupu.auth.refresh import SsoCredentialSource
from rupu.auth.resolver import CredentialResolver
from rupu.auth.stored import MemoryStore, StoredCredential
from rupu.errors import CredentialError, UsageError
from rupu.testing import FakeClock

pytestmark = pytest.mark.anyio

NOW = 1_800_000_000.0


def jwt(claims: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(orjson.dumps(value)).decode().rstrip("=")

    return f"{part({'alg': 'none'})}.{part(claims)}.sig"


CHATGPT = jwt({"exp": NOW + 600, "https://api.openai.com/auth": {"chatgpt_account_id": "acct-9"}})


def resolver(env: dict[str, str], store: MemoryStore | None = None) -> CredentialResolver:
    return CredentialResolver(env, store=store or MemoryStore(), clock=FakeClock(NOW))


def test_reading_a_chatgpt_jwt_takes_expiry_and_account() -> None:
    token = read_env_token("openai", {"CHATGPT_OAUTH_TOKEN": f"  {CHATGPT}\n"})
    assert token is not None
    assert token.expires_at == NOW + 600 and dict(token.extras) == {"chatgpt_account_id": "acct-9"}
    assert token.secret.reveal() == CHATGPT and CHATGPT not in repr(token)
    opaque = read_env_token("anthropic", {"ANTHROPIC_OAUTH_TOKEN": "sk-ant-oat01-x"})
    assert opaque is not None and opaque.expires_at is None
    assert read_env_token("openai", {"CHATGPT_OAUTH_TOKEN": "  "}) is None
    assert read_env_token("copilot", {"CHATGPT_OAUTH_TOKEN": CHATGPT}) is None


async def test_the_env_token_ranks_after_a_stored_sign_in_and_before_any_key() -> None:
    env = {"CHATGPT_OAUTH_TOKEN": CHATGPT, "OPENAI_API_KEY": "sk-env"}
    store = MemoryStore()
    store.put(StoredCredential(provider="openai", mode="api-key", secret=SecretStr("sk-stored")))
    plan = resolver(env, store).plan("openai")
    assert plan.chosen is not None and plan.chosen.where == "env CHATGPT_OAUTH_TOKEN"
    assert [c.where for c in plan.shadowed] == ["stored API key (memory)", "env OPENAI_API_KEY"]
    source = resolver(env, store).source("openai")
    assert isinstance(source, EnvTokenSource)
    credential = await source.get()
    assert credential.mode == "sso" and credential.describe() == "sso from env CHATGPT_OAUTH_TOKEN"
    assert credential.extras == {"chatgpt_account_id": "acct-9"}

    store.put(
        StoredCredential(
            provider="openai",
            mode="sso",
            secret=SecretStr("stored-access"),
            refresh_token=SecretStr("rt"),
            expires_at=NOW + 3600,
        )
    )
    signed_in = resolver(env, store)
    signed_in.lock_dir = None
    assert signed_in.plan("openai").chosen.where == "stored sign-in (memory)"  # type: ignore[union-attr]
    forced_key = resolver(env, store).source("openai", mode="api-key")
    assert (await forced_key.get()).secret.reveal() == "sk-stored"


async def test_auth_sso_accepts_the_env_token_and_it_is_never_stored() -> None:
    store = MemoryStore()
    source = resolver({"GEMINI_OAUTH_TOKEN": "ya29.env"}, store).source("gemini", mode="sso")
    assert not isinstance(source, SsoCredentialSource)
    assert (await source.get()).secret.reveal() == "ya29.env"
    assert store.list() == []


async def test_expiry_is_checked_before_each_request_and_a_401_is_final() -> None:
    clock = FakeClock(NOW)
    source = CredentialResolver({"CHATGPT_OAUTH_TOKEN": CHATGPT}, clock=clock).source("openai")
    assert (await source.get()).expires_at == NOW + 600
    with pytest.raises(CredentialError, match="rejected the sign-in token in CHATGPT_OAUTH_TOKEN"):
        await source.get(force_refresh=True)
    clock.advance(600)
    with pytest.raises(CredentialError) as caught:
        await source.get()
    assert caught.value.exit_code == 4
    assert "CHATGPT_OAUTH_TOKEN expired at 2027-01-15 08:" in caught.value.message
    assert CHATGPT not in caught.value.one_line()


def test_an_expired_token_blocks_rather_than_falling_back_to_a_key() -> None:
    expired = jwt({"exp": NOW - 1})
    env = {"CHATGPT_OAUTH_TOKEN": expired, "OPENAI_API_KEY": "sk-env"}
    with pytest.raises(CredentialError, match="expired at"):
        resolver(env).source("openai")
    assert resolver(env).plan("openai").blocked is not None


def test_antigravity_takes_only_a_sign_in() -> None:
    plan = resolver({"RUPU_ANTIGRAVITY_API_KEY": "k"}).plan("antigravity")
    assert [c.kind for c in plan.candidates] == ["stored-sso"] and plan.chosen is None
    with pytest.raises(CredentialError) as caught:
        resolver({}).source("antigravity")
    assert caught.value.hint == "run `rupu auth login --provider antigravity --mode sso`"
    with pytest.raises(UsageError, match="takes only a sign-in"):
        resolver({}).source("antigravity", mode="api-key")
