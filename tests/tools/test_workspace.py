"""G17: every path-escape fixture is denied (relative, absolute, symlink, unicode and case variants,
`.git/hooks`, NUL, `~`), and paths inside the workspace still work."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rupu.tools.workspace import PathDenied, Workspace
from tests.tools.helpers import open_box


@pytest.fixture
def root(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    (ws / "src").mkdir(parents=True)
    (ws / "src" / "app.py").write_text("print('hi')\n")
    (ws / ".git" / "hooks").mkdir(parents=True)
    (ws / "sub" / ".git").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_text("top secret\n")
    (ws / "link_out").symlink_to(tmp_path / "outside")
    (ws / "file_link_out").symlink_to(tmp_path / "outside" / "secret.txt")
    (ws / "hooks_link").symlink_to(ws / ".git" / "hooks")
    (ws / "inside_link").symlink_to(ws / "src")
    (ws / "home").mkdir()
    (ws / "home" / "auth.json").write_text('{"k": "v"}')
    return ws


def outside_abs(root: Path) -> str:
    return str(root.parent / "outside" / "secret.txt")


READ_ESCAPES = [
    "../outside/secret.txt",
    "src/../../outside/secret.txt",
    "/etc/passwd",
    "{outside_abs}",
    "link_out/secret.txt",
    "file_link_out",
    "~/.ssh/id_rsa",
    "~",
    "src/app.py\x00.txt",
    "．．/outside/secret.txt",  # fullwidth dots: '../' after NFKC
    "..／outside／secret.txt",  # fullwidth solidus
    "src/\u200b../../outside",  # an invisible character
    "a/" * 2100 + "x",  # longer than 4096 bytes
    "home/auth.json",  # rupu's private home inside the workspace
    "",
]
WRITE_ONLY_ESCAPES = [
    ".git/hooks/pre-commit",
    ".git/config",
    "./.git/hooks/post-checkout",
    "src/../.git/hooks/pre-push",
    ".GIT/hooks/pre-commit",  # case-folding file systems
    ".Git/config",
    "sub/.git/config",
    ".rupu/config.toml",
    ".RUPU/agents/evil.md",
    "hooks_link/pre-commit",  # a symlink into .git
    "{root}/.git/hooks/pre-commit",
    "．git/hooks/pre-commit",  # fullwidth dot
]


def expand(raw: str, root: Path) -> str:
    return raw.replace("{outside_abs}", outside_abs(root)).replace("{root}", str(root))


@pytest.mark.parametrize("raw", READ_ESCAPES)
def test_escapes_denied_for_reads_and_writes(root: Path, raw: str) -> None:
    ws = Workspace(root, private=[root / "home"])
    for write in (False, True):
        with pytest.raises(PathDenied):
            ws.resolve(expand(raw, root), write=write)


@pytest.mark.parametrize("raw", WRITE_ONLY_ESCAPES)
def test_protected_directories_denied_for_writes(root: Path, raw: str) -> None:
    ws = Workspace(root)
    with pytest.raises(PathDenied, match=r"\.git|\.rupu"):
        ws.resolve(expand(raw, root), write=True)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("src/app.py", "src/app.py"),
        ("./src/app.py", "src/app.py"),
        ("src/new/deeper.txt", "src/new/deeper.txt"),
        ("{root}/src/app.py", "src/app.py"),
        ("inside_link/app.py", "src/app.py"),
        (".", "."),
        (".github/workflows/ci.yml", ".github/workflows/ci.yml"),
        ("src/..hidden", "src/..hidden"),
    ],
)
def test_paths_inside_are_resolved(root: Path, raw: str, expected: str) -> None:
    ws = Workspace(root)
    resolved = ws.resolve(expand(raw, root), write=expected != ".")
    assert ws.relative(resolved) == expected


def test_reads_of_git_are_allowed(root: Path) -> None:
    assert Workspace(root).resolve(".git/hooks").is_dir()


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from([*"./ab~\\\x00．／", "..", "link_out", ".git", ".GIT", "inside_link"]),
        max_size=20,
    ).map("".join)
)
def test_any_path_resolves_inside_or_is_denied(raw: str) -> None:
    root = Path(os.environ["RUPU_TEST_WS"])
    ws = Workspace(root)
    try:
        real = ws.resolve(raw, write=True)
    except PathDenied:
        return
    assert real == ws.root or real.is_relative_to(ws.root)
    assert ".git" not in ws.relative(real).split("/")


@pytest.fixture(autouse=True)
def _ws_env(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUPU_TEST_WS", str(root))


@pytest.mark.anyio
@pytest.mark.parametrize("raw", [*READ_ESCAPES[:6], *WRITE_ONLY_ESCAPES[:4]])
async def test_tool_calls_with_escapes_get_error_results_and_are_recorded(
    root: Path, raw: str
) -> None:
    target = expand(raw, root)
    async with open_box(root) as box:
        results = await box.call(
            ("write_file", {"path": target, "content": "pwned"}),
            ("read_file", {"path": "src/app.py"}),
        )
        denied = box.events("path_denied")
    assert results[0].is_error and "error:" in results[0].content
    assert not results[1].is_error and "print('hi')" in results[1].content
    assert denied and denied[0]["tool"] == "write_file"
    assert not (root.parent / "outside" / "secret.txt").read_text().startswith("pwned")
    assert not (root / ".git" / "hooks" / "pre-commit").exists()
