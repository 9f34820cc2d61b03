"""Backend selection, bounded keychain calls, switching, logout under failures. Keyring backends
here are test doubles of `keyring`'s own interface; tests marked `keychain` use the real Secret
Service."""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path
from typing import Any

import keyring.backends.fail
import keyring.backends.null
import pytest
from pydantic import SecretStr

from rupu.auth.files import StoreError
from rupu.auth.keychain import KeychainLocked, KeychainUnavailable
from rupu.auth.store import AuthStorage
from rupu.auth.stored import StoredCredential
from tests.auth.keyrings import HangingKeyring, LockedKeyring, MemoryKeyring

CANARY = "sk-ant-api03-CANARYstore0000000000000000"


def key(provider: str = "anthropic", secret: str = CANARY) -> StoredCredential:
    return StoredCredential(
        provider=provider, mode="api-key", secret=SecretStr(secret), updated_at=1.0
    )


def sso(provider: str = "openai") -> StoredCredential:
    return StoredCredential(
        provider=provider,
        mode="sso",
        secret=SecretStr("at-1"),
        refresh_token=SecretStr("rt-1"),
        expires_at=1_900_000_000.0,
        extras={"chatgpt_account_id": "acct"},
        updated_at=2.0,
    )


def storage(
    home: Path, backend: object, notices: list[str] | None = None, **kw: Any
) -> AuthStorage:
    return AuthStorage(
        home,
        keyring_backend=backend,
        notice=notices.append if notices is not None else None,
        **kw,
    )


def test_nothing_stored_means_the_keychain_is_never_touched(tmp_path: Path) -> None:
    backend = MemoryKeyring()
    store = storage(tmp_path, backend)
    assert store.get("anthropic", "api-key") is None
    assert store.list() == [] and store.chosen() is None
    assert backend.calls == []


def test_first_write_goes_to_a_usable_keychain_one_entry_per_provider_and_mode(
    tmp_path: Path,
) -> None:
    backend = MemoryKeyring()
    notices: list[str] = []
    store = storage(tmp_path, backend, notices)
    store.put(key())
    store.put(sso())
    service = f"rupu:{tmp_path}"
    assert set(backend.items) == {(service, "anthropic/api-key"), (service, "openai/sso")}
    assert json.loads(backend.items[(service, "openai/sso")])["expires_at"] > time.time()
    assert not (tmp_path / "auth.json").exists() and notices == []
    assert store.chosen() == "keychain"
    assert store.get("openai", "sso") == sso()
    again = storage(tmp_path, backend)  # a later process
    assert {c.key for c in again.list()} == {"anthropic/api-key", "openai/sso"}


@pytest.mark.parametrize(
    "backend",
    [keyring.backends.fail.Keyring(), keyring.backends.null.Keyring()],
    ids=["no-backend", "null-backend"],
)
def test_unusable_keychain_falls_back_to_the_file_with_one_notice(
    tmp_path: Path, backend: object
) -> None:
    """C1 and C23."""
    notices: list[str] = []
    store = storage(tmp_path, backend, notices)
    store.put(key())
    store.put(key("openai"))
    assert len(notices) == 1
    assert str(tmp_path / "auth.json") in notices[0] and "no usable keychain" in notices[0]
    assert stat.S_IMODE((tmp_path / "auth.json").stat().st_mode) == 0o600
    assert store.chosen() == "file" and store.get("anthropic", "api-key") == key()


def test_hung_keychain_is_bounded_and_trips_once(tmp_path: Path) -> None:
    """C2 / G8: each call gives up after the timeout; after the first, the rest fail at once."""
    store = storage(tmp_path, HangingKeyring(), keychain_timeout=0.3)
    started = time.monotonic()
    store.put(key())  # the probe times out: the file is used
    with pytest.raises(KeychainUnavailable, match=r"did not answer within 0\.3s"):
        store.keychain.get("anthropic", "api-key")
    assert time.monotonic() - started < 1.5
    assert store.chosen() == "file"


def test_locked_keychain_says_locked_never_not_logged_in(tmp_path: Path) -> None:
    """C3."""
    backend = MemoryKeyring()
    storage(tmp_path, backend).put(key())
    locked = storage(tmp_path, LockedKeyring())
    with pytest.raises(KeychainLocked) as caught:
        locked.get("anthropic", "api-key")
    message = caught.value.one_line()
    assert "locked" in message and "rupu auth backend --use file" in message


def test_explicit_keychain_when_none_is_usable_fails_and_changes_nothing(tmp_path: Path) -> None:
    """C6."""
    store = storage(tmp_path, keyring.backends.fail.Keyring())
    store.put(key())
    before = (tmp_path / "auth.json").read_bytes()
    with pytest.raises(KeychainUnavailable) as caught:
        store.switch("keychain")
    assert "nothing was changed" in caught.value.one_line()
    assert (tmp_path / "auth.json").read_bytes() == before and store.chosen() == "file"


def test_switch_file_to_keychain_and_back_leaves_no_plaintext_behind(tmp_path: Path) -> None:
    """C19."""
    backend = MemoryKeyring()
    store = storage(tmp_path, backend)
    store._set_backend("file")
    store.put(key())
    store.put(sso())
    moved = store.switch("keychain", probe=("anthropic", "openai"))
    assert set(moved.moved) == {"anthropic/api-key", "openai/sso"}
    assert not (tmp_path / "auth.json").exists()
    assert all(
        CANARY not in p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file()
    )
    assert store.get("anthropic", "api-key") == key()
    back = store.switch("file")
    assert set(back.moved) == {"anthropic/api-key", "openai/sso"}
    assert backend.items == {}
    assert store.chosen() == "file" and store.get("openai", "sso") == sso()


def test_backend_env_override(tmp_path: Path) -> None:
    backend = MemoryKeyring()
    store = AuthStorage(tmp_path, env={"RUPU_AUTH_BACKEND": "file"}, keyring_backend=backend)
    store.put(key())
    assert (tmp_path / "auth.json").exists() and backend.items == {}


def test_logout_while_the_keychain_errors_still_removes_the_file_copy(tmp_path: Path) -> None:
    """C18: a stale file copy goes even when the keychain refuses, and the problem is reported."""
    backend = MemoryKeyring()
    store = storage(tmp_path, backend)
    store.put(key())
    store.file.put(key())  # a leftover plaintext copy
    broken = storage(tmp_path, LockedKeyring())
    with pytest.raises(StoreError) as caught:
        broken.delete("anthropic", "api-key")
    assert "locked" in caught.value.one_line()
    assert not (tmp_path / "auth.json").exists()


def test_corrupt_keychain_entry_is_reported_without_content(tmp_path: Path) -> None:
    backend = MemoryKeyring()
    store = storage(tmp_path, backend)
    store.put(key())
    backend.items[(f"rupu:{tmp_path}", "anthropic/api-key")] = CANARY
    with pytest.raises(StoreError) as caught:
        store.get("anthropic", "api-key")
    assert (
        "not a rupu credential" in caught.value.one_line() and CANARY not in caught.value.one_line()
    )


@pytest.mark.keychain
def test_real_secret_service_round_trip_with_unusual_names(tmp_path: Path) -> None:
    """C22 against gnome-keyring: punctuation and unicode survive; one entry per provider/mode."""
    from keyring.backends.SecretService import Keyring

    home = tmp_path / "hôme with spaces & ünïcode"
    store = AuthStorage(home)
    names = ["anthropic", "my.provider_x-1", "oracle"]
    for name in names:
        store.put(key(name, secret=f"{CANARY}-{name}-ü€"))
    store.put(sso())
    assert store.chosen() == "keychain"
    assert not (home / "auth.json").exists()
    real = Keyring()
    raw = real.get_password(f"rupu:{home}", "my.provider_x-1/api-key")
    assert raw is not None and json.loads(raw)["secret"] == f"{CANARY}-my.provider_x-1-ü€"
    later = AuthStorage(home)
    assert {c.key for c in later.list()} == {*(f"{n}/api-key" for n in names), "openai/sso"}
    assert later.get("openai", "sso") == sso()
    for name in names:
        assert later.delete(name, "api-key") is True
    assert later.delete("openai", "sso") is True
    assert real.get_password(f"rupu:{home}", "anthropic/api-key") is None
    assert later.list() == []


@pytest.mark.keychain
def test_real_secret_service_migration_both_ways(tmp_path: Path) -> None:
    store = AuthStorage(tmp_path, env={})
    store._set_backend("file")
    store.put(key())
    store.switch("keychain", probe=("anthropic",))
    assert not (tmp_path / "auth.json").exists()
    assert AuthStorage(tmp_path).get("anthropic", "api-key") == key()
    store.switch("file")
    from keyring.backends.SecretService import Keyring

    assert Keyring().get_password(f"rupu:{tmp_path}", "anthropic/api-key") is None
    assert (
        json.loads((tmp_path / "auth.json").read_text())["credentials"]["anthropic/api-key"][
            "secret"
        ]
        == CANARY
    )
