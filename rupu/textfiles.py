"""Reading the text files users write (agents, workflows, scripts): size-capped, UTF-8 with a byte
offset on failure, BOM and CRLF accepted."""

from __future__ import annotations

from pathlib import Path

from rupu.errors import ConfigError, Location

MAX_FILE_BYTES = 1_000_000


def read_text(path: Path, *, what: str) -> str:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"cannot read {what}: {exc.strerror}", location=Location(str(path))
        ) from None
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError(
            f"{what} is larger than {MAX_FILE_BYTES // 1_000_000} MB ({len(raw)} bytes)",
            location=Location(str(path)),
            hint="split it into smaller files",
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"not valid UTF-8 (byte {exc.start})",
            location=Location(str(path), line),
            hint="save the file as UTF-8",
        ) from None
    return text.removeprefix("\ufeff").replace("\r\n", "\n")
