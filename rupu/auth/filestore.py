"""`$RUPU_HOME/auth.json`: credentials in a private file.

```json
{"version": 1, "credentials": {"anthropic/sso": {"provider": "anthropic", "mode": "sso", ...}}}
```

The file is 0600 from its first byte and replaced atomically (see `rupu.auth.files`); every
read-modify-write holds an `flock` on `auth.json.lock`, so two processes changing different entries
both keep their change. A file rupu cannot parse is reported (without its content) and never
replaced: rupu stops and says how to fix it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError

from rupu.auth.credentials import AuthMode
from rupu.auth.files import (
    StoreError,
    file_lock,
    read_private_file,
    remove_stale_temps,
    write_private_file,
)
from rupu.auth.stored import StoredCredential, store_key
from rupu.strict import StrictModel

FORMAT_VERSION = 1


class AuthFile(StrictModel):
    version: Literal[1] = 1
    credentials: dict[str, StoredCredential] = Field(default_factory=dict)


class FileStore:
    kind = "file"
    label = "auth.json"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock_path = path.with_name(path.name + ".lock")
        self.identity = f"file:{path}"

    # -- reading ----------------------------------------------------------------------------------
    def _load(self) -> dict[str, StoredCredential]:
        data = read_private_file(self.path)
        if data is None:
            return {}
        return parse_auth_file(self.path, data)

    def get(self, provider: str, mode: AuthMode) -> StoredCredential | None:
        return self._load().get(store_key(provider, mode))

    def list(self) -> list[StoredCredential]:
        return list(self._load().values())

    def exists(self) -> bool:
        return self.path.exists() or self.path.is_symlink()

    # -- writing ----------------------------------------------------------------------------------
    @contextmanager
    def _locked(self) -> Iterator[dict[str, StoredCredential]]:
        """Holds the lock; yields the current entries; writes them back if the block changed them."""
        with file_lock(self.lock_path):
            remove_stale_temps(self.path)
            entries = self._load()
            before = {k: v.to_json_dict() for k, v in entries.items()}
            yield entries
            after = {k: v.to_json_dict() for k, v in entries.items()}
            if after != before:
                self._write(entries)

    def _write(self, entries: dict[str, StoredCredential]) -> None:
        if not entries:
            try:
                self.path.unlink()
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise StoreError(str(self.path), f"cannot remove ({exc.strerror})") from None
            return
        document = {
            "version": FORMAT_VERSION,
            "credentials": {k: v.to_json_dict() for k, v in sorted(entries.items())},
        }
        write_private_file(self.path, (json.dumps(document, indent=2) + "\n").encode())

    def put(self, credential: StoredCredential) -> None:
        with self._locked() as entries:
            entries[credential.key] = credential

    def delete(self, provider: str, mode: AuthMode) -> bool:
        with self._locked() as entries:
            return entries.pop(store_key(provider, mode), None) is not None

    def update(
        self,
        provider: str,
        mode: AuthMode,
        change: Callable[[StoredCredential | None], StoredCredential | None],
    ) -> StoredCredential | None:
        """Read-modify-write of one entry under the lock; `change` returns the new value (None
        deletes)."""
        key = store_key(provider, mode)
        with self._locked() as entries:
            new = change(entries.get(key))
            if new is None:
                entries.pop(key, None)
            else:
                entries[key] = new
            return new

    def clear(self) -> int:
        with self._locked() as entries:
            count = len(entries)
            entries.clear()
            return count


def parse_auth_file(path: Path, data: bytes) -> dict[str, StoredCredential]:
    """Parses `auth.json`; errors name the file and position but never quote its content."""
    fix = (
        f"rupu left the file untouched: repair it, or move it aside (mv {path} {path}.bad) "
        "and sign in again"
    )
    try:
        document: Any = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise StoreError(str(path), f"is not UTF-8 (byte {exc.start})", hint=fix) from None
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        what = "is empty" if not data.strip() else f"is not valid JSON ({exc.msg}; {where})"
        raise StoreError(str(path), what, hint=fix) from None
    if not isinstance(document, dict):
        raise StoreError(str(path), "does not hold a JSON object", hint=fix)
    version = document.get("version")
    if isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION:
        raise StoreError(
            str(path),
            f"was written by a newer rupu (format version {version}; this rupu reads {FORMAT_VERSION})",
            hint="upgrade rupu; this version will not rewrite the file",
        )
    try:
        parsed = AuthFile.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise StoreError(
            str(path), f"has an invalid entry at '{loc}' ({first['type']})", hint=fix
        ) from None
    for key, credential in parsed.credentials.items():
        if key != credential.key:
            raise StoreError(
                str(path), f"entry '{key}' holds a credential for '{credential.key}'", hint=fix
            )
    return dict(parsed.credentials)
