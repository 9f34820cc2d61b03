"""read_file, write_file, edit_file and list_dir through the tool box (schemas, events, errors)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tools.helpers import open_box

pytestmark = pytest.mark.anyio


@pytest.fixture
def root(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "notes.txt").write_text("".join(f"line {i}\n" for i in range(1, 11)))
    (ws / "blob.bin").write_bytes(b"\x00\x01\x02" * 10)
    (ws / "dup.txt").write_text("x = 1\nx = 1\n")
    (ws / "pkg").mkdir()
    return ws


async def test_read_file_numbers_lines_and_pages(root: Path) -> None:
    async with open_box(root) as box:
        whole = await box.one("read_file", {"path": "notes.txt"})
        page = await box.one("read_file", {"path": "notes.txt", "offset": 4, "limit": 2})
        past = await box.one("read_file", {"path": "notes.txt", "offset": 50})
    assert whole.content.splitlines()[0] == "     1\tline 1"
    assert len(whole.content.splitlines()) == 10
    assert page.content.splitlines() == [
        "     4\tline 4",
        "     5\tline 5",
        "[more lines follow; read on with offset=6]",
    ]
    assert "fewer than 50 lines" in past.content


@pytest.mark.parametrize(
    ("path", "message"),
    [("blob.bin", "binary file"), ("pkg", "is a directory"), ("nope.txt", "no such file")],
)
async def test_read_file_errors(root: Path, path: str, message: str) -> None:
    async with open_box(root) as box:
        result = await box.one("read_file", {"path": path})
    assert result.is_error and message in result.content


async def test_write_file_creates_and_replaces_with_diffs(root: Path) -> None:
    async with open_box(root) as box:
        created = await box.one("write_file", {"path": "pkg/new/mod.py", "content": "a = 1\n"})
        replaced = await box.one("write_file", {"path": "pkg/new/mod.py", "content": "a = 2\n"})
        edits = box.events("file_edit")
    assert created.content == "wrote 6 bytes to pkg/new/mod.py (created)"
    assert "(replaced)" in replaced.content
    assert (root / "pkg" / "new" / "mod.py").read_text() == "a = 2\n"
    assert [e["kind"] for e in edits] == ["create", "modify"]
    assert "+a = 1" in edits[0]["diff"] and "--- /dev/null" in edits[0]["diff"]
    assert "-a = 1\n+a = 2" in edits[1]["diff"]


async def test_edit_file_must_match_exactly_once(root: Path) -> None:
    async with open_box(root) as box:
        missing = await box.one(
            "edit_file", {"path": "notes.txt", "old_string": "line 99", "new_string": "x"}
        )
        twice = await box.one(
            "edit_file", {"path": "dup.txt", "old_string": "x = 1", "new_string": "x = 2"}
        )
        once = await box.one(
            "edit_file", {"path": "notes.txt", "old_string": "line 3\n", "new_string": "LINE 3\n"}
        )
        every = await box.one(
            "edit_file",
            {"path": "dup.txt", "old_string": "x = 1", "new_string": "y", "replace_all": True},
        )
        edits = box.events("file_edit")
    assert missing.is_error and "not found" in missing.content and "hint:" in missing.content
    assert twice.is_error and "occurs 2 times" in twice.content
    assert not once.is_error and "LINE 3" in (root / "notes.txt").read_text()
    assert not every.is_error and (root / "dup.txt").read_text() == "y\ny\n"
    assert edits[0]["path"] == "notes.txt"
    assert "-line 3\n+LINE 3" in edits[0]["diff"]


async def test_list_dir_marks_directories_and_links(root: Path) -> None:
    (root / "link").symlink_to(root / "pkg")
    async with open_box(root) as box:
        listing = await box.one("list_dir", {})
    lines = listing.content.splitlines()
    assert "pkg/" in lines
    assert "notes.txt  (71 bytes)" in lines
    assert any(line.startswith("link@ -> ") for line in lines)


async def test_bad_arguments_are_error_results(root: Path) -> None:
    async with open_box(root) as box:
        results = await box.call(
            ("read_file", {}),
            ("read_file", {"path": "notes.txt", "limit": "ten"}),
            ("write_file", {"path": "a", "content": "x", "mode": "0777"}),
            ("read_file", {"__invalid_json__": '{"path": "notes'}),
            ("nonexistent_tool", {}),
            ("list_dir", {"path": "."}),
        )
    assert [r.is_error for r in results] == [True, True, True, True, True, False]
    assert "'path' is a required property" in results[0].content
    assert "limit" in results[1].content
    assert "mode" in results[2].content
    assert "not a JSON object" in results[3].content
    assert "unknown tool 'nonexistent_tool'" in results[4].content
    assert "read_file" in results[4].content
