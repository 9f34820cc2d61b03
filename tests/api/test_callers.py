"""The API is what other code builds on: the benchmarks and the API itself never import the CLI."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO_ROOT


def imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_bench_and_the_api_do_not_import_the_cli() -> None:
    files = [*(REPO_ROOT / "bench").rglob("*.py"), *(REPO_ROOT / "rupu" / "api").rglob("*.py")]
    assert files
    offenders = {
        f"{path.relative_to(REPO_ROOT)}: {module}"
        for path in files
        for module in imported_modules(path)
        if module == "rupu.cli" or module.startswith("rupu.cli.")
    }
    assert offenders == set()
