"""Every ```python example in docs/python-api.md runs, offline on the mock provider, in a fresh
RUPU_HOME with the repository's shipped agents and workflows in the current directory."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT, Workspace

PAGE = REPO_ROOT / "docs" / "python-api.md"
BLOCKS = re.findall(r"```python\n(.*?)```", PAGE.read_text(), flags=re.DOTALL)


def run_python(workspace: Workspace, code: str) -> subprocess.CompletedProcess[str]:
    for shipped in ("agents", "workflows"):
        target = workspace.project / shipped
        if not target.exists():
            shutil.copytree(REPO_ROOT / shipped, target)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        cwd=workspace.project,
        timeout=60,
        check=False,
    )


def test_the_page_has_examples() -> None:
    assert len(BLOCKS) >= 6


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_each_python_example_runs(workspace: Workspace, code: str) -> None:
    done = run_python(workspace, code)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr


def test_the_one_liner_prints_the_answer(workspace: Workspace) -> None:
    match = re.search(r'\$ python -c "(.*?)"\n(.*?)\n', PAGE.read_text())
    assert match is not None
    done = run_python(workspace, match.group(1))
    assert done.returncode == 0, done.stderr
    assert done.stdout == match.group(2) + "\n"
