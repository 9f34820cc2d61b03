"""Matrix combinations, `provider:model` entries, and how a step's kind is told from its keys."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rupu.workflows.agent_calls import matrix_target
from rupu.workflows.kinds.matrix import MatrixStep
from rupu.workflows.spec import AgentStep, GateStep, RunStep, Workflow, step_kind

names = st.from_regex(r"[a-z][a-z0-9_]{0,5}", fullmatch=True)
lists = st.lists(st.integers(0, 9), min_size=1, max_size=4)


@given(st.dictionaries(names, lists, min_size=1, max_size=4))
def test_combinations_are_the_product_in_declared_order(matrix: dict[str, list[int]]) -> None:
    step = MatrixStep(id="m", agent="a", prompt="p", matrix=matrix)
    combinations = step.combinations()
    assert len(combinations) == step.size() == math.prod(len(v) for v in matrix.values())
    assert all(list(c) == list(matrix) for c in combinations)
    first = next(iter(matrix))
    # The first list varies slowest: its values come in runs, in declared order.
    runs = [c[first] for c in combinations][:: step.size() // len(matrix[first])]
    assert runs == matrix[first]


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("openai:gpt-5", ("openai", "gpt-5")),
        ("gpt-5", (None, "gpt-5")),
        ("ollama:llama3.1:8b", ("ollama", "llama3.1:8b")),
        (" anthropic : claude-sonnet-4-5 ", ("anthropic", "claude-sonnet-4-5")),
    ],
)
def test_model_entries(entry: str, expected: tuple[str | None, str | None]) -> None:
    assert matrix_target(entry) == expected


@pytest.mark.parametrize(
    ("keys", "kind"),
    [
        ({"agent": "a", "prompt": "p"}, "agent"),
        ({"for_each": [1]}, "agent"),
        ({"parallel": []}, "agent"),
        ({"run": "make"}, "run"),
        ({"matrix": {"x": [1]}, "agent": "a"}, "matrix"),
        ({"approval": {}}, "gate"),
        ({"prompt": "p"}, "gate"),
    ],
)
def test_the_kind_key_picks_the_model(keys: dict[str, Any], kind: str) -> None:
    assert step_kind({"id": "s", **keys}) == kind


def test_a_workflow_holds_one_model_per_kind() -> None:
    workflow = Workflow.model_validate(
        {
            "name": "w",
            "budget": {"max_usd": 2.5},
            "outputs": {"summary": "{{ steps.a.output }}"},
            "steps": [
                {"id": "a", "agent": "x", "prompt": "p", "cache": True},
                {"id": "b", "run": "make test", "budget": {"max_tokens": 10}},
                {"id": "c", "approval": {}},
                {"id": "d", "agent": "x", "prompt": "p", "matrix": {"m": [1, 2]}},
            ],
        }
    )
    assert [type(s) for s in workflow.steps] == [AgentStep, RunStep, GateStep, MatrixStep]
    assert [s.shape for s in workflow.steps] == ["agent", "run", "gate", "matrix"]
    assert workflow.budget is not None and workflow.budget.max_usd == 2.5
    assert workflow.steps[0].cache is True
