"""auth.json: private from the first byte, atomic, locked, and never silently replaced."""

from __future__ import annotations

import json
import os
import resource
import signal
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import SecretStr

from rupu.auth.files import StoreError
from rupu.auth.filestore import FileStore
from rupu.auth.stored import StoredCredential

CANARY = "sk-ant-api03-CANARYfilestore000000000000"


def key(provider: str = "anthropic", secret: str = CANARY, **extra: object) -> StoredCredential:
    return StoredCredential(
        provider=provider, mode="api-key", secret=SecretStr(secret), updated_at=1.0, **extra
    )


def sso(provider: str = "openai", expires_at: float = 1_800_000_000.5) -> StoredCredential:
    return StoredCredential(
        provider=provider,
        mode="sso",
        secret=SecretStr("at-canary"),
        refresh_token=SecretStr("rt-canary"),
        expires_at=expires_at,
        extras={"chatgpt_account_id": "acct-1"},
        updated_at=2.0,
    )


def test_created_private_and_round_trips(tmp_path: Path) -> None:
    home = tmp_path / "home"
    store = FileStore(home / "auth.json")
    store.put(key())
    store.put(sso())
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE((home / "auth.json").stat().st_mode) == 0o600
    assert store.get("anthropic", "api-key") == key()
    assert store.get("openai", "sso") == sso()
    assert store.get("gemini", "sso") is None


def test_on_disk_format_is_pinned(tmp_path: Path) -> None:
    """expires_at is unix seconds (a float), never ms and never a relative expires_in."""
    store = FileStore(tmp_path / "auth.json")
    store.put(sso(expires_at=1_800_000_000.5))
    document = json.loads((tmp_path / "auth.json").read_text())
    assert document == {
        "version": 1,
        "credentials": {
            "openai/sso": {
                "provider": "openai",
                "mode": "sso",
                "secret": "at-canary",
                "refresh_token": "rt-canary",
                "expires_at": 1_800_000_000.5,
                "extras": {"chatgpt_account_id": "acct-1"},
                "updated_at": 2.0,
            }
        },
    }


def test_repr_hides_secrets() -> None:
    text = repr(sso()) + str(sso()) + repr(key())
    assert "at-canary" not in text and "rt-canary" not in text and CANARY not in text


def test_delete_and_last_entry_removes_file(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "auth.json")
    store.put(key())
    assert store.delete("anthropic", "api-key") is True
    assert store.delete("anthropic", "api-key") is False
    assert not (tmp_path / "auth.json").exists()


def test_symlink_is_refused(tmp_path: Path) -> None:
    real = tmp_path / "elsewhere.json"
    FileStore(real).put(key())
    (tmp_path / "auth.json").symlink_to(real)
    with pytest.raises(StoreError, match="symbolic link"):
        FileStore(tmp_path / "auth.json").get("anthropic", "api-key")
    with pytest.raises(StoreError, match="symbolic link"):
        FileStore(tmp_path / "auth.json").put(key("openai"))
    assert (tmp_path / "auth.json").is_symlink()


@pytest.mark.parametrize(("mode", "who"), [(0o644, "everyone"), (0o640, "your group")])
def test_readable_by_others_is_refused_with_chmod_fix(tmp_path: Path, mode: int, who: str) -> None:
    path = tmp_path / "auth.json"
    FileStore(path).put(key())
    path.chmod(mode)
    with pytest.raises(StoreError) as caught:
        FileStore(path).get("anthropic", "api-key")
    message = caught.value.one_line()
    assert who in message and f"chmod 600 {path}" in message
    assert CANARY not in message


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "is empty"),
        (
            b'{"version": 1, "credentials": {"anthropic/api-key": {"provider": "anthr',
            "not valid JSON",
        ),
        (f'"{CANARY}"'.encode(), "does not hold a JSON object"),
        (b'{"version": 7, "credentials": {}}', "newer rupu"),
        (
            json.dumps(
                {
                    "version": 1,
                    "credentials": {"a/api-key": {"provider": "a", "mode": "x", "secret": CANARY}},
                }
            ).encode(),
            "invalid entry",
        ),
        (b'{"version": 1, "credentials": {}, "extra": 1}', "invalid entry at 'extra'"),
        (b"\xff\xfe", "not UTF-8"),
    ],
)
def test_corrupt_file_is_reported_without_content_and_left_alone(
    tmp_path: Path, content: bytes, expected: str
) -> None:
    path = tmp_path / "auth.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, content)
    os.close(fd)
    store = FileStore(path)
    actions: list[Callable[[], object]] = [
        lambda: store.get("a", "api-key"),
        lambda: store.put(key("other")),
    ]
    for action in actions:
        with pytest.raises(StoreError) as caught:
            action()
        message = caught.value.one_line()
        assert expected in message
        assert CANARY not in message and "anthr" not in message
        assert "move it aside" in message or "upgrade rupu" in message
    assert path.read_bytes() == content


def test_writers_of_different_entries_all_survive(tmp_path: Path) -> None:
    """Lock + read-modify-write + rename: 8 writers, 12 entries each, nothing lost (X5)."""
    path = tmp_path / "auth.json"

    def writer(index: int) -> None:
        store = FileStore(path)  # its own file descriptors, like another process
        for n in range(12):
            store.put(key(f"p{index}-{n}", secret=f"s{index}-{n}"))

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stored = {c.provider: c.secret.get_secret_value() for c in FileStore(path).list()}
    assert stored == {f"p{i}-{n}": f"s{i}-{n}" for i in range(8) for n in range(12)}


def test_readers_never_see_a_partial_file_and_mode_is_always_0600(tmp_path: Path) -> None:
    """G5 and G6: 1 writer, 2 readers, a mode poller."""
    path = tmp_path / "auth.json"
    FileStore(path).put(key(secret="v0"))
    stop = threading.Event()
    bad_reads: list[str] = []
    bad_modes: list[int] = []
    reads = [0, 0]

    def reader(slot: int) -> None:
        store = FileStore(path)
        while not stop.is_set():
            try:
                value = store.get("anthropic", "api-key")
                assert value is not None and value.secret.get_secret_value().startswith("v")
            except (StoreError, AssertionError) as exc:
                bad_reads.append(type(exc).__name__)
            reads[slot] += 1

    def poller() -> None:
        while not stop.is_set():
            try:
                mode = stat.S_IMODE(path.stat().st_mode)
            except FileNotFoundError:
                continue
            if mode != 0o600:
                bad_modes.append(mode)

    workers = [
        threading.Thread(target=reader, args=(0,)),
        threading.Thread(target=reader, args=(1,)),
    ]
    workers.append(threading.Thread(target=poller))
    for worker in workers:
        worker.start()
    store = FileStore(path)
    deadline = time.monotonic() + 10
    writes = 0
    while sum(reads) < 2000 and time.monotonic() < deadline:
        writes += 1
        store.put(key(secret=f"v{writes}" + "x" * (writes % 50)))
    stop.set()
    for worker in workers:
        worker.join()
    assert sum(reads) >= 2000
    assert bad_reads == [] and bad_modes == []


def test_stale_temp_files_are_cleaned_up(tmp_path: Path) -> None:
    path = tmp_path / "auth.json"
    leftover = tmp_path / ".auth.json.deadbeef0000.tmp"
    leftover.write_text("half a credential")
    FileStore(path).put(key())
    assert not leftover.exists()


def test_failed_write_keeps_the_original_and_leaves_no_temp_file(tmp_path: Path) -> None:
    """C16: a write that hits a file-size limit (EFBIG, like ENOSPC) reports the error; the old
    content is intact. Run in a child process so the limit does not touch pytest."""
    path = tmp_path / "auth.json"
    FileStore(path).put(key(secret="original"))
    before = path.read_bytes()
    pid = os.fork()
    if pid == 0:  # child
        code = 1
        try:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (len(before) + 10, len(before) + 10))
            try:
                FileStore(path).put(key("big", secret="x" * 10_000))
            except StoreError as exc:
                code = (
                    0
                    if "cannot write" in exc.one_line() or "cannot create" in exc.one_line()
                    else 3
                )
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert path.read_bytes() == before
    assert list(tmp_path.glob(".auth.json.*.tmp")) == []
