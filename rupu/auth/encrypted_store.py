"""`$RUPU_HOME/auth.enc`: the credential file, encrypted with a key derived from a passphrase.

```json
{"format": "rupu-encrypted-credentials", "version": 1, "kdf": "scrypt", "n": 32768, "r": 8,
 "p": 1, "salt": "<base64>", "cipher": "aes-256-gcm", "nonce": "<base64>", "ciphertext": "<base64>"}
```

The plaintext is exactly what `auth.json` would hold. The key is scrypt(passphrase, salt) (32 bytes);
every write encrypts with AES-256-GCM under a fresh 96-bit nonce, and the header fields (everything
but the nonce and the ciphertext) are authenticated as associated data, so a changed work factor or
salt fails like a wrong passphrase. The passphrase comes from `RUPU_AUTH_PASSPHRASE`, else from a
prompt on the terminal (asked twice when the file is created), else it is an error; it is asked
once per process.

Everything else is `FileStore`'s: 0600 from the first byte, atomic replacement (a SIGKILL leaves
the old or the new file), the lock around every read-modify-write. Every write decrypts the current
file first, under the lock, so a wrong passphrase (exit 4) never replaces the file.
"""

from __future__ import annotations

import base64
import binascii
import getpass
import hashlib
import json
import os
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import ValidationError

from rupu.auth.files import StoreError, read_private_file, write_private_file
from rupu.auth.filestore import FORMAT_VERSION, FileStore, parse_auth_file
from rupu.auth.stored import StoredCredential
from rupu.strict import StrictModel

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PASSPHRASE_ENV = "RUPU_AUTH_PASSPHRASE"
ENCRYPTED_FILE = "auth.enc"
FORMAT = "rupu-encrypted-credentials"
SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1
MAX_SCRYPT_N = 2**20
KEY_BYTES = 32
SALT_BYTES = 16
NONCE_BYTES = 12

Prompt = Callable[[str], str]


class Header(StrictModel):
    format: Literal["rupu-encrypted-credentials"]
    version: Literal[1]
    kdf: Literal["scrypt"]
    n: int
    r: int
    p: int
    salt: str
    cipher: Literal["aes-256-gcm"]

    def associated_data(self) -> bytes:
        return json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()


class Envelope(Header):
    nonce: str
    ciphertext: str

    @property
    def header(self) -> Header:
        return Header.model_validate(self.model_dump(exclude={"nonce", "ciphertext"}))


def terminal_prompt() -> Prompt | None:
    """`getpass` (it reads from the terminal, not from piped input) when stdin is a terminal."""
    if not sys.stdin.isatty():
        return None
    return getpass.getpass


class PassphraseSource:
    """`RUPU_AUTH_PASSPHRASE`, else the prompt (None: no terminal). A typed passphrase is remembered
    for the process, by file, so one command asks once however many stores it opens."""

    def __init__(self, env: Mapping[str, str], *, prompt: Prompt | None = None) -> None:
        self.env = env
        self.prompt = prompt

    def get(self, where: str, *, new: bool) -> str:
        value = self.env.get(PASSPHRASE_ENV, "")
        if value:
            return value
        with _typed_lock:
            typed = _typed.get(where)
            if typed is None:
                typed = _typed[where] = self._ask(where, new=new)
            return typed

    def forget(self, where: str) -> None:
        with _typed_lock:
            _typed.pop(where, None)

    def _ask(self, where: str, *, new: bool) -> str:
        if self.prompt is None:
            raise StoreError(
                where,
                f"is encrypted and {PASSPHRASE_ENV} is not set (no terminal to ask on)",
                hint=f"set {PASSPHRASE_ENV} to the passphrase, or run the command on a terminal",
            )
        first = self.prompt("Passphrase for the rupu credential file: ")
        if not first:
            raise StoreError(where, "an empty passphrase was given", hint="type the passphrase")
        if new and self.prompt("Repeat the passphrase: ") != first:
            raise StoreError(where, "the two passphrases differ; nothing was saved", hint="retry")
        return first


_typed: dict[str, str] = {}
_typed_lock = threading.Lock()
_derived: dict[tuple[bytes, bytes], bytes] = {}
_derived_lock = threading.Lock()


class EncryptedFileStore(FileStore):
    kind = "encrypted-file"
    label = ENCRYPTED_FILE

    def __init__(
        self, path: Path, *, passphrase: PassphraseSource, work_factor: int = SCRYPT_N
    ) -> None:
        super().__init__(path)
        self.identity = f"encrypted-file:{path}"
        self.passphrase = passphrase
        self.work_factor = work_factor
        self._header: Header | None = None  # the header of the file last read

    # -- FileStore's two file operations ----------------------------------------------------------
    def _load(self) -> dict[str, StoredCredential]:
        data = read_private_file(self.path)
        if data is None:
            self._header = None
            return {}
        envelope = self._envelope(data)
        plaintext = self._decrypt(envelope)
        self._header = envelope.header
        return parse_auth_file(self.path, plaintext)

    def _write(self, entries: dict[str, StoredCredential]) -> None:
        if not entries:
            super()._write(entries)  # removes the file
            self._header = None
            return
        document = {
            "version": FORMAT_VERSION,
            "credentials": {k: v.to_json_dict() for k, v in sorted(entries.items())},
        }
        plaintext = json.dumps(document).encode()
        header = self._header or self._new_header()
        key = self._key(header, new=self._header is None)
        nonce = os.urandom(NONCE_BYTES)
        ciphertext = _aesgcm(key).encrypt(nonce, plaintext, header.associated_data())
        envelope = Envelope(**header.model_dump(), nonce=_b64(nonce), ciphertext=_b64(ciphertext))
        write_private_file(self.path, (json.dumps(envelope.model_dump()) + "\n").encode())
        self._header = header

    # -- crypto -----------------------------------------------------------------------------------
    def _new_header(self) -> Header:
        return Header(
            format=FORMAT,
            version=1,
            kdf="scrypt",
            n=self.work_factor,
            r=SCRYPT_R,
            p=SCRYPT_P,
            salt=_b64(os.urandom(SALT_BYTES)),
            cipher="aes-256-gcm",
        )

    def _envelope(self, data: bytes) -> Envelope:
        fix = (
            f"rupu left the file untouched: restore it from a backup, or move it aside "
            f"(mv {self.path} {self.path}.bad) and sign in again"
        )
        try:
            raw: Any = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise StoreError(
                str(self.path), "is not an encrypted rupu credential file", hint=fix
            ) from None
        if isinstance(raw, dict) and isinstance(raw.get("version"), int) and raw["version"] > 1:
            raise StoreError(
                str(self.path),
                f"was written by a newer rupu (format version {raw['version']})",
                hint="upgrade rupu; this version will not rewrite the file",
            )
        try:
            envelope = Envelope.model_validate(raw)
        except ValidationError:
            raise StoreError(
                str(self.path), "is not an encrypted rupu credential file", hint=fix
            ) from None
        if not (1 < envelope.n <= MAX_SCRYPT_N and envelope.n & (envelope.n - 1) == 0) or not (
            0 < envelope.r <= 32 and 0 < envelope.p <= 16
        ):
            raise StoreError(str(self.path), "has unsupported scrypt parameters", hint=fix)
        return envelope

    def _decrypt(self, envelope: Envelope) -> bytes:
        # lazy: cryptography is only needed when credentials live in the encrypted file
        from cryptography.exceptions import InvalidTag

        header = envelope.header
        try:
            nonce = base64.b64decode(envelope.nonce, validate=True)
            ciphertext = base64.b64decode(envelope.ciphertext, validate=True)
        except binascii.Error:
            raise StoreError(str(self.path), "is not an encrypted rupu credential file") from None
        key = self._key(header, new=False)
        try:
            return _aesgcm(key).decrypt(nonce, ciphertext, header.associated_data())
        except (InvalidTag, ValueError):
            self.passphrase.forget(str(self.path))
            raise StoreError(
                str(self.path),
                "cannot be decrypted: wrong passphrase (or the file was altered); it was left "
                "untouched",
                hint=f"check {PASSPHRASE_ENV} (or what you typed) and retry",
            ) from None

    def _key(self, header: Header, *, new: bool) -> bytes:
        """scrypt(passphrase, salt), derived once per process for each header and passphrase
        (a command opens the store several times; each derivation costs ~0.1 s by design)."""
        secret = self.passphrase.get(str(self.path), new=new).encode("utf-8")
        tag = (header.associated_data(), hashlib.sha256(secret).digest())
        with _derived_lock:
            key = _derived.get(tag)
        if key is None:
            # lazy: cryptography is only needed when credentials live in the encrypted file
            from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

            salt = base64.b64decode(header.salt)
            kdf = Scrypt(salt=salt, length=KEY_BYTES, n=header.n, r=header.r, p=header.p)
            key = kdf.derive(secret)
            with _derived_lock:
                _derived[tag] = key
        return key


def _aesgcm(key: bytes) -> AESGCM:
    # lazy: cryptography is only needed when credentials live in the encrypted file
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(key)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
