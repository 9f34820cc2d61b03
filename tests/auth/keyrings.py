"""Keyring backends for tests (real `keyring` backend classes, selected by passing an instance to
`AuthStorage(keyring_backend=...)` or, in a subprocess, with PYTHON_KEYRING_BACKEND). Their negative
priority keeps keyring's automatic detection from ever choosing them (every subclass of
KeyringBackend registers itself)."""

from __future__ import annotations

import threading
import time

from keyring.backend import KeyringBackend
from keyring.errors import KeyringLocked, PasswordDeleteError


class MemoryKeyring(KeyringBackend):
    priority = -1

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # keyring's __init__ is unannotated
        self.items: dict[tuple[str, str], str] = {}
        self.calls: list[str] = []

    def get_password(self, service: str, username: str) -> str | None:
        self.calls.append("get")
        return self.items.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.calls.append("set")
        self.items[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.calls.append("delete")
        if self.items.pop((service, username), None) is None:
            raise PasswordDeleteError("not found")


class HangingKeyring(KeyringBackend):
    """Never answers, like a D-Bus activation that hangs."""

    priority = -1

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # keyring's __init__ is unannotated
        self.calls = 0

    def _hang(self) -> None:
        self.calls += 1
        threading.Event().wait(3600)

    def get_password(self, service: str, username: str) -> str | None:
        self._hang()
        return None

    def set_password(self, service: str, username: str, password: str) -> None:
        self._hang()

    def delete_password(self, service: str, username: str) -> None:
        self._hang()


class LockedKeyring(KeyringBackend):
    priority = -1

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # keyring's __init__ is unannotated

    def get_password(self, service: str, username: str) -> str | None:
        raise KeyringLocked("Failed to unlock the collection!")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise KeyringLocked("Failed to unlock the collection!")

    def delete_password(self, service: str, username: str) -> None:
        raise KeyringLocked("Failed to unlock the collection!")


class SlowKeyring(MemoryKeyring):
    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    def get_password(self, service: str, username: str) -> str | None:
        time.sleep(self.delay)
        return super().get_password(service, username)
