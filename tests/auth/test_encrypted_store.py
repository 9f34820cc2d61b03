"""auth.enc: encrypted at rest, private, atomic, and never replaced under a wrong passphrase."""

from __future__ import annotations

import base64
import json
import os
import random
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pydantic import SecretStr

from rupu.auth.encrypted_store import EncryptedFileStore, PassphraseSource
from rupu.auth.files import StoreError
from rupu.auth.store import AuthStorage
from rupu.auth.stored import StoredCredential
from tests.auth.keyrings import MemoryKeyring

REPO_ROOT = Path(__file__).resolve().parents[2]
CANARY = "sk-ant-api03-CANARYencrypted00000000000"
FAST = 2**10  # a small scrypt work factor keeps the tests quick; the format records it


def store(path: Path, passphrase: str = "correct horse") -> EncryptedFileStore:
    source = PassphraseSource({"RUPU_AUTH_PASSPHRASE": passphrase})
    return EncryptedFileStore(path, passphrase=source, work_factor=FAST)


def key(provider: str = "anthropic", secret: str = CANARY) -> StoredCredential:
    return StoredCredential(
        provider=provider, mode="api-key", secret=SecretStr(secret), updated_at=1.0
    )


def sso() -> StoredCredential:
    return StoredCredential(
        provider="openai",
        mode="sso",
        secret=SecretStr("at-canary-encrypted"),
        refresh_token=SecretStr("rt-canary-encrypted"),
        expires_at=1_800_000_000.5,
        extras={"chatgpt_account_id": "acct-1"},
        updated_at=2.0,
    )


def test_round_trip_private_and_no_plaintext_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "auth.enc"
    store(path).put(key())
    store(path).put(sso())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    raw = path.read_bytes()
    for secret in (CANARY, "at-canary-encrypted", "rt-canary-encrypted", "acct-1", "anthropic"):
        assert secret.encode() not in raw
    envelope = json.loads(raw)
    assert {k: envelope[k] for k in ("format", "version", "kdf", "n", "r", "p", "cipher")} == {
        "format": "rupu-encrypted-credentials",
        "version": 1,
        "kdf": "scrypt",
        "n": FAST,
        "r": 8,
        "p": 1,
        "cipher": "aes-256-gcm",
    }
    assert len(base64.b64decode(envelope["salt"])) == 16
    assert len(base64.b64decode(envelope["nonce"])) == 12
    reread = store(path)
    assert reread.get("anthropic", "api-key") == key()
    assert reread.get("openai", "sso") == sso()
    assert [c.key for c in reread.list()] == ["anthropic/api-key", "openai/sso"]


def test_every_write_uses_a_fresh_nonce_and_keeps_the_salt(tmp_path: Path) -> None:
    path = tmp_path / "auth.enc"
    writer = store(path)
    writer.put(key(secret="one"))
    first = json.loads(path.read_text())
    writer.put(key(secret="two"))
    second = json.loads(path.read_text())
    assert first["salt"] == second["salt"] and first["nonce"] != second["nonce"]


def test_wrong_passphrase_is_exit_4_and_never_replaces_the_file(tmp_path: Path) -> None:
    path = tmp_path / "auth.enc"
    store(path).put(key())
    before = path.read_bytes()
    wrong = store(path, "wrong horse")
    for attempt in (
        lambda: wrong.get("anthropic", "api-key"),
        lambda: wrong.put(key("openai", "sk-new")),
        lambda: wrong.delete("anthropic", "api-key"),
        wrong.clear,
    ):
        with pytest.raises(StoreError) as caught:
            attempt()
        assert caught.value.exit_code == 4
        assert "wrong passphrase" in caught.value.message and CANARY not in caught.value.message
    assert path.read_bytes() == before
    assert store(path).get("anthropic", "api-key") == key()


def test_a_changed_header_fails_like_a_wrong_passphrase(tmp_path: Path) -> None:
    path = tmp_path / "auth.enc"
    store(path).put(key())
    envelope = json.loads(path.read_text())
    envelope["n"] = FAST * 2  # the header is authenticated: a lowered/raised work factor is caught
    path.write_text(json.dumps(envelope))
    with pytest.raises(StoreError, match="cannot be decrypted"):
        store(path).get("anthropic", "api-key")


def test_a_damaged_file_is_reported_without_content(tmp_path: Path) -> None:
    path = tmp_path / "auth.enc"
    path.write_text('{"credentials": {"x": "sk-leaked"}}')
    path.chmod(0o600)
    with pytest.raises(StoreError) as caught:
        store(path).get("anthropic", "api-key")
    assert "is not an encrypted rupu credential file" in caught.value.message
    assert "sk-leaked" not in caught.value.one_line()


def test_no_passphrase_and_no_terminal_says_what_to_set(tmp_path: Path) -> None:
    path = tmp_path / "auth.enc"
    store(path).put(key())
    locked = EncryptedFileStore(path, passphrase=PassphraseSource({}), work_factor=FAST)
    with pytest.raises(StoreError, match="RUPU_AUTH_PASSPHRASE is not set"):
        locked.get("anthropic", "api-key")


def test_the_prompt_is_asked_once_and_twice_when_creating(tmp_path: Path) -> None:
    path = tmp_path / "auth.enc"
    asked: list[str] = []
    answers = iter(["typed secret", "typed secret"])

    def prompt(text: str) -> str:
        asked.append(text)
        return next(answers)

    creator = EncryptedFileStore(
        path, passphrase=PassphraseSource({}, prompt=prompt), work_factor=FAST
    )
    creator.put(key())
    creator.put(sso())
    assert asked == ["Passphrase for the rupu credential file: ", "Repeat the passphrase: "]
    assert store(path, "typed secret").get("openai", "sso") == sso()

    mismatched = iter(["one", "two"])
    other = EncryptedFileStore(
        tmp_path / "other.enc",
        passphrase=PassphraseSource({}, prompt=lambda _text: next(mismatched)),
        work_factor=FAST,
    )
    with pytest.raises(StoreError, match="the two passphrases differ"):
        other.put(key())
    assert not (tmp_path / "other.enc").exists()


def storage(home: Path, keyring: MemoryKeyring) -> AuthStorage:
    return AuthStorage(home, env={"RUPU_AUTH_PASSPHRASE": "migrate me"}, keyring_backend=keyring)


def test_migration_between_all_three_backends_both_ways_leaves_no_plaintext(
    tmp_path: Path,
) -> None:
    keyring = MemoryKeyring()
    home = tmp_path / "home"
    first = storage(home, keyring)
    first.switch("file")
    first.put(key())
    first.put(sso())
    expected = {c.key: c.to_json_dict() for c in first.list()}
    probe = ("anthropic", "openai")
    plain = home / "auth.json"
    encrypted = home / "auth.enc"

    def holds(kind: str) -> None:
        fresh = storage(home, keyring)
        assert fresh.chosen() == kind
        assert {c.key: c.to_json_dict() for c in fresh.list(probe=probe)} == expected
        leftovers = [p.name for p in home.iterdir() if p.name.endswith(".tmp")]
        assert leftovers == []
        if kind != "file":
            assert not plain.exists()
        if kind != "encrypted-file":
            assert not encrypted.exists()
        if kind != "keychain":
            assert keyring.items == {}
        for path in home.rglob("*"):
            if path.is_file():
                assert CANARY.encode() not in path.read_bytes() or path == plain

    for target in ("encrypted-file", "keychain", "encrypted-file", "file", "keychain", "file"):
        moved = storage(home, keyring).switch(target, probe=probe)
        assert sorted(moved.moved) == sorted(expected)
        holds(target)


def test_switching_with_a_wrong_passphrase_changes_nothing(tmp_path: Path) -> None:
    keyring = MemoryKeyring()
    home = tmp_path / "home"
    storage(home, keyring).switch("encrypted-file")
    storage(home, keyring).put(key())
    before = (home / "auth.enc").read_bytes()
    wrong = AuthStorage(home, env={"RUPU_AUTH_PASSPHRASE": "nope"}, keyring_backend=keyring)
    with pytest.raises(StoreError, match="wrong passphrase"):
        wrong.switch("file")
    assert (home / "auth.enc").read_bytes() == before and not (home / "auth.json").exists()
    assert storage(home, keyring).chosen() == "encrypted-file"


WRITER = r"""
import os, sys
from pydantic import SecretStr
from rupu.auth.encrypted_store import EncryptedFileStore, PassphraseSource
from rupu.auth.stored import StoredCredential

path, start = sys.argv[1], int(sys.argv[2])
store = EncryptedFileStore(
    __import__("pathlib").Path(path),
    passphrase=PassphraseSource({"RUPU_AUTH_PASSPHRASE": "kill me"}),
    work_factor=1024,
)
store.list()  # imports, key derivation: done before the kills start
n = start
print("ready", flush=True)
while True:
    n += 1
    print(n, flush=True)
    store.put(StoredCredential(
        provider=f"p{n % 10}", mode="api-key", secret=SecretStr(f"v{n}-" + "k" * 400),
        updated_at=float(n),
    ))
"""


def test_sigkill_during_writes_leaves_the_old_or_the_new_readable_file(tmp_path: Path) -> None:
    """A writer process is killed at random moments; every read afterwards decrypts and holds all
    ten entries, the newest being the last write attempted or the one before it."""
    path = tmp_path / "auth.enc"
    seed = store(path, "kill me")
    for n in range(10):
        seed.put(
            StoredCredential(
                provider=f"p{n}", mode="api-key", secret=SecretStr(f"v0-{n}"), updated_at=0.0
            )
        )
    rng = random.Random(18)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    version = 0
    kills = 0
    for _ in range(12):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), str(version)],
            stdout=subprocess.PIPE,
            env=env,
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(rng.uniform(0.005, 0.08))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        attempted = [int(x) for x in proc.stdout.read().split()]
        proc.stdout.close()
        kills += 1
        last = attempted[-1] if attempted else version
        entries = {c.provider: c for c in store(path, "kill me").list()}
        newest = max(int(c.updated_at) for c in entries.values())
        assert len(entries) == 10
        assert newest in (last, last - 1, version), (newest, last, version)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        version = max(newest, version)
    assert kills == 12 and version > 0
    store(path, "kill me").put(key())  # the next writer cleans up any temp file left behind
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
