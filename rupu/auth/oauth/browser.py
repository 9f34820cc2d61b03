"""Opening the sign-in URL in a browser, and saying so at once when that cannot work.

`BROWSER` is read the way Python's `webbrowser` documents it: a `:`-separated (`os.pathsep`) list of
commands tried in order, each a command line with arguments (`firefox --new-window`), where `%s`
stands for the URL (`%%` for a literal `%`); a command without `%s` gets the URL as its last
argument. Unlike `webbrowser`, a command with arguments works, and a command that cannot be started
or that exits with an error status is reported (`on_failure`) instead of being ignored while the
sign-in waits out its timeout.

Browsers are started detached (their own session, no terminal I/O): some commands only return when
the browser closes. Their exit status is watched from a daemon thread.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping

Report = Callable[[str], None]


def browser_commands(value: str, url: str) -> list[list[str]]:
    """The argv of each command `BROWSER` names, with the URL put in place."""
    commands: list[list[str]] = []
    for entry in value.split(os.pathsep):
        try:
            words = shlex.split(entry)
        except ValueError:
            words = entry.split()
        if not words:
            continue
        if any("%s" in word for word in words):
            argv = [_substitute(word, url) for word in words]
        else:
            argv = [*words, url]
        commands.append(argv)
    return commands


def _substitute(word: str, url: str) -> str:
    parts = word.split("%%")
    return "%".join(part.replace("%s", url) for part in parts)


def open_url(url: str, *, env: Mapping[str, str], on_failure: Report) -> bool:
    """Starts a browser on `url`. Returns False (after telling `on_failure` why) when none could be
    started; a started command that later exits with an error status is reported the same way."""
    configured = env.get("BROWSER", "").strip()
    if configured:
        return _run_configured(configured, url, on_failure)
    if not _has_display(env):
        on_failure("there is no display to open a browser on (set BROWSER, or use --no-browser)")
        return False
    threading.Thread(
        target=_desktop_default, args=(url, on_failure), name="rupu-browser", daemon=True
    ).start()
    return True


def _run_configured(value: str, url: str, on_failure: Report) -> bool:
    tried: list[str] = []
    for argv in browser_commands(value, url):
        name = argv[0]
        try:
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError as exc:
            tried.append(f"`{name}`: {exc.strerror or type(exc).__name__}")
            continue
        threading.Thread(
            target=_watch, args=(process, name, on_failure), name="rupu-browser", daemon=True
        ).start()
        return True
    named = "; ".join(tried) if tried else "it names no command"
    on_failure(f"the browser in BROWSER could not be started ({named})")
    return False


def _watch(process: subprocess.Popen[bytes], name: str, on_failure: Report) -> None:
    status = process.wait()
    if status != 0:
        on_failure(f"the browser command `{name}` exited with status {status}")


def _desktop_default(url: str, on_failure: Report) -> None:
    import webbrowser

    try:
        opened = webbrowser.open(url)
    except Exception:  # a broken desktop browser setup must not break the sign-in
        opened = False
    if not opened:
        on_failure("no browser could be started")


def _has_display(env: Mapping[str, str]) -> bool:
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))
