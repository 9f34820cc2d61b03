"""Search tools: `grep` (ripgrep when it is installed, a pure-Python walk otherwise) and `glob`.

Both stay inside the workspace: they never follow symlinks while walking, skip hidden directories
(`.git` included) and rupu's private directories. ripgrep also honours `.gitignore`; the Python
fallback does not.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rupu.tools.base import BuiltinTool, ToolContext, one_line, schema
from rupu.tools.failure import ToolFailure

DEFAULT_MAX_RESULTS = 200
MAX_RESULTS = 2000
MAX_GREP_LINE = 500
GREP_TIMEOUT = 30.0
MAX_DEPTH = 64
MAX_FILE_BYTES = 20_000_000


def ripgrep_path(setting: str) -> str | None:
    if setting == "off":
        return None
    if setting == "auto":
        return shutil.which("rg")
    return setting


def _walk(base: Path, private: tuple[Path, ...]) -> Iterator[Path]:
    """Regular files under `base`, sorted, without following symlinks or entering hidden dirs."""
    base_depth = len(base.parts)
    for directory, dirs, files in os.walk(base, followlinks=False):
        here = Path(directory)
        if len(here.parts) - base_depth >= MAX_DEPTH:
            dirs[:] = []
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and (here / d) not in private)
        for name in sorted(files):
            path = here / name
            if not path.is_symlink():
                yield path


# --- grep ---------------------------------------------------------------------------------------


def _python_grep(
    base: Path,
    root: Path,
    regex: re.Pattern[str],
    file_glob: re.Pattern[str] | None,
    cap: int,
    private: tuple[Path, ...],
) -> tuple[list[str], bool]:
    hits: list[str] = []
    files = [base] if base.is_file() else _walk(base, private)
    for path in files:
        if file_glob is not None and not file_glob.match(path.name):
            continue
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                continue
            raw = path.read_bytes()
        except OSError:
            continue
        if b"\x00" in raw[:8192]:
            continue
        shown = str(path.relative_to(root))
        for number, line in enumerate(raw.decode("utf-8", "replace").splitlines(), 1):
            if regex.search(line):
                hits.append(f"{shown}:{number}:{line[:MAX_GREP_LINE]}")
                if len(hits) >= cap:
                    return hits, True
    return hits, False


async def _ripgrep(
    rg: str, root: Path, target: str, args: dict[str, Any], cap: int
) -> tuple[list[str], bool]:
    import anyio

    argv = [rg, "--line-number", "--no-heading", "--with-filename", "--color", "never"]
    argv += ["--max-columns", str(MAX_GREP_LINE), "--max-columns-preview", "--no-messages"]
    if args.get("case_insensitive"):
        argv.append("--ignore-case")
    if args.get("glob"):
        argv += ["--glob", str(args["glob"])]
    argv += ["--regexp", str(args["pattern"]), "--", target]
    hits: list[str] = []
    truncated = False
    with anyio.move_on_after(GREP_TIMEOUT) as scope:
        with anyio.CancelScope(shield=True):  # a cancel mid-spawn would orphan rg
            spawned = await anyio.open_process(argv, cwd=root, stdin=subprocess.DEVNULL)
        async with spawned as process:
            assert process.stdout is not None and process.stderr is not None
            buffer = b""
            async for chunk in process.stdout:
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                hits.extend(line.decode("utf-8", "replace").removeprefix("./") for line in lines)
                if len(hits) >= cap:
                    truncated = True
                    process.kill()
                    break
            errors = b""
            if not truncated:
                with contextlib.suppress(anyio.EndOfStream, anyio.ClosedResourceError):
                    errors = await process.stderr.receive(4096)
            code = await process.wait()
    if scope.cancel_called:
        raise ToolFailure(f"grep took longer than {GREP_TIMEOUT:.0f}s", code="timeout")
    if code == 2 and not hits and not truncated:
        raise ToolFailure(f"grep failed: {one_line(errors.decode('utf-8', 'replace'))}")
    return hits[:cap], truncated


async def grep(args: dict[str, Any], ctx: ToolContext) -> str:
    import anyio

    base = ctx.workspace.resolve(args.get("path") or ".")
    root = ctx.workspace.root
    cap = min(int(args.get("max_results") or DEFAULT_MAX_RESULTS), MAX_RESULTS)
    flags = re.IGNORECASE if args.get("case_insensitive") else 0
    try:
        regex = re.compile(str(args["pattern"]), flags)
    except re.error as exc:
        raise ToolFailure(f"invalid regular expression: {exc}") from None
    rg = ripgrep_path(ctx.settings.grep.ripgrep)
    if rg is not None:
        hits, truncated = await _ripgrep(rg, root, ctx.workspace.relative(base), args, cap)
    else:
        file_glob = glob_regex(str(args["glob"])) if args.get("glob") else None
        hits, truncated = await anyio.to_thread.run_sync(
            _python_grep, base, root, regex, file_glob, cap, ctx.workspace.private
        )
    if not hits:
        return "no matches"
    tail = f"\n[stopped at {cap} matches; narrow the pattern or path]" if truncated else ""
    return "\n".join(sorted(hits)) + tail


GREP = BuiltinTool(
    name="grep",
    description=(
        "Search file contents with a regular expression. Prints 'path:line:text' for each "
        "matching line. Hidden directories are skipped."
    ),
    parameters=schema(
        {
            "pattern": {"type": "string", "description": "Regular expression."},
            "path": {"type": "string", "description": "File or directory; default '.'."},
            "glob": {"type": "string", "description": "Only files matching this, e.g. '*.py'."},
            "case_insensitive": {"type": "boolean"},
            "max_results": {"type": "integer", "minimum": 1, "maximum": MAX_RESULTS},
        },
        ["pattern"],
    ),
    kind="read",
    handler=grep,
    summary_key="pattern",
)


# --- glob ---------------------------------------------------------------------------------------


def glob_regex(pattern: str) -> re.Pattern[str]:
    """`*` and `?` stay within one path segment, `**` spans any number of them."""
    parts = pattern.split("/")
    out: list[str] = []
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if part == "**":
            out.append(".*" if last else "(?:[^/]+/)*")
            continue
        out.append(_segment(part) + ("" if last else "/"))
    return re.compile("".join(out) + r"\Z")


def _segment(part: str) -> str:
    out, i = [], 0
    while i < len(part):
        ch = part[i]
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[" and part.find("]", i + 2) != -1:
            end = part.find("]", i + 2)
            body = part[i + 1 : end].replace("\\", "\\\\")
            out.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
            i = end
        else:
            out.append(re.escape(ch))
        i += 1
    return "".join(out)


def _glob(base: Path, root: Path, pattern: str, private: tuple[Path, ...]) -> list[str]:
    regex = glob_regex(pattern)
    found: list[str] = []
    for path in _walk(base, private):
        if regex.match(path.relative_to(base).as_posix()):
            found.append(path.relative_to(root).as_posix())
    return found


async def glob(args: dict[str, Any], ctx: ToolContext) -> str:
    import anyio

    pattern = str(args["pattern"])
    if pattern.startswith("/") or ".." in pattern.split("/"):
        raise ToolFailure(
            f"{pattern}: the pattern must be relative", hint="use path to pick a directory"
        )
    base = ctx.workspace.resolve(args.get("path") or ".")
    if not base.is_dir():
        raise ToolFailure(f"{ctx.workspace.relative(base)} is not a directory")
    found = await anyio.to_thread.run_sync(
        _glob, base, ctx.workspace.root, pattern, ctx.workspace.private
    )
    if not found:
        return "no files match"
    cap = DEFAULT_MAX_RESULTS * 5
    tail = f"\n[{len(found) - cap} more not shown; narrow the pattern]" if len(found) > cap else ""
    return "\n".join(found[:cap]) + tail


GLOB = BuiltinTool(
    name="glob",
    description=(
        "Find files by name pattern ('*' within a directory, '**' across directories, e.g. "
        "'src/**/*.py'). Prints sorted paths relative to the workspace root."
    ),
    parameters=schema(
        {
            "pattern": {"type": "string", "description": "Glob pattern, relative."},
            "path": {"type": "string", "description": "Directory to search; default '.'."},
        },
        ["pattern"],
    ),
    kind="read",
    handler=glob,
    summary_key="pattern",
)
