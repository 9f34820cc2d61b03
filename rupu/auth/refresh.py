"""Sign-in tokens that refresh themselves: before a request, when `expires_at - now < 60 s`.

- **One refresh per process.** Every source for the same stored sign-in shares one state; the first
  caller that finds the token due becomes the leader, the others wait for its result. A failed
  leader hands its error to every waiter; a cancelled leader releases them and one takes over.
- **One refresh across processes.** The leader holds `$RUPU_HOME/locks/<provider>.sso.lock`, re-reads
  the store, and skips its refresh when another process already rotated the token.
- **Rotation is saved first.** The new refresh token is stored before the new access token is used.
- **No fallback.** A failed refresh says "sign in again"; it never switches to an API key. A
  permanent failure (`invalid_grant`) is remembered, in memory and in the store, until the
  credential changes, so no process spends another call on a dead refresh token.
- **401 recovery.** `get(force_refresh=True)` refreshes once, unless the token was refreshed in the
  last few seconds (then it is already the newest one).
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from rupu.auth.credentials import Credential, Secret
from rupu.auth.files import StoreError, async_file_lock
from rupu.auth.oauth.login import stored_from_tokens
from rupu.auth.oauth.tokens import OAuthError, TokenSet
from rupu.auth.stored import CredentialStore, StoredCredential
from rupu.clock import SYSTEM_CLOCK, Clock
from rupu.errors import CredentialError

if TYPE_CHECKING:
    import anyio

REFRESH_WINDOW = 60.0
FORCE_DEBOUNCE = 5.0
TRANSIENT_ATTEMPTS = 2
TRANSIENT_DELAY = 0.5


class Refresher(Protocol):
    async def refresh(self, refresh_token: Secret) -> TokenSet: ...


def needs_refresh(credential: StoredCredential, now: float) -> bool:
    """True when less than 60 s remain (exactly 60 s left: not yet)."""
    return credential.expires_at is not None and credential.expires_at - now < REFRESH_WINDOW


def login_hint(provider: str) -> str:
    return f"sign in again: rupu auth login --provider {provider} --mode sso"


@dataclass(slots=True)
class _Flight:
    done: anyio.Event
    result: StoredCredential | None = None
    error: BaseException | None = None


@dataclass(slots=True)
class _Shared:
    """Per stored sign-in, per process."""

    current: StoredCredential
    flight: _Flight | None = None
    refreshed_at: float | None = None
    dead: dict[str, str] = field(default_factory=dict)
    token_calls: int = 0


_shared: dict[tuple[str, str], _Shared] = {}
_shared_lock = threading.Lock()


def _shared_state(store: CredentialStore, stored: StoredCredential) -> _Shared:
    key = (store.identity, stored.provider)
    with _shared_lock:
        state = _shared.get(key)
        if state is None:
            state = _shared[key] = _Shared(stored)
        elif stored.updated_at > state.current.updated_at:
            state.current = stored
        return state


class SsoCredentialSource:
    """A `CredentialSource` for a stored sign-in."""

    def __init__(
        self,
        stored: StoredCredential,
        *,
        store: CredentialStore,
        refresher: Refresher,
        lock_dir: Path,
        where: str,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.provider = stored.provider
        self.store = store
        self.refresher = refresher
        self.lock_path = lock_dir / f"{stored.provider}.sso.lock"
        self.where = where
        self.clock = clock
        self._state = _shared_state(store, stored)

    @property
    def credential(self) -> Credential:
        """The newest known credential (no I/O, no refresh)."""
        return self._state.current.to_credential(self.where)

    @property
    def token_calls(self) -> int:
        """Token-endpoint calls this process made for this sign-in."""
        return self._state.token_calls

    async def get(self, *, force_refresh: bool = False) -> Credential:
        import anyio

        state = self._state
        asked_at = self.clock.time()
        while True:
            current = state.current
            self._raise_if_dead(current)
            if not self._due(current, force_refresh, asked_at):
                return current.to_credential(self.where)
            flight = state.flight
            if flight is None:
                flight = state.flight = _Flight(anyio.Event())
                try:
                    fresh = await self._refresh(current, forced=force_refresh)
                except anyio.get_cancelled_exc_class():
                    raise  # the waiters wake with no result and one of them takes over
                except BaseException as exc:
                    flight.error = exc
                    raise
                else:
                    flight.result = fresh
                    return fresh.to_credential(self.where)
                finally:
                    state.flight = None
                    flight.done.set()
            await flight.done.wait()
            if flight.error is not None:
                raise _copy_error(flight.error)
            if flight.result is not None:
                return flight.result.to_credential(self.where)

    def _due(self, current: StoredCredential, forced: bool, asked_at: float) -> bool:
        if forced:
            refreshed = self._state.refreshed_at
            return refreshed is None or refreshed < asked_at - FORCE_DEBOUNCE
        return needs_refresh(current, self.clock.time())

    def _raise_if_dead(self, current: StoredCredential) -> None:
        fingerprint = current.refresh_fingerprint()
        error = current.refresh_error or (
            self._state.dead.get(fingerprint) if fingerprint else None
        )
        if error:
            raise self._dead_error(error)

    def _dead_error(self, error: str) -> CredentialError:
        return CredentialError(
            self.provider,
            f"the stored sign-in can no longer be refreshed ({error}); rupu does not fall back "
            "to an API key",
            hint=login_hint(self.provider),
        )

    def _adopt(self, credential: StoredCredential, *, refreshed: bool) -> None:
        self._state.current = credential
        if refreshed:
            self._state.refreshed_at = self.clock.time()

    async def _refresh(self, seen: StoredCredential, *, forced: bool) -> StoredCredential:
        import anyio

        async with async_file_lock(self.lock_path):
            latest = await anyio.to_thread.run_sync(self.store.get, self.provider, "sso")
            if latest is None:
                raise CredentialError(
                    self.provider,
                    "the stored sign-in was removed while rupu was using it",
                    hint=login_hint(self.provider),
                )
            now = self.clock.time()
            # Another process (or a new sign-in) may already have replaced the tokens.
            if (
                not latest.same_tokens(seen)
                and latest.refresh_error is None
                and (
                    not needs_refresh(latest, now)
                    or (forced and latest.expires_at is not None and latest.expires_at > now)
                )
            ):
                self._adopt(latest, refreshed=True)
                return latest
            if latest.refresh_error is not None:
                self._adopt(latest, refreshed=False)
                raise self._dead_error(latest.refresh_error)
            if latest.refresh_token is None:
                raise CredentialError(
                    self.provider,
                    "the stored sign-in cannot be refreshed (it has no refresh token)",
                    hint=login_hint(self.provider),
                )
            # Shielded: once the request is out, the server may have rotated the refresh token, so
            # the answer must be stored even if the caller is cancelled (bounded by the timeout).
            with anyio.CancelScope(shield=True):
                fresh = await self._exchange_and_store(latest)
            return fresh

    async def _exchange_and_store(self, latest: StoredCredential) -> StoredCredential:
        import anyio

        assert latest.refresh_token is not None
        try:
            tokens = await self._call_token_endpoint(latest.refresh_token.get_secret_value())
        except OAuthError as exc:
            if exc.permanent:
                await self._remember_dead(latest, exc.error or "rejected")
                raise self._dead_error(exc.error or "rejected") from None
            if latest.expires_at is not None and latest.expires_at > self.clock.time():
                self._adopt(latest, refreshed=False)
                return latest  # still valid: use it, and try again on the next request
            raise CredentialError(
                self.provider,
                f"the sign-in expired and could not be refreshed: {_reason(exc)}",
                hint="check the network and retry; if it keeps failing, "
                + login_hint(self.provider),
            ) from None
        fresh = stored_from_tokens(self.provider, tokens, now=self.clock.time(), previous=latest)
        try:
            await anyio.to_thread.run_sync(self.store.put, fresh)
        except StoreError as exc:
            raise CredentialError(
                self.provider,
                f"the sign-in was refreshed but could not be saved ({exc.one_line()})",
                hint="fix the credential store, then " + login_hint(self.provider),
            ) from None
        self._adopt(fresh, refreshed=True)
        return fresh

    async def _call_token_endpoint(self, refresh_token: str) -> TokenSet:
        for attempt in range(TRANSIENT_ATTEMPTS):
            self._state.token_calls += 1
            try:
                return await self.refresher.refresh(Secret(refresh_token))
            except OAuthError as exc:
                if exc.permanent or attempt + 1 == TRANSIENT_ATTEMPTS:
                    raise
            await self.clock.sleep(TRANSIENT_DELAY * (attempt + 1))
        raise AssertionError("unreachable")

    async def _remember_dead(self, latest: StoredCredential, error: str) -> None:
        import anyio

        fingerprint = latest.refresh_fingerprint()
        if fingerprint:
            self._state.dead[fingerprint] = error
        marked = latest.model_copy(update={"refresh_error": error})
        self._adopt(marked, refreshed=False)

        def record() -> None:
            again = self.store.get(self.provider, "sso")
            if again is not None and again.same_tokens(latest):
                self.store.put(marked)

        # Remembered in memory even when the store cannot be written.
        with contextlib.suppress(StoreError):
            await anyio.to_thread.run_sync(record)


def _reason(exc: OAuthError) -> str:
    return exc.message.removeprefix(f"{exc.provider}: ")


def _copy_error(error: BaseException) -> BaseException:
    """A fresh exception per waiter (raising one instance from many tasks tangles tracebacks)."""
    if isinstance(error, CredentialError):
        return CredentialError(
            error.provider, error.message.removeprefix(f"{error.provider}: "), hint=error.hint
        )
    return error
