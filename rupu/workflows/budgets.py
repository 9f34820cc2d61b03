"""A workflow run's budgets: the spend guard built from the workflow's and each step's `budget:`
(and `--max-usd` / `--max-tokens`), and what the run records when a limit stops it. The guard
itself is `rupu.agents.budget`, asked by the agent loop before every call."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rupu.agents.budget import LocalSpendGuard, SpendLimit
from rupu.workflows.events import BudgetExceeded
from rupu.workflows.plan import Plan

RECORDED = ("budget", "limit", "step", "spent_usd", "spent_tokens", "message")


def budget_guard(
    plan: Plan, limit: SpendLimit | None, spent: Iterable[dict[str, Any]] = ()
) -> LocalSpendGuard:
    """The run's guard: `limit` over the workflow's `budget:`, and each step's `budget:`. A resumed
    run's budget counts what its earlier attempts spent (`spent`: their `units.jsonl` records)."""
    declared = plan.loaded.workflow.budget
    own = SpendLimit(declared.max_usd, declared.max_tokens) if declared is not None else None
    run = (limit or SpendLimit()).over(own)
    name = "the run's budget" if limit is not None and not limit.empty else "the workflow's budget"
    guard = LocalSpendGuard.of(run, step_limits(plan), run_name=name)
    if guard.active:
        for record in spent:
            cost = record.get("cost_usd")
            tokens = record.get("tokens")
            guard.seed(
                str(record.get("step")),
                cost if isinstance(cost, int | float) else 0.0,
                tokens if isinstance(tokens, int) else 0,
            )
    return guard


def step_limits(plan: Plan, prefix: str = "") -> dict[str, SpendLimit]:
    """Each step's `budget:` by step path, also for the steps a loop repeats (`fix.*.review`: in
    every iteration) and those of a called workflow (`nested.build`)."""
    limits: dict[str, SpendLimit] = {}
    for step_id, planned in plan.steps.items():
        path = prefix + step_id
        budget = planned.step.budget
        if budget is not None:
            limits[path] = SpendLimit(budget.max_usd, budget.max_tokens)
        body: Plan | None = getattr(planned, "body", None)  # loop and workflow steps hold steps
        if body is not None:
            inner = f"{path}.*." if planned.kind == "loop" else f"{path}."
            limits.update(step_limits(body, inner))
    return limits


def budget_exceeded(guard: LocalSpendGuard | None) -> BudgetExceeded | None:
    """The event saying which limit stopped the run, if one did."""
    tripped = guard.tripped if guard is not None else None
    if tripped is None:
        return None
    return BudgetExceeded(
        budget=tripped.budget,
        limit=tripped.limit,
        step=tripped.step,
        spent_usd=tripped.spent_usd,
        spent_tokens=tripped.spent_tokens,
        message=tripped.message,
    )


def budget_record(event: BudgetExceeded) -> dict[str, Any]:
    """`state.json`'s `budget_reached`."""
    return {key: value for key, value in event.to_dict().items() if key in RECORDED}
