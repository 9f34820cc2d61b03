"""`dispatch_agent` and `dispatch_agents`: an agent with `agents: [...]` in its frontmatter hands a
task to one of those agents, or several tasks at once, and gets each one's answer back.

The tools only describe the calls and shape the answers; running a sub-agent (its own provider,
model, credential, tools and limits in the caller's workspace) is the `Dispatch` callable the run
wires in (`rupu.api.subagents`). A sub-agent that fails gives an error result, never ends the
caller's run; `dispatch_agents` reports each task's outcome in order.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import anyio
import orjson

from rupu.messages import Usage
from rupu.tools.base import BuiltinTool, ToolContext, schema
from rupu.tools.failure import ToolFailure

DISPATCH_AGENT = "dispatch_agent"
DISPATCH_AGENTS = "dispatch_agents"
MAX_TASKS = 16


@dataclass(frozen=True, slots=True)
class SubAnswer:
    """What a sub-run gives back: its final text, or its JSON when the agent has an output schema
    (`value`); `error` when it failed."""

    agent: str
    status: Literal["ok", "error", "aborted"]
    text: str
    value: Any = None
    structured: bool = False
    error: str | None = None

    def output(self) -> str:
        if self.structured:
            return orjson.dumps(self.value).decode()
        return self.text

    def as_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {"agent": self.agent, "status": self.status}
        if self.error is not None:
            found["error"] = self.error
        elif self.structured:
            found["output"] = self.value
        else:
            found["output"] = self.text
        return found


@dataclass(frozen=True, slots=True)
class SubRun:
    """One finished sub-run, as the parent's records and footer show it."""

    agent: str
    run_id: str
    status: str
    provider: str
    model: str
    usage: Usage
    cost_usd: float | None
    transcript: Path
    depth: int


@dataclass(slots=True)
class SubRunLedger:
    """What a run's sub-agents spent (their own sub-agents included). The tool box carries it; the agent
    loop adds it to the run's totals when the run ends."""

    runs: list[SubRun] = field(default_factory=list)
    # Filled by the agent loop when the caller's run starts: its run id, its spend guard
    # (`rupu.agents.budget.SpendGuard`, which sub-runs share) and the workflow step it charges.
    caller_run: str = ""
    guard: Any = None
    budget_step: str | None = None

    def add(self, run: SubRun) -> None:
        self.runs.append(run)

    def take(self) -> SubRunLedger:
        """The sub-runs so far, handed over once (a run of the same agent again starts at none)."""
        taken = SubRunLedger(self.runs, self.caller_run, self.guard, self.budget_step)
        self.runs = []
        return taken

    @property
    def usage(self) -> Usage:
        total = Usage()
        for run in self.runs:
            total = total.add(run.usage)
        return total

    @property
    def cost_usd(self) -> float | None:
        """None when any sub-run could not be priced."""
        total = 0.0
        for run in self.runs:
            if run.cost_usd is None:
                return None
            total += run.cost_usd
        return round(total, 12)


# Runs `agent` on `prompt` for the tool call of `ctx`; never raises for the sub-run's own failure.
Dispatch = Callable[[str, str, ToolContext], Awaitable[SubAnswer]]


def _agent_property(agents: Mapping[str, str]) -> dict[str, Any]:
    return {
        "type": "string",
        "enum": list(agents),
        "description": "Which agent does the task.",
    }


def _roster(agents: Mapping[str, str]) -> str:
    return "\n".join(f"- {name}: {about or '(no description)'}" for name, about in agents.items())


def dispatch_tools(agents: Mapping[str, str], dispatch: Dispatch) -> list[BuiltinTool]:
    """The two tools for the agents named in `agents` (name → description)."""

    async def one(args: dict[str, Any], ctx: ToolContext) -> str:
        answer = await dispatch(str(args["agent"]), str(args["prompt"]), ctx)
        if answer.error is not None:
            raise ToolFailure(f"agent {answer.agent} failed: {answer.error}", code="subagent")
        return answer.output()

    async def many(args: dict[str, Any], ctx: ToolContext) -> str:
        tasks: list[dict[str, Any]] = list(args["tasks"])
        answers: list[SubAnswer | None] = [None] * len(tasks)

        async def run(index: int) -> None:
            task = tasks[index]
            answers[index] = await dispatch(str(task["agent"]), str(task["prompt"]), ctx)

        async with anyio.create_task_group() as group:
            for index in range(len(tasks)):
                group.start_soon(run, index)
        return orjson.dumps([a.as_dict() for a in answers if a is not None]).decode()

    task = schema(
        {
            "agent": _agent_property(agents),
            "prompt": {
                "type": "string",
                "description": "The whole task: the agent sees nothing else.",
            },
        },
        required=["agent", "prompt"],
    )
    roster = _roster(agents)
    return [
        BuiltinTool(
            name=DISPATCH_AGENT,
            description=(
                "Hand a task to another agent and get its answer back. The agent starts fresh: "
                "put everything it needs in the prompt. Agents you can call:\n" + roster
            ),
            parameters=task,
            kind="read",
            handler=one,
            summary_key="agent",
        ),
        BuiltinTool(
            name=DISPATCH_AGENTS,
            description=(
                "Hand several independent tasks to agents at once; they run concurrently and the "
                "answers come back as a JSON list in the order of the tasks, each with its agent, "
                "status and output (or error). Agents you can call:\n" + roster
            ),
            parameters=schema(
                {"tasks": {"type": "array", "items": task, "minItems": 1, "maxItems": MAX_TASKS}},
                required=["tasks"],
            ),
            kind="read",
            handler=many,
        ),
    ]
