"""Pre-emptive refresh: the 60 s rule, single flight in a process and across processes, rotation,
permanent failures, 401 recovery. Against the loopback OAuth server, with a fake clock."""

from __future__ import annotations

from pathlib import Path

import anyio
import anyio.lowlevel
import pytest
from pydantic import SecretStr

from rupu.auth.credentials import Credential
from rupu.auth.files import StoreError, file_lock
from rupu.auth.filestore import FileStore
from rupu.auth.oauth.endpoints import OAuthProfile
from rupu.auth.oauth.tokens import TokenClient
from rupu.auth.refresh import SsoCredentialSource
from rupu.auth.stored import StoredCredential
from rupu.errors import CredentialError
from rupu.testing import FakeClock
from tests.servers.oauth import Fault, OAuthServer

T0 = 1_800_000_000.0


def sign_in(
    server: OAuthServer, store: FileStore, clock: FakeClock, *, left: float
) -> StoredCredential:
    issued = server._issue(None)
    credential = StoredCredential(
        provider="openai",
        mode="sso",
        secret=SecretStr(issued["access_token"]),
        refresh_token=SecretStr(issued["refresh_token"]),
        expires_at=clock.now + left,
        extras={"chatgpt_account_id": "acct-1"},
        updated_at=clock.now,
    )
    store.put(credential)
    return credential


def source(
    server: OAuthServer, store: FileStore, clock: FakeClock, tmp_path: Path
) -> SsoCredentialSource:
    stored = store.get("openai", "sso")
    assert stored is not None
    profile = OAuthProfile(
        provider="openai", flow="pkce", token_url=server.token_url, client_id=server.client_id
    )
    return SsoCredentialSource(
        stored,
        store=store,
        refresher=TokenClient(profile),
        lock_dir=tmp_path / "locks",
        where="auth.json",
        clock=clock,
    )


@pytest.fixture
def store(tmp_path: Path) -> FileStore:
    return FileStore(tmp_path / "auth.json")


@pytest.mark.anyio
@pytest.mark.parametrize(("left", "refreshes"), [(59, 1), (60, 0), (61, 0)])
async def test_refreshes_if_and_only_if_less_than_60_seconds_remain(
    tmp_path: Path, store: FileStore, left: float, refreshes: int
) -> None:
    clock = FakeClock(T0, advance_on_sleep=False)
    with OAuthServer(expires_in=3600) as server:
        old = sign_in(server, store, clock, left=left)
        credential = await source(server, store, clock, tmp_path).get()
    assert server.counts["refresh"] == refreshes
    assert (credential.secret.reveal() == old.secret.get_secret_value()) == (refreshes == 0)
    saved = store.get("openai", "sso")
    assert saved is not None
    # expires_in (relative seconds) is stored as absolute unix seconds, and round-trips.
    assert saved.expires_at == (T0 + 3600 if refreshes else T0 + left)
    assert saved.extras == {"chatgpt_account_id": "acct-1"}


@pytest.mark.anyio
@pytest.mark.parametrize("users", [2, 8, 50])
async def test_concurrent_users_make_exactly_one_token_call(
    tmp_path: Path, store: FileStore, users: int
) -> None:
    """G1 / X1: a token with 30 s left, N concurrent users, one token call, nobody gets the old
    (about to expire) token."""
    clock = FakeClock(T0, advance_on_sleep=False)
    results: list[Credential] = []
    with OAuthServer(expires_in=3600) as server:
        server.token_delay = 0.2
        old = sign_in(server, store, clock, left=30)
        start = anyio.Event()

        async def user() -> None:
            await start.wait()
            results.append(await source(server, store, clock, tmp_path).get())

        async with anyio.create_task_group() as group:
            for _ in range(users):
                group.start_soon(user)
            await anyio.sleep(0.01)
            start.set()
    assert server.counts["refresh"] == 1
    assert len(results) == users
    saved = store.get("openai", "sso")
    assert saved is not None
    assert {c.secret.reveal() for c in results} == {saved.secret.get_secret_value()}
    assert all(c.secret.reveal() != old.secret.get_secret_value() for c in results)
    assert all(c.expires_at is not None and c.expires_at - clock.now >= 60 for c in results)


@pytest.mark.anyio
async def test_failed_leader_releases_every_waiter_and_the_next_call_retries(
    tmp_path: Path, store: FileStore
) -> None:
    """X2: the token is already expired and the server fails; all waiters get the error."""
    clock = FakeClock(T0, advance_on_sleep=False)
    errors: list[str] = []
    with OAuthServer() as server:
        server.token_delay = 0.1
        server.faults.extend([Fault(503, {"error": "temporarily_unavailable"})] * 2)
        sign_in(server, store, clock, left=-5)

        async def user() -> None:
            try:
                await source(server, store, clock, tmp_path).get()
            except CredentialError as exc:
                errors.append(exc.one_line())

        async with anyio.create_task_group() as group:
            for _ in range(10):
                group.start_soon(user)
        assert len(errors) == 10
        assert all(
            "could not be refreshed" in e and "rupu auth login --provider openai --mode sso" in e
            for e in errors
        )
        assert server.counts["refresh"] == 2  # one leader, its one retry
        credential = await source(server, store, clock, tmp_path).get()
    assert server.counts["refresh"] == 3
    assert credential.expires_at == T0 + 3600


@pytest.mark.anyio
async def test_leader_cancelled_while_waiting_for_the_lock_lets_a_waiter_take_over(
    tmp_path: Path, store: FileStore
) -> None:
    """X3: the leader is cancelled before it sent anything; a waiter refreshes instead."""
    clock = FakeClock(T0, advance_on_sleep=False)
    with OAuthServer() as server:
        sign_in(server, store, clock, left=10)
        got: list[Credential] = []
        other_process = file_lock(tmp_path / "locks" / "openai.sso.lock")
        other_process.__enter__()
        async with anyio.create_task_group() as group:
            leader_scope = anyio.CancelScope()

            async def leader() -> None:
                with leader_scope:
                    await source(server, store, clock, tmp_path).get()

            async def waiter() -> None:
                got.append(await source(server, store, clock, tmp_path).get())

            group.start_soon(leader)
            await anyio.sleep(0.05)
            group.start_soon(waiter)
            await anyio.sleep(0.05)
            leader_scope.cancel()
            await anyio.sleep(0.05)
            assert got == [] and server.counts["refresh"] == 0
            other_process.__exit__(None, None, None)
    assert len(got) == 1 and server.counts["refresh"] == 1


@pytest.mark.anyio
async def test_leader_cancelled_mid_request_still_stores_the_rotated_token(
    tmp_path: Path, store: FileStore
) -> None:
    """X3 once the request is out: the refresh completes (shielded) and is saved, so the rotated
    refresh token is never lost and never reused."""
    clock = FakeClock(T0, advance_on_sleep=False)
    with OAuthServer() as server:
        server.token_delay = 0.3
        sign_in(server, store, clock, left=10)
        got: list[Credential] = []
        async with anyio.create_task_group() as group:
            leader_scope = anyio.CancelScope()

            async def leader() -> None:
                with leader_scope:
                    await source(server, store, clock, tmp_path).get()

            async def waiter() -> None:
                got.append(await source(server, store, clock, tmp_path).get())

            group.start_soon(leader)
            await anyio.sleep(0.1)
            group.start_soon(waiter)
            await anyio.sleep(0.05)
            leader_scope.cancel()
        later = await source(server, store, clock, tmp_path).get()
    assert server.counts["refresh"] == 1 and server.invalid_grants == 0
    assert got[0].secret == later.secret
    saved = store.get("openai", "sso")
    assert saved is not None
    assert saved.secret.get_secret_value() == later.secret.reveal()


@pytest.mark.anyio
async def test_rotated_refresh_token_is_saved_and_a_missing_one_is_kept(
    tmp_path: Path, store: FileStore
) -> None:
    clock = FakeClock(T0, advance_on_sleep=False)
    with OAuthServer(rotate=True) as server:
        old = sign_in(server, store, clock, left=0)
        await source(server, store, clock, tmp_path).get()
        rotated = store.get("openai", "sso")
        assert rotated is not None and rotated.refresh_token != old.refresh_token
    other = FileStore(tmp_path / "second" / "auth.json")
    with OAuthServer(rotate=False) as server:
        old = sign_in(server, other, clock, left=0)
        await source(server, other, clock, tmp_path / "second").get()
        kept = other.get("openai", "sso")
        assert kept is not None and kept.refresh_token == old.refresh_token
        assert kept.secret != old.secret


@pytest.mark.anyio
async def test_invalid_grant_is_permanent_remembered_and_never_falls_back(
    tmp_path: Path, store: FileStore
) -> None:
    """O22 / G20: one call, a sign-in-again message, then no more calls until the credentials
    change, in this process and in the next one (the failure is stored)."""
    clock = FakeClock(T0, advance_on_sleep=False)
    with OAuthServer() as server:
        server.faults.append(
            Fault(
                400,
                {
                    "error": "invalid_grant",
                    "error_description": "revoked",
                    "access_token": "at-LEAKED",
                },
            )
        )
        sign_in(server, store, clock, left=-1)
        first = source(server, store, clock, tmp_path)
        for _ in range(3):
            with pytest.raises(CredentialError) as caught:
                await first.get()
            message = caught.value.one_line()
            assert "invalid_grant" in message and "does not fall back" in message
            assert "rupu auth login --provider openai --mode sso" in message
            assert "at-LEAKED" not in message
        saved = store.get("openai", "sso")
        assert saved is not None and saved.refresh_error == "invalid_grant"
        with pytest.raises(CredentialError):
            await source(server, store, clock, tmp_path).get()
        assert server.counts["refresh"] == 1
        # A new sign-in changes the credentials; refreshing works again.
        clock.now += 1
        sign_in(server, store, clock, left=-1)
        fresh = await source(server, store, clock, tmp_path).get()
    assert server.counts["refresh"] == 2 and fresh.expires_at == clock.now + 3600


@pytest.mark.anyio
async def test_transient_failure_keeps_a_still_valid_token_then_errors_once_expired(
    tmp_path: Path, store: FileStore
) -> None:
    """O23."""
    clock = FakeClock(T0, advance_on_sleep=False)
    with OAuthServer() as server:
        old = sign_in(server, store, clock, left=30)
        server.faults.extend([Fault(500, "upstream broke")] * 2)
        credential = await source(server, store, clock, tmp_path).get()
        assert credential.secret.reveal() == old.secret.get_secret_value()
        clock.now += 31
        server.faults.extend([Fault(502, "bad gateway")] * 2)
        with pytest.raises(CredentialError) as caught:
            await source(server, store, clock, tmp_path).get()
        assert (
            "HTTP 502" in caught.value.one_line() and "check the network" in caught.value.one_line()
        )
    assert server.counts["refresh"] == 4


@pytest.mark.anyio
async def test_force_refresh_after_a_401_refreshes_once(tmp_path: Path, store: FileStore) -> None:
    """O24: a fresh-looking token the API rejected; a second forced call right after does not
    refresh again (the provider then reports the 401)."""
    clock = FakeClock(T0, advance_on_sleep=False)
    with OAuthServer() as server:
        old = sign_in(server, store, clock, left=3000)
        one = source(server, store, clock, tmp_path)
        assert (await one.get()).secret.reveal() == old.secret.get_secret_value()
        forced = await one.get(force_refresh=True)
        again = await source(server, store, clock, tmp_path).get(force_refresh=True)
        assert server.counts["refresh"] == 1 and forced.secret == again.secret
        clock.now += 30
        await one.get(force_refresh=True)
    assert server.counts["refresh"] == 2


class OtherProcess(FileStore):
    """The same auth.json seen from a second process (its own refresh bookkeeping)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.identity = f"other-process:{path}"


@pytest.mark.anyio
async def test_second_process_finds_the_token_already_rotated_and_skips(
    tmp_path: Path, store: FileStore
) -> None:
    """X4 / O28: B re-reads under the lock, adopts A's rotated token, makes no call."""
    clock = FakeClock(T0, advance_on_sleep=False)
    with OAuthServer() as server:
        sign_in(server, store, clock, left=10)
        process_b = source(server, OtherProcess(store.path), clock, tmp_path)
        a_token = await source(server, store, clock, tmp_path).get()
        b_token = await process_b.get()
    assert server.counts["refresh"] == 1 and server.invalid_grants == 0
    assert a_token.secret == b_token.secret


@pytest.mark.anyio
async def test_no_refresh_token_or_removed_credential_asks_to_sign_in(
    tmp_path: Path, store: FileStore
) -> None:
    clock = FakeClock(T0, advance_on_sleep=False)
    with OAuthServer() as server:
        signed = sign_in(server, store, clock, left=5)
        store.put(signed.model_copy(update={"refresh_token": None}))
        with pytest.raises(CredentialError, match="no refresh token"):
            await source(server, store, clock, tmp_path).get()
    other = FileStore(tmp_path / "b" / "auth.json")
    with OAuthServer() as server:
        sign_in(server, other, clock, left=5)
        doomed = source(server, other, clock, tmp_path / "b")
        other.delete("openai", "sso")
        with pytest.raises(CredentialError, match="was removed"):
            await doomed.get()
    assert server.counts["refresh"] == 0


class ReadOnlyStore(FileStore):
    def put(self, credential: StoredCredential) -> None:
        raise StoreError(str(self.path), "cannot write (Read-only file system, errno 30)")


@pytest.mark.anyio
async def test_refreshed_but_unsaved_is_an_error_not_a_silent_success(tmp_path: Path) -> None:
    clock = FakeClock(T0, advance_on_sleep=False)
    writable = FileStore(tmp_path / "auth.json")
    with OAuthServer() as server:
        sign_in(server, writable, clock, left=5)
        readonly = ReadOnlyStore(tmp_path / "auth.json")
        with pytest.raises(CredentialError, match="refreshed but could not be saved"):
            await source(server, readonly, clock, tmp_path).get()
    assert writable.get("openai", "sso") is not None
