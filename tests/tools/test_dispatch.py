"""`dispatch_agent` and `dispatch_agents` shape what sub-runs give back; the ledger sums them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest

from rupu.messages import Usage
from rupu.tools.base import ToolContext
from rupu.tools.dispatch import SubAnswer, SubRun, SubRunLedger, dispatch_tools
from rupu.tools.failure import ToolFailure

AGENTS = {"reviewer": "Reviews code.", "translator": ""}


async def fake(agent: str, prompt: str, ctx: ToolContext) -> SubAnswer:
    if prompt == "fail":
        return SubAnswer(agent, "error", "", error="maxTurns reached")
    if agent == "reviewer":
        return SubAnswer(agent, "ok", '{"ok": true}', {"ok": True}, structured=True)
    await anyio.sleep(0.01)  # finishes after a later task: the answers keep the tasks' order
    return SubAnswer(agent, "ok", f"done: {prompt}")


def run(name: str, args: dict[str, Any]) -> str:
    tool = next(t for t in dispatch_tools(AGENTS, fake) if t.name == name)
    ctx: Any = ToolContext.__new__(ToolContext)
    return anyio.run(tool.run, args, ctx)


def test_the_tools_name_the_agents_and_their_descriptions() -> None:
    one, many = dispatch_tools(AGENTS, fake)
    assert one.parameters["properties"]["agent"]["enum"] == ["reviewer", "translator"]
    assert "- reviewer: Reviews code." in one.description
    assert "- translator: (no description)" in many.description
    assert many.parameters["properties"]["tasks"]["maxItems"] == 16
    assert (one.kind, many.kind) == ("read", "read")


def test_one_dispatch_gives_the_text_or_the_json() -> None:
    assert run("dispatch_agent", {"agent": "translator", "prompt": "hi"}) == "done: hi"
    assert run("dispatch_agent", {"agent": "reviewer", "prompt": "x"}) == '{"ok":true}'
    with pytest.raises(ToolFailure, match="agent translator failed: maxTurns reached"):
        run("dispatch_agent", {"agent": "translator", "prompt": "fail"})


def test_many_dispatches_answer_in_the_order_of_the_tasks() -> None:
    tasks = [
        {"agent": "translator", "prompt": "a"},
        {"agent": "reviewer", "prompt": "b"},
        {"agent": "translator", "prompt": "fail"},
    ]
    assert orjson.loads(run("dispatch_agents", {"tasks": tasks})) == [
        {"agent": "translator", "status": "ok", "output": "done: a"},
        {"agent": "reviewer", "status": "ok", "output": {"ok": True}},
        {"agent": "translator", "status": "error", "error": "maxTurns reached"},
    ]


def _sub(cost: float | None, tokens: int) -> SubRun:
    usage = Usage(input_tokens=tokens, output_tokens=1, reported=True)
    return SubRun("a", "run_1", "ok", "p", "m", usage, cost, Path("t.jsonl"), 1)


def test_the_ledger_sums_and_hands_over_once() -> None:
    ledger = SubRunLedger()
    ledger.add(_sub(0.25, 10))
    ledger.add(_sub(0.5, 20))
    assert (ledger.usage.input_tokens, ledger.usage.output_tokens) == (30, 2)
    assert ledger.cost_usd == 0.75
    taken = ledger.take()
    assert len(taken.runs) == 2 and ledger.runs == []
    ledger.add(_sub(None, 1))
    ledger.add(_sub(0.1, 1))
    assert ledger.cost_usd is None  # one sub-run could not be priced
