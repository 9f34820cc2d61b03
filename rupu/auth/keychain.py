"""The system keychain through `keyring` (Secret Service on Linux, Keychain on macOS, Credential
Manager on Windows): one entry per `<provider>/<mode>` under the service `rupu:<RUPU_HOME>`, so two
rupu homes never share credentials.

Every keyring call runs in a daemon thread and is abandoned after `timeout` seconds (3 s by default):
a hung D-Bus activation can cost one command at most that long, and after the first timeout the
store answers "unavailable" at once for the rest of the process. Keyring cannot list entries, so
the names rupu stored are kept (without secrets) in the backend state file.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import ValidationError

from rupu.auth.credentials import AuthMode
from rupu.auth.files import StoreError
from rupu.auth.stored import StoredCredential, store_key

T = TypeVar("T")
DEFAULT_TIMEOUT = 3.0
_UNUSABLE_BACKENDS = ("keyring.backends.fail", "keyring.backends.null")
SWITCH_HINT = "or keep credentials in a private file instead: rupu auth backend --use file"


class KeychainUnavailable(StoreError):
    def __init__(self, reason: str, *, hint: str | None = None) -> None:
        super().__init__("keychain", f"unavailable: {reason}", hint=hint or SWITCH_HINT)
        self.reason = reason


class KeychainLocked(KeychainUnavailable):
    def __init__(self) -> None:
        super().__init__(
            "the keychain is locked",
            hint="unlock it (log in to your desktop session, or run "
            "`gnome-keyring-daemon --unlock` over SSH), " + SWITCH_HINT,
        )


class KeychainStore:
    kind = "keychain"
    label = "keychain"

    def __init__(
        self,
        service: str,
        *,
        backend: Any = None,
        timeout: float = DEFAULT_TIMEOUT,
        on_stored: Callable[[str, bool], None] | None = None,
    ) -> None:
        """`backend` is a `keyring` backend instance (None: the one keyring selects, honouring
        PYTHON_KEYRING_BACKEND). `on_stored(key, present)` is told about every put and delete so the
        caller can keep its list of entries."""
        self.service = service
        self.identity = f"keychain:{service}"
        self.timeout = timeout
        self._backend = backend
        self._on_stored = on_stored
        self._broken: KeychainUnavailable | None = None
        self._known: set[str] = set()

    # -- bounded calls ----------------------------------------------------------------------------
    def _call(self, what: Callable[[Any], T]) -> T:
        if self._broken is not None:
            raise self._broken
        box: dict[str, Any] = {}
        done = threading.Event()

        def work() -> None:
            try:
                backend = self._backend if self._backend is not None else _system_backend()
                _check_usable(backend)
                box["value"] = what(backend)
            except BaseException as exc:
                box["error"] = exc
            finally:
                done.set()

        threading.Thread(target=work, name="rupu-keychain", daemon=True).start()
        if not done.wait(self.timeout):
            self._broken = KeychainUnavailable(
                f"it did not answer within {self.timeout:g}s (is D-Bus or the keyring daemon hung?)"
            )
            raise self._broken
        if "error" in box:
            raise _translate(box["error"]) from None
        value: T = box["value"]
        return value

    def backend_name(self) -> str:
        def name(backend: Any) -> str:
            cls = type(backend)
            return f"{cls.__module__}.{cls.__qualname__}"

        return self._call(name)

    def probe(self) -> None:
        """Raises `KeychainUnavailable` unless the keychain answers a read."""
        self._call(lambda backend: backend.get_password(self.service, "__rupu_probe__"))

    # -- the store interface ------------------------------------------------------------------------
    def get(self, provider: str, mode: AuthMode) -> StoredCredential | None:
        key = store_key(provider, mode)
        raw = self._call(lambda backend: backend.get_password(self.service, key))
        if raw is None:
            return None
        self._known.add(key)
        try:
            return StoredCredential.model_validate(json.loads(raw))
        except (json.JSONDecodeError, ValidationError, TypeError):
            raise StoreError(
                "keychain",
                f"the entry '{key}' (service {self.service}) is not a rupu credential",
                hint=f"remove it with `rupu auth logout --provider {provider} --mode {mode}` and sign in again",
            ) from None

    def put(self, credential: StoredCredential) -> None:
        key = credential.key
        payload = json.dumps(credential.to_json_dict(), separators=(",", ":"))
        self._call(lambda backend: backend.set_password(self.service, key, payload))
        self._known.add(key)
        if self._on_stored is not None:
            self._on_stored(key, True)

    def delete(self, provider: str, mode: AuthMode) -> bool:
        key = store_key(provider, mode)

        def remove(backend: Any) -> bool:
            from keyring.errors import PasswordDeleteError

            if backend.get_password(self.service, key) is None:
                return False
            try:
                backend.delete_password(self.service, key)
            except PasswordDeleteError:
                return False
            return True

        removed = self._call(remove)
        self._known.discard(key)
        if self._on_stored is not None:
            self._on_stored(key, False)
        return removed

    def list(self, keys: tuple[str, ...] = ()) -> list[StoredCredential]:
        """The entries among `keys` (plus any this object has seen) that exist."""
        found = []
        for key in sorted({*keys, *self._known}):
            provider, _, mode = key.rpartition("/")
            if mode in ("sso", "api-key") and provider:
                credential = self.get(provider, mode)  # type: ignore[arg-type]
                if credential is not None:
                    found.append(credential)
        return found


def _system_backend() -> Any:
    import keyring

    return keyring.get_keyring()


def _check_usable(backend: Any) -> None:
    module = type(backend).__module__
    if module.startswith(_UNUSABLE_BACKENDS):
        raise KeychainUnavailable(_no_backend_reason(module))
    if module.startswith("keyring.backends.chainer") and not getattr(backend, "backends", None):
        raise KeychainUnavailable(_no_backend_reason(module))


def _no_backend_reason(module: str) -> str:
    if module.startswith("keyring.backends.null"):
        return "keyring is disabled (PYTHON_KEYRING_BACKEND selects the null backend)"
    return "no keychain backend was found (no Secret Service on the session bus?)"


def _translate(error: BaseException) -> BaseException:
    if isinstance(error, StoreError):
        return error
    try:
        from keyring import errors
    except ImportError:  # pragma: no cover - keyring is a dependency
        return KeychainUnavailable("the keyring package is not installed")
    if isinstance(error, errors.KeyringLocked):
        return KeychainLocked()
    if isinstance(error, errors.NoKeyringError):
        return KeychainUnavailable(_no_backend_reason(""))
    if isinstance(error, (errors.KeyringError, OSError, RuntimeError)) or type(
        error
    ).__module__.startswith(("secretstorage", "jeepney", "dbus")):
        detail = str(error).splitlines()[0][:160] if str(error) else ""
        return KeychainUnavailable(f"{type(error).__name__}{': ' + detail if detail else ''}")
    return error
