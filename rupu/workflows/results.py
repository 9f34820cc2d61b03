"""Step and run results: what is written to `steps/<id>.json`, what templates see as
`steps.<id>.*`, and the outcome of a whole run.

For a step with one unit, `output` is the agent's answer (for `output: json`, the parsed value
re-encoded as compact JSON) and `json` the parsed value. For `for_each` and `parallel` steps,
`results` lists every unit's output in declared order; `output` joins them with blank lines (or, when
every unit is json, is a JSON array) and `json` lists the parsed values. A `run` step's `output` is
its command's stdout, and `stdout`, `stderr` and `exit_code` are kept whether it succeeded or not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from rupu.workflows.events import Observer, RunFinished, add_costs
from rupu.workflows.plan import PlannedStep
from rupu.workflows.units import UnitOutcome

__all__ = ["Observer", "RunOutcome", "step_record", "view_of"]

VIEW_FIELDS = (
    "output",
    "json",
    "success",
    "skipped",
    "status",
    "results",
    "error",
    "sub_results",
    "decision",
    "stdout",
    "stderr",
    "exit_code",
    "outputs",
    "iterations",
    "converged",
    "last",
)


def step_record(
    planned: PlannedStep,
    units: Sequence[UnitOutcome | None],
    status: str,
    error: str | None,
    decision: str | None,
    items: list[Any] | None,
) -> dict[str, Any]:
    outputs = [u.output if u is not None and u.ok else "" for u in units]
    values = [u.json if u is not None and u.ok else None for u in units]
    all_json = bool(planned.calls) and all(c.output == "json" for c in planned.calls)
    if not planned.fans_out:
        output = outputs[0] if outputs else ""
        value: Any = values[0] if values else None
    else:
        output = orjson.dumps(values).decode() if all_json else "\n\n".join(outputs)
        value = values
    sub_results: dict[str, Any] = {}
    if planned.kind == "parallel":
        for call, unit, text, parsed in zip(planned.calls, units, outputs, values, strict=False):
            sub_results[call.sub or ""] = {
                "output": text,
                "json": parsed,
                "success": unit is not None and unit.ok,
                "error": unit.error if unit is not None else "not started",
            }
    record: dict[str, Any] = {
        "step": planned.id,
        "kind": planned.kind,
        "status": status,
        "success": status == "succeeded",
        "skipped": status == "skipped",
        "output": output,
        "json": value,
        "results": outputs,
        "sub_results": sub_results,
        "error": error,
        "decision": decision,
        "tokens": sum(u.tokens for u in units if u is not None),
        "cost_usd": add_costs([u.cost_usd for u in units if u is not None]),
        "units": [
            {
                "unit": i,
                "status": u.status if u is not None else "not_started",
                "error": u.error if u is not None else None,
                "reused": u.reused if u is not None else False,
                "cached": u.cached if u is not None else False,
                "tokens": u.tokens if u is not None else 0,
                "cost_usd": u.cost_usd if u is not None else None,
            }
            for i, u in enumerate(units)
        ],
    }
    if items is not None:
        record["items"] = items
    if planned.kind == "run":  # also when it failed: a later step may read why
        ran = next((u.command for u in units if u is not None and u.command), None) or {}
        record.update({key: ran.get(key) for key in ("stdout", "stderr", "exit_code")})
    return record


def view_of(record: dict[str, Any]) -> dict[str, Any]:
    return {key: record.get(key) for key in VIEW_FIELDS}


@dataclass(slots=True)
class RunOutcome:
    run_id: str
    status: str
    failed: list[str]
    awaiting: list[str]
    error: str | None
    tokens: int
    duration_ms: int
    cost_usd: float | None = None
    outputs: dict[str, str] = field(default_factory=dict)
    steps_done: int = 0
    # Set when a spend limit stopped the run: the budget, the limit, the step and the spend.
    budget: dict[str, Any] | None = None

    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "status": self.status,
            "failed": self.failed,
            "awaiting_approval": self.awaiting,
            "error": self.error,
            "tokens": self.tokens,
            "cost_usd": self.cost_usd,
            "duration_ms": self.duration_ms,
        }
        if self.budget is not None:
            state["budget_reached"] = self.budget
        return state

    def event(self) -> RunFinished:
        return RunFinished(
            status=self.status,
            failed=self.failed,
            awaiting_approval=self.awaiting,
            error=self.error,
            tokens=self.tokens,
            cost_usd=self.cost_usd,
            duration_ms=self.duration_ms,
            outputs=self.outputs,
        )
