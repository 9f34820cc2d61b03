"""The credential store rupu uses: the system keychain where one works, otherwise `auth.json`, or,
when chosen with `rupu auth backend --use encrypted-file`, `auth.enc` (encrypted with a passphrase;
see `rupu.auth.encrypted_store`).

Which backend holds the credentials is recorded in `$RUPU_HOME/auth-backend.json` (no secrets: the
backend and the names of the keychain entries) the first time rupu stores something. Until then
nothing is stored and reads never touch the keychain, so a run that uses an environment variable
never waits on D-Bus. `RUPU_AUTH_BACKEND=keychain|file|encrypted-file` overrides the recorded
choice.

`rupu auth backend --use keychain|file|encrypted-file` moves every stored credential to the other
backend, checks each copy, and only then deletes the originals (the file they left included, so
moving to the keychain or the encrypted file leaves no plaintext behind).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, assert_never

from pydantic import Field, ValidationError

from rupu.auth.credentials import AuthMode
from rupu.auth.encrypted_store import (
    ENCRYPTED_FILE,
    EncryptedFileStore,
    PassphraseSource,
    Prompt,
    terminal_prompt,
)
from rupu.auth.files import StoreError, file_lock, read_private_file, write_private_file
from rupu.auth.filestore import FileStore
from rupu.auth.keychain import DEFAULT_TIMEOUT, KeychainStore, KeychainUnavailable
from rupu.auth.stored import StoredCredential, StoreKind
from rupu.strict import StrictModel

STATE_FILE = "auth-backend.json"
BACKEND_ENV = "RUPU_AUTH_BACKEND"
BACKENDS: tuple[StoreKind, ...] = ("keychain", "file", "encrypted-file")
Backend = FileStore | KeychainStore


class BackendState(StrictModel):
    version: int = 1
    backend: StoreKind
    keychain_entries: list[str] = Field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Migration:
    source: StoreKind
    target: StoreKind
    moved: tuple[str, ...]


class AuthStorage:
    """A `CredentialStore` that delegates to the active backend. `notices` collects one-line
    messages the CLI shows (for example where secrets went when the keychain was unusable)."""

    def __init__(
        self,
        home: Path,
        *,
        env: Mapping[str, str] | None = None,
        keyring_backend: Any = None,
        keychain_timeout: float = DEFAULT_TIMEOUT,
        notice: Callable[[str], None] | None = None,
        passphrase_prompt: Prompt | None = None,
    ) -> None:
        self.home = home
        self.env = env or {}
        self.state_path = home / STATE_FILE
        self.file = FileStore(home / "auth.json")
        prompt = passphrase_prompt or terminal_prompt()
        self.encrypted = EncryptedFileStore(
            home / ENCRYPTED_FILE, passphrase=PassphraseSource(self.env, prompt=prompt)
        )
        self.keychain = KeychainStore(
            keychain_service(home),
            backend=keyring_backend,
            timeout=keychain_timeout,
            on_stored=self._remember_entry,
        )
        self._notice = notice
        self.identity = f"auth:{home}"
        self.lock_dir = home / "locks"

    # -- which backend ------------------------------------------------------------------------------
    def _state(self) -> BackendState | None:
        raw = read_private_file(self.state_path)
        if raw is None:
            return None
        try:
            return BackendState.model_validate(json.loads(raw))
        except (json.JSONDecodeError, ValidationError, UnicodeDecodeError):
            raise StoreError(
                str(self.state_path),
                "is not a valid rupu backend record",
                hint=f"remove it (rm {self.state_path}) and run `rupu auth backend --use keychain|file|encrypted-file`",
            ) from None

    def _update_state(self, change: Callable[[BackendState | None], BackendState]) -> None:
        """Read-modify-write of the backend record under its lock."""
        with file_lock(self.state_path.with_name(STATE_FILE + ".lock")):
            before = self._state()
            after = change(before)
            if after != before:
                data = json.dumps(after.model_dump(mode="json"), indent=2) + "\n"
                write_private_file(self.state_path, data.encode())

    def _set_backend(self, kind: StoreKind) -> None:
        self._update_state(
            lambda state: (
                state.model_copy(update={"backend": kind}) if state else BackendState(backend=kind)
            )
        )

    def _remember_entry(self, key: str, present: bool) -> None:
        def change(state: BackendState | None) -> BackendState:
            state = state or BackendState(backend="keychain")
            entries = set(state.keychain_entries)
            if present:
                entries.add(key)
            else:
                entries.discard(key)
            return state.model_copy(update={"keychain_entries": sorted(entries)})

        self._update_state(change)

    def chosen(self) -> StoreKind | None:
        """The backend credentials live in, or None when nothing was ever stored."""
        forced = self.env.get(BACKEND_ENV, "").strip().lower()
        for kind in BACKENDS:
            if forced == kind:
                return kind
        state = self._state()
        if state is not None:
            return state.backend
        if self.file.exists():
            return "file"
        return "encrypted-file" if self.encrypted.exists() else None

    def _backend(self, kind: StoreKind) -> Backend:
        match kind:
            case "keychain":
                return self.keychain
            case "file":
                return self.file
            case "encrypted-file":
                return self.encrypted
            case _:
                assert_never(kind)

    def active(self) -> Backend | None:
        kind = self.chosen()
        return self._backend(kind) if kind else None

    def keychain_problem(self) -> KeychainUnavailable | None:
        """Why the keychain cannot be used right now, or None when it answers."""
        try:
            self.keychain.probe()
        except KeychainUnavailable as exc:
            return exc
        return None

    def _writer(self) -> Backend:
        kind = self.chosen()
        if kind is not None:
            if self._state() is None and self.env.get(BACKEND_ENV) is None:
                self._set_backend(kind)
            return self._backend(kind)
        problem = self.keychain_problem()
        if problem is None:
            self._set_backend("keychain")
            return self.keychain
        self._set_backend("file")
        self._say(
            f"no usable keychain ({problem.reason}); credentials are saved in {self.file.path} "
            "(mode 0600). `rupu auth backend` shows the storage."
        )
        return self.file

    def _say(self, message: str) -> None:
        if self._notice is not None:
            self._notice(message)

    @property
    def kind(self) -> str:
        return self.chosen() or "none"

    @property
    def label(self) -> str:
        active = self.active()
        return active.label if active is not None else "nothing stored"

    # -- the store interface ------------------------------------------------------------------------
    def get(self, provider: str, mode: AuthMode) -> StoredCredential | None:
        active = self.active()
        return active.get(provider, mode) if active is not None else None

    def put(self, credential: StoredCredential) -> None:
        self._writer().put(credential)

    def delete(self, provider: str, mode: AuthMode) -> bool:
        """Removes the entry from every backend that may hold it. Keychain trouble does not stop
        the file copy from going (and is re-raised afterwards)."""
        removed = False
        problem: StoreError | None = None
        kind = self.chosen()
        if kind == "keychain" or self._keychain_listed(provider, mode):
            try:
                removed |= self.keychain.delete(provider, mode)
            except StoreError as exc:
                problem = exc
        if self.file.exists():
            removed |= self.file.delete(provider, mode)
        if kind == "encrypted-file" or self.encrypted.exists():
            removed |= self.encrypted.delete(provider, mode)
        if problem is not None:
            raise problem
        return removed

    def _keychain_listed(self, provider: str, mode: AuthMode) -> bool:
        with contextlib.suppress(StoreError):
            state = self._state()
            return state is not None and f"{provider}/{mode}" in state.keychain_entries
        return False

    def list(self, *, probe: tuple[str, ...] = ()) -> list[StoredCredential]:
        """Every stored credential. `probe` adds provider names to look for in the keychain (it
        cannot list its entries)."""
        kind = self.chosen()
        if kind is None:
            return []
        if kind != "keychain":
            return self._backend(kind).list()
        state = self._state()
        keys = {*(state.keychain_entries if state else [])}
        keys.update(f"{name}/{mode}" for name in probe for mode in ("sso", "api-key"))
        return self.keychain.list(tuple(sorted(keys)))

    # -- switching ----------------------------------------------------------------------------------
    def switch(self, target: StoreKind, *, probe: tuple[str, ...] = ()) -> Migration:
        """Moves every credential to `target`, verifies each copy, then deletes the originals."""
        if target == "keychain":
            problem = self.keychain_problem()
            if problem is not None:
                raise KeychainUnavailable(
                    problem.reason,
                    hint="nothing was changed; fix the keychain, or keep using the file",
                )
        source = self.chosen() or target
        if source == target:
            self._set_backend(target)
            return Migration(source, target, ())
        credentials = self.list(probe=probe)
        destination = self._backend(target)
        for credential in credentials:
            destination.put(credential)
            copy = destination.get(credential.provider, credential.mode)
            if copy is None or copy.to_json_dict() != credential.to_json_dict():
                raise StoreError(
                    destination.label,
                    f"the copy of '{credential.key}' did not read back identically; nothing was removed",
                    hint="retry, or keep using the current backend",
                )
        self._set_backend(target)
        origin = self._backend(source)
        for credential in credentials:
            origin.delete(credential.provider, credential.mode)
        if isinstance(origin, FileStore):
            origin.clear()
        return Migration(source, target, tuple(c.key for c in credentials))

    def describe(self) -> str:
        kind = self.chosen()
        if kind == "keychain":
            return f"keychain (service {self.keychain.service})"
        if kind == "file":
            return f"file {self.file.path}"
        if kind == "encrypted-file":
            return f"encrypted file {self.encrypted.path}"
        return "nothing stored yet (the keychain when one is usable, otherwise the file)"


def keychain_service(home: Path) -> str:
    """`rupu:<home>`; very long homes are shortened with a hash so the name stays readable."""
    text = str(home)
    if len(text) > 120:
        text = text[:80] + "…" + hashlib.sha256(text.encode()).hexdigest()[:12]
    return f"rupu:{text}"
