"""File tools: `read_file`, `write_file`, `edit_file`, `list_dir`. Every path goes through the
workspace's confinement; blocking file I/O runs in a worker thread."""

from __future__ import annotations

import difflib
import os
import stat
from pathlib import Path
from typing import Any

from rupu.tools.base import BuiltinTool, ToolContext, schema
from rupu.tools.failure import ToolFailure

DEFAULT_READ_LINES = 2000
MAX_LINE_CHARS = 2000
BINARY_SNIFF_BYTES = 8192
MAX_DIFF_SOURCE_BYTES = 2_000_000
MAX_DIFF_CHARS = 64_000
MAX_DIR_ENTRIES = 1000


async def _thread(func: Any, *args: Any) -> Any:
    import anyio

    return await anyio.to_thread.run_sync(func, *args)


# --- read_file ----------------------------------------------------------------------------------


def _read_lines(path: Path, offset: int, limit: int) -> tuple[list[str], bool]:
    with path.open("rb") as handle:
        head = handle.read(BINARY_SNIFF_BYTES)
        if b"\x00" in head:
            size = path.stat().st_size
            raise ToolFailure(f"{path.name} is a binary file ({size} bytes); it cannot be shown")
        handle.seek(0)
        lines: list[str] = []
        more = False
        for number, raw in enumerate(handle, 1):
            if number < offset:
                continue
            if len(lines) >= limit:
                more = True
                break
            text = raw.decode("utf-8", "replace").rstrip("\r\n")
            if len(text) > MAX_LINE_CHARS:
                text = text[:MAX_LINE_CHARS] + " …[line truncated]"
            lines.append(f"{number:6}\t{text}")
    return lines, more


async def read_file(args: dict[str, Any], ctx: ToolContext) -> str:
    path = ctx.workspace.resolve(args["path"])
    shown = ctx.workspace.relative(path)
    if path.is_dir():
        raise ToolFailure(f"{shown} is a directory", hint="use list_dir or glob to look inside it")
    if not path.exists():
        raise ToolFailure(f"{shown}: no such file", hint="use glob or list_dir to find the path")
    offset = int(args.get("offset") or 1)
    limit = int(args.get("limit") or DEFAULT_READ_LINES)
    lines, more = await _thread(_read_lines, path, offset, limit)
    if not lines:
        return f"({shown} is empty)" if offset == 1 else f"({shown} has fewer than {offset} lines)"
    text = "\n".join(lines)
    if more:
        text += f"\n[more lines follow; read on with offset={offset + len(lines)}]"
    return text


READ_FILE = BuiltinTool(
    name="read_file",
    description=(
        "Read a text file in the workspace. Lines come numbered ('     N<TAB>text'). Use offset "
        f"(1-based first line) and limit (default {DEFAULT_READ_LINES}) for long files."
    ),
    parameters=schema(
        {
            "path": {"type": "string", "description": "Path relative to the workspace root."},
            "offset": {"type": "integer", "minimum": 1, "description": "First line (1-based)."},
            "limit": {"type": "integer", "minimum": 1, "description": "How many lines."},
        },
        ["path"],
    ),
    kind="read",
    handler=read_file,
    summary_key="path",
)


# --- write_file / edit_file ---------------------------------------------------------------------


def _current_text(path: Path) -> str | None:
    """The file's text for a diff; None when it does not exist, is binary or too large."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    if info.st_size > MAX_DIFF_SOURCE_BYTES:
        return None
    raw = path.read_bytes()
    if b"\x00" in raw[:BINARY_SNIFF_BYTES]:
        return None
    return raw.decode("utf-8", "replace")


def _write(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, 0o644)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content.encode("utf-8"))


def unified_diff(old: str, new: str, shown: str) -> str:
    diff = "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile=f"a/{shown}" if old else "/dev/null",
            tofile=f"b/{shown}",
        )
    )
    if len(diff) > MAX_DIFF_CHARS:
        diff = diff[:MAX_DIFF_CHARS] + f"\n[diff truncated: {len(diff) - MAX_DIFF_CHARS} more]"
    return diff


async def write_file(args: dict[str, Any], ctx: ToolContext) -> str:
    path = ctx.workspace.resolve(args["path"], write=True)
    shown = ctx.workspace.relative(path)
    content: str = args["content"]
    if path.is_dir():
        raise ToolFailure(f"{shown} is a directory")
    existed = path.exists()
    old = await _thread(_current_text, path) if existed else ""
    await _thread(_write, path, content)
    kind = "modify" if existed else "create"
    diff = unified_diff(old, content, shown) if old is not None else "(binary or large file)"
    ctx.record("file_edit", call_id=ctx.call_id, path=shown, kind=kind, diff=diff)
    size = len(content.encode("utf-8"))
    return f"wrote {size} bytes to {shown} ({'replaced' if existed else 'created'})"


WRITE_FILE = BuiltinTool(
    name="write_file",
    description=(
        "Create a file or replace its whole content. Parent directories are created. "
        "Prefer edit_file for changing part of an existing file."
    ),
    parameters=schema(
        {
            "path": {"type": "string", "description": "Path relative to the workspace root."},
            "content": {"type": "string", "description": "The complete new content."},
        },
        ["path", "content"],
    ),
    kind="write",
    handler=write_file,
    summary_key="path",
)


def _read_text_strict(path: Path, shown: str) -> str:
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ToolFailure(
            f"{shown} is not UTF-8 text", hint="use write_file to replace it whole"
        ) from None


async def edit_file(args: dict[str, Any], ctx: ToolContext) -> str:
    path = ctx.workspace.resolve(args["path"], write=True)
    shown = ctx.workspace.relative(path)
    old_string: str = args["old_string"]
    new_string: str = args["new_string"]
    if not path.is_file():
        raise ToolFailure(f"{shown}: no such file", hint="create it with write_file")
    if not old_string:
        raise ToolFailure("old_string is empty", hint="copy the exact text to replace")
    if old_string == new_string:
        raise ToolFailure("old_string and new_string are the same; nothing would change")
    old = await _thread(_read_text_strict, path, shown)
    count = old.count(old_string)
    if count == 0:
        raise ToolFailure(
            f"old_string was not found in {shown}",
            code="no_match",
            hint="read the file again and copy the text exactly, whitespace included",
        )
    if count > 1 and not args.get("replace_all"):
        raise ToolFailure(
            f"old_string occurs {count} times in {shown}; it must match exactly once",
            code="ambiguous_match",
            hint="include more surrounding lines to make it unique, or set replace_all",
        )
    new = old.replace(old_string, new_string)
    await _thread(_write, path, new)
    ctx.record(
        "file_edit",
        call_id=ctx.call_id,
        path=shown,
        kind="modify",
        diff=unified_diff(old, new, shown),
    )
    return f"edited {shown}: replaced {count} occurrence{'s' if count > 1 else ''}"


EDIT_FILE = BuiltinTool(
    name="edit_file",
    description=(
        "Replace old_string with new_string in an existing file. old_string must match the file "
        "exactly (whitespace included) and occur exactly once, unless replace_all is true."
    ),
    parameters=schema(
        {
            "path": {"type": "string", "description": "Path relative to the workspace root."},
            "old_string": {"type": "string", "description": "The exact text to replace."},
            "new_string": {"type": "string", "description": "The replacement text."},
            "replace_all": {"type": "boolean", "description": "Replace every occurrence."},
        },
        ["path", "old_string", "new_string"],
    ),
    kind="write",
    handler=edit_file,
    summary_key="path",
)


# --- list_dir -----------------------------------------------------------------------------------


def _list(path: Path) -> list[str]:
    rows: list[str] = []
    with os.scandir(path) as entries:
        ordered = sorted(entries, key=lambda e: e.name)
    for entry in ordered[:MAX_DIR_ENTRIES]:
        info = entry.stat(follow_symlinks=False)
        if stat.S_ISLNK(info.st_mode):
            rows.append(f"{entry.name}@ -> {Path(entry.path).readlink()}")
        elif stat.S_ISDIR(info.st_mode):
            rows.append(f"{entry.name}/")
        else:
            rows.append(f"{entry.name}  ({info.st_size} bytes)")
    if len(ordered) > MAX_DIR_ENTRIES:
        rows.append(f"[{len(ordered) - MAX_DIR_ENTRIES} more entries not shown; use glob]")
    return rows


async def list_dir(args: dict[str, Any], ctx: ToolContext) -> str:
    path = ctx.workspace.resolve(args.get("path") or ".")
    shown = ctx.workspace.relative(path)
    if not path.is_dir():
        raise ToolFailure(f"{shown} is not a directory")
    rows = await _thread(_list, path)
    return "\n".join(rows) if rows else f"({shown} is empty)"


LIST_DIR = BuiltinTool(
    name="list_dir",
    description="List a directory: subdirectories end in '/', files show their size.",
    parameters=schema(
        {"path": {"type": "string", "description": "Directory relative to the root; '.' default."}}
    ),
    kind="read",
    handler=list_dir,
    summary_key="path",
)
