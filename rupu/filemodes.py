"""Who may change the files that tell rupu what to run, and where run records may live.

Like ssh with `~/.ssh`: `config.toml`, `agents/` and `workflows/` (the directories and the files in
them) that another user could change are refused, with the `chmod` or `chown` that fixes them. A file
is refused when it is group- or world-writable, or owned by someone other than the user running rupu
(or root). Run records (`runs/`, `transcripts/`) are kept in 0700 directories of 0600 files, and a
`runs/` or `transcripts/` that is a symlink leading out of `$RUPU_HOME` is refused: the records hold
prompts and tool output.
"""

from __future__ import annotations

import os
import pwd
import shlex
import stat
from pathlib import Path

from rupu.errors import ConfigError, Location

_WRITABLE_BY_OTHERS = stat.S_IWGRP | stat.S_IWOTH


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def check_private(path: Path) -> None:
    """Refuses `path` (a file or a directory) when another user could change what it holds.
    A path that does not exist is fine (nothing to read)."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise ConfigError(
            f"cannot read: {exc.strerror or type(exc).__name__}", location=Location(str(path))
        ) from None
    me = os.geteuid()
    quoted = shlex.quote(str(path))
    if info.st_uid not in (me, 0):
        raise ConfigError(
            f"owned by {_user_name(info.st_uid)}, not by you ({_user_name(me)}); rupu does not read "
            "files another user can change",
            location=Location(str(path)),
            hint=f"run `chown {shlex.quote(_user_name(me))} {quoted}` if the file is yours",
        )
    if info.st_mode & _WRITABLE_BY_OTHERS:
        who = " and ".join(
            name
            for bit, name in ((stat.S_IWGRP, "group"), (stat.S_IWOTH, "others"))
            if info.st_mode & bit
        )
        raise ConfigError(
            f"writable by {who} (mode {stat.S_IMODE(info.st_mode):04o}); rupu does not read "
            "files another user can change",
            location=Location(str(path)),
            hint=f"run `chmod go-w {quoted}`",
        )


def private_dir(directory: Path, *, home: Path) -> Path:
    """`directory` (a records directory under `home`) created 0700, or tightened to 0700 when it is
    ours and looser. A symlink is followed only when it stays inside `home`."""
    if directory.is_symlink():
        target = directory.resolve()
        if not target.is_relative_to(home.resolve()):
            raise ConfigError(
                f"is a symlink to {target}, outside {home}; rupu keeps run records only inside "
                "its home",
                location=Location(str(directory)),
                hint=f"remove the link (`rm {shlex.quote(str(directory))}`) or point it inside {home}",
            )
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    info = directory.stat()
    if info.st_uid == os.geteuid() and stat.S_IMODE(info.st_mode) & 0o077:
        directory.chmod(0o700)
    return directory
