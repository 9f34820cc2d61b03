"""Workflow steps whose agent has `agents:`: the engine's tool boxes gain the dispatch tools. When
the plan is checked, before any step runs, every step agent's tree is loaded (cycles and depth
refused) and every sub-agent prepared (trust, route, credential, model), so a missing key fails the
run at once.

In a workflow the step's agent runs on the step's provider and model; its sub-agents run on their
own agent files', except that the command line's `--provider`, `--model` and `--fast` (which apply
to every step) apply to them too, so `--provider mock` dry-runs the whole workflow. They run in the
step's workspace and never in a wider permission mode than the step's agent. Their tokens and cost
count in the unit's, since the agent loop adds them to the step agent's totals.
"""

# lazy imports: the CLI imports the session for every command; what a run needs loads when it runs
from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from rupu.api.session import Session

if TYPE_CHECKING:
    from rupu.agents.loop import ToolBox
    from rupu.agents.spec import AgentSpec
    from rupu.agents.subagents import AgentTree
    from rupu.api.subagents import Subagents
    from rupu.tools.setup import ToolSetup
    from rupu.workflows.engine import Engine
    from rupu.workflows.plan import Plan
    from rupu.workflows.units import ToolboxOpener


@dataclass(slots=True)
class SubagentWiring:
    """The sub-agents of a run's step agents, prepared when its plan is checked (keyed by the agent
    file, or the name of an agent built in code)."""

    session: Session
    mode: str | None = None
    prepared: dict[Path | str, tuple[ToolSetup, Subagents]] = field(default_factory=dict)

    def prepare(self, plan: Plan) -> None:
        """Loads every step agent's tree and prepares its sub-agents; the run's `--provider`,
        `--model` and `--fast` apply to them. Blocks (credential store)."""
        from rupu.api.agents import prepare_children
        from rupu.api.subagents import ProviderSlots

        choices = plan.overrides
        slots = ProviderSlots(self.session.config)
        for call in plan.all_calls():
            key = _identity(call.agent)
            tree = agent_tree(self.session, call.agent)
            if tree is None or not tree.children or key in self.prepared:
                continue
            setup = self.session.tool_setup(call.agent, mode=self.mode)
            children = prepare_children(
                self.session,
                (call.agent.name, setup),
                tree,
                slots,
                provider=choices.provider,
                model=choices.model,
                auth=None,
                mode=self.mode,
                allow_unknown_model=False,
                fast=choices.fast,
            )
            self.prepared[key] = setup, children

    def opener(self) -> ToolboxOpener:
        """The session's tool box opener, with the dispatch tools for a step agent that has
        sub-agents."""
        plain = self.session.toolbox_opener(mode=self.mode)

        @asynccontextmanager
        async def opener(agent: AgentSpec) -> AsyncIterator[ToolBox | None]:
            from rupu.api.subagents import Dispatcher
            from rupu.tools.dispatch import SubRunLedger
            from rupu.tools.setup import open_toolbox

            found = self.prepared.get(_identity(agent))
            if found is None:
                async with plain(agent) as box:
                    yield box
                return
            setup, children = found
            ledger = SubRunLedger()
            dispatcher = Dispatcher("", agent.name, children, ledger)
            setup = dataclasses.replace(
                setup, extra=[*setup.extra, *dispatcher.tools()], subruns=ledger
            )
            patterns = agent.frontmatter.tools
            async with open_toolbox(setup, agent=agent.name, patterns=patterns) as box:
                yield box

        return opener


def _identity(spec: AgentSpec) -> Path | str:
    return spec.path.resolve() if spec.path.is_file() else spec.name


def workflow_engine(session: Session, *, mode: str | None = None) -> Engine:
    """`session.engine(mode=...)` whose step agents may dispatch to their sub-agents."""
    wiring = SubagentWiring(session, mode)
    engine = session.engine(mode=mode, toolbox=wiring.opener())
    check = engine.check_plan

    def check_plan(plan: Plan) -> None:
        for call in plan.all_calls():  # a cycle is a config error, reported before trust
            agent_tree(session, call.agent)
        if check is not None:
            check(plan)
        wiring.prepare(plan)

    engine.check_plan = check_plan
    return engine


def agent_tree(session: Session, spec: AgentSpec) -> AgentTree | None:
    """The loaded tree of an agent with `agents:` (None without); a ConfigError for a cycle."""
    from rupu.agents.subagents import load_tree

    if not spec.frontmatter.agents:
        return None
    max_depth = session.config.config.subagents.max_depth
    return load_tree(spec, session.paths, max_depth=max_depth)
