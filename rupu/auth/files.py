"""Private files: a 0700 directory, files that are 0600 from their first byte and replaced atomically,
and `flock` locks that the kernel releases when a process dies (so a SIGKILL never wedges rupu).

Every function here blocks; async code calls them through `anyio.to_thread`, except
`async_file_lock`, which polls a non-blocking lock so a cancelled waiter never leaves a thread behind.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from rupu.atomicfile import replace_file
from rupu.errors import CredentialError

LOCK_TIMEOUT = 30.0


class StoreError(CredentialError):
    """A credential store cannot be read or written. `where` names the file or the keychain."""

    def __init__(self, where: str, message: str, *, hint: str | None = None) -> None:
        super().__init__(where, message, hint=hint)
        self.where = where


def ensure_private_dir(directory: Path) -> None:
    """Creates `directory` (and parents) and makes it 0700."""
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        if stat.S_IMODE(directory.stat().st_mode) != 0o700:
            directory.chmod(0o700)
    except OSError as exc:
        raise StoreError(
            str(directory),
            f"cannot create the directory ({os.strerror(exc.errno or 0)})",
            hint="check that RUPU_HOME points to a directory you own",
        ) from None


def check_private_file(path: Path) -> bool:
    """False when `path` does not exist. Refuses symlinks, non-regular files and files that other
    users can read or write."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise _os_error(path, "cannot inspect", exc) from None
    if stat.S_ISLNK(info.st_mode):
        raise StoreError(
            str(path),
            "is a symbolic link; rupu does not follow links for credential files",
            hint=f"replace the link with a regular file: rm {path} and sign in again",
        )
    if not stat.S_ISREG(info.st_mode):
        raise StoreError(str(path), "is not a regular file", hint=f"move {path} aside")
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        who = "everyone" if mode & 0o007 else "your group"
        raise StoreError(
            str(path),
            f"is readable or writable by {who} (mode {mode:04o}); rupu refuses to use it",
            hint=f"run `chmod 600 {path}`",
        )
    return True


def read_private_file(path: Path) -> bytes | None:
    """The bytes of a private file, or None when it does not exist (see `check_private_file`)."""
    if not check_private_file(path):
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _os_error(path, "cannot read", exc) from None
    with os.fdopen(fd, "rb") as handle:
        return handle.read()


def write_private_file(path: Path, data: bytes) -> None:
    """Replaces `path` atomically and durably with a 0600 file (see `rupu.atomicfile`). A crash
    leaves the old or the new content, never a mix."""
    ensure_private_dir(path.parent)
    try:
        replace_file(path, data)
    except OSError as exc:
        raise _os_error(path, "cannot write", exc) from None


def remove_stale_temps(path: Path) -> None:
    """Deletes temp files a killed writer left next to `path`. Call only while holding its lock."""
    for leftover in path.parent.glob(f".{path.name}.*.tmp"):
        with contextlib.suppress(OSError):
            leftover.unlink()


def _open_lock(lock_path: Path) -> int:
    ensure_private_dir(lock_path.parent)
    try:
        return os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise _os_error(lock_path, "cannot open the lock file", exc) from None


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES):
            return False
        raise
    return True


def _lock_timeout_error(lock_path: Path, timeout: float) -> StoreError:
    return StoreError(
        str(lock_path),
        f"another rupu process held this lock for more than {timeout:.0f}s",
        hint="wait for the other rupu command to finish, then retry",
    )


@contextlib.contextmanager
def file_lock(lock_path: Path, *, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """An exclusive `flock` on `lock_path`, waited for up to `timeout` seconds."""
    fd = _open_lock(lock_path)
    try:
        deadline = time.monotonic() + timeout
        delay = 0.001
        while not _try_lock(fd):
            if time.monotonic() >= deadline:
                raise _lock_timeout_error(lock_path, timeout)
            time.sleep(delay)
            delay = min(delay * 2, 0.01)
        yield
    finally:
        os.close(fd)


@contextlib.asynccontextmanager
async def async_file_lock(lock_path: Path, *, wait: float = 120.0) -> AsyncIterator[None]:
    """`file_lock` for async code: polls without blocking the event loop and can be cancelled."""
    import anyio

    fd = _open_lock(lock_path)
    try:
        deadline = time.monotonic() + wait
        delay = 0.001
        while not _try_lock(fd):
            if time.monotonic() >= deadline:
                raise _lock_timeout_error(lock_path, wait)
            await anyio.sleep(delay)
            delay = min(delay * 2, 0.01)
        yield
    finally:
        os.close(fd)


def _os_error(path: Path, action: str, exc: OSError) -> StoreError:
    reason = os.strerror(exc.errno) if exc.errno else type(exc).__name__
    hint = None
    if exc.errno in (errno.EACCES, errno.EPERM):
        hint = f"check the owner and permissions of {path}"
    elif exc.errno in (errno.ENOSPC, errno.EDQUOT):
        hint = "free some disk space and retry"
    elif exc.errno == errno.EROFS:
        hint = "RUPU_HOME is on a read-only file system; point RUPU_HOME somewhere writable"
    return StoreError(str(path), f"{action} ({reason}, errno {exc.errno})", hint=hint)
