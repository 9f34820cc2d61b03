"""docs/testing.md works as written: each ```python block runs, and every test function it defines
passes."""

from __future__ import annotations

import inspect
import re
from typing import Any

import anyio
import pytest

from tests.conftest import REPO_ROOT

GUIDE = (REPO_ROOT / "docs" / "testing.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```python\n(.*?)```", GUIDE, re.S)


def test_the_guide_has_examples() -> None:
    assert len(BLOCKS) >= 5


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_each_example_runs_and_its_tests_pass(index: int) -> None:
    namespace: dict[str, Any] = {"__name__": f"docs_testing_{index}"}
    exec(compile(BLOCKS[index], f"docs/testing.md python block {index + 1}", "exec"), namespace)
    tests = [value for name, value in namespace.items() if name.startswith("test_")]
    for test in tests:
        if inspect.iscoroutinefunction(test):
            anyio.run(test)
        else:
            test()
