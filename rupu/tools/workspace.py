"""Workspace confinement: every path a tool touches resolves (symlinks followed) to a real path
inside the workspace root.

Refused: NUL and other control or invisible characters, `~` expansion, paths over 4096 bytes, `..`
or absolute paths that leave the root, symlinks leading out, and spellings that only escape after
Unicode normalisation (fullwidth dots and slashes). Writes to `.git/` and `.rupu/` (compared
case-insensitively, since macOS and Windows file systems fold case) are refused in every mode, and
`private` directories (rupu's home, where credentials live) are neither readable nor writable even
when they sit inside the workspace.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Iterable
from pathlib import Path

from rupu.tools.failure import ToolFailure

MAX_PATH_BYTES = 4096
PROTECTED_DIRS = (".git", ".rupu")


class PathDenied(ToolFailure):
    """A path the tools may not use; the model gets the message as an error result."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, code="path_denied", hint=hint)


class Workspace:
    def __init__(self, root: Path, *, private: Iterable[Path] = ()) -> None:
        self.root = Path(os.path.realpath(root))
        self.private = tuple(Path(os.path.realpath(p)) for p in private)

    def resolve(self, raw: object, *, write: bool = False) -> Path:
        """The real path for `raw` (relative to the root, or absolute inside it)."""
        text = _check_text(raw)
        real = self._inside(text)
        normalized = unicodedata.normalize("NFKC", text)
        if normalized != text:
            self._inside(normalized)
        for candidate in (real, *(self._lexical(t) for t in {text, normalized})):
            for private in self.private:
                if candidate == private or candidate.is_relative_to(private):
                    raise PathDenied(
                        f"{text}: rupu's own state directory is off limits to tools",
                        hint="credentials and rupu settings are never readable by agents",
                    )
        if write:
            for candidate in (real, self._lexical(text), self._lexical(normalized)):
                part = _protected_part(self.relative(candidate))
                if part is not None:
                    raise PathDenied(
                        f"{text}: writing inside {part}/ is not allowed",
                        hint=f"{part}/ is protected in every permission mode; "
                        "make such changes yourself",
                    )
        return real

    def relative(self, path: Path) -> str:
        """`path` relative to the root, as the model should see it ('.' for the root)."""
        try:
            rel = path.relative_to(self.root)
        except ValueError:
            return str(path)
        return str(rel) if str(rel) != "." else "."

    def _inside(self, text: str) -> Path:
        path = Path(text)
        if not path.is_absolute():
            path = self.root / path
        real = Path(os.path.realpath(path))
        if real != self.root and not real.is_relative_to(self.root):
            lexical = Path(os.path.normpath(path))
            reason = (
                "a symlink leads outside the workspace"
                if lexical == self.root or lexical.is_relative_to(self.root)
                else "the path is outside the workspace"
            )
            raise PathDenied(
                f"{text}: {reason} ({self.root})",
                hint="tools may only use files inside the workspace; give a path relative to it",
            )
        return real

    def _lexical(self, text: str) -> Path:
        path = Path(text)
        return Path(os.path.normpath(path if path.is_absolute() else self.root / path))


def _check_text(raw: object) -> str:
    if not isinstance(raw, str) or not raw:
        raise PathDenied("the path must be a non-empty string")
    shown = raw.encode("unicode_escape").decode("ascii")[:200]
    if "\x00" in raw:
        raise PathDenied(f"{shown}: the path contains a NUL byte")
    if len(raw.encode("utf-8", "surrogatepass")) > MAX_PATH_BYTES:
        raise PathDenied(f"the path is longer than {MAX_PATH_BYTES} bytes")
    if raw.startswith("~"):
        raise PathDenied(
            f"{shown}: '~' is not expanded", hint="give a path relative to the workspace"
        )
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in raw):
        raise PathDenied(f"{shown}: the path contains control or invisible characters")
    return raw


def _protected_part(relative: str) -> str | None:
    for part in Path(relative).parts:
        folded = unicodedata.normalize("NFKC", part).casefold()
        for protected in PROTECTED_DIRS:
            if folded == protected:
                return protected
    return None
