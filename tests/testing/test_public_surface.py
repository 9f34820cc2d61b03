"""rupu.testing is a leaf on top: it imports rupu, nothing in rupu imports it, and what it exports
is what docs/testing.md documents."""

from __future__ import annotations

import ast
from pathlib import Path

import rupu
import rupu.testing

PACKAGE = Path(rupu.__file__).parent


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_nothing_in_rupu_imports_rupu_testing() -> None:
    importers = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if "testing" not in path.relative_to(PACKAGE).parts
        and any(
            m == "rupu.testing" or m.startswith("rupu.testing.") for m in imported_modules(path)
        )
    ]
    assert importers == []


def test_every_export_is_documented() -> None:
    guide = (PACKAGE.parent / "docs" / "testing.md").read_text(encoding="utf-8")
    missing = [name for name in rupu.testing.__all__ if f"`{name}" not in guide]
    assert missing == []
