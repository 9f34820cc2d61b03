"""The docs site: `mkdocs build --strict` passes (no broken link or anchor, every page in the nav),
and the command reference is the one the command tree generates today."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from rupu.cli.reference import render
from tests.conftest import REPO_ROOT


def test_cli_reference_is_in_sync_with_the_commands() -> None:
    page = (REPO_ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert page == render(), "docs/cli.md is out of date: run `python -m rupu.cli.reference`"


def test_mkdocs_strict_build_passes(tmp_path: Path) -> None:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "WARNING" not in proc.stderr, proc.stderr[-3000:]
    assert (tmp_path / "site" / "cli" / "index.html").is_file()
    assert "fonts.googleapis.com" not in (tmp_path / "site" / "index.html").read_text()
