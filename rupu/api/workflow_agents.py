"""Workflow steps whose agent has `agents:`: the engine's tool boxes gain the dispatch tools, and
every tree is loaded (cycles and depth refused) when the plan is checked, before any step runs.

In a workflow the step's agent runs on the step's provider and model; its sub-agents run on their
own agent files' (a step's or the command line's `--provider`/`--model` does not reach them), in the
step's workspace and never in a wider permission mode than the step's agent. Their tokens and cost
count in the unit's, since the agent loop adds them to the step agent's totals.
"""

# lazy imports: the CLI imports the session for every command; what a run needs loads when it runs
from __future__ import annotations

import dataclasses
import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from rupu.api.session import Session

if TYPE_CHECKING:
    from rupu.agents.loop import ToolBox
    from rupu.agents.spec import AgentSpec
    from rupu.agents.subagents import AgentTree
    from rupu.workflows.engine import Engine
    from rupu.workflows.plan import Plan
    from rupu.workflows.units import ToolboxOpener


def workflow_engine(session: Session, *, mode: str | None = None) -> Engine:
    """`session.engine(mode=...)` whose step agents may dispatch to their sub-agents."""
    engine = session.engine(mode=mode, toolbox=subagent_toolbox(session, mode=mode))
    check = engine.check_plan

    def check_trees(plan: Plan) -> None:
        for step in plan.steps.values():
            for call in step.calls:
                agent_tree(session, call.agent)
        if check is not None:
            check(plan)

    engine.check_plan = check_trees
    return engine


def agent_tree(session: Session, spec: AgentSpec) -> AgentTree | None:
    """The loaded tree of an agent with `agents:` (None without); a ConfigError for a cycle."""
    from rupu.agents.subagents import load_tree

    if not spec.frontmatter.agents:
        return None
    max_depth = session.config.config.subagents.max_depth
    return load_tree(spec, session.paths, max_depth=max_depth)


def subagent_toolbox(session: Session, *, mode: str | None = None) -> ToolboxOpener:
    """The session's tool box opener, with the dispatch tools for an agent that has `agents:`."""
    plain = session.toolbox_opener(mode=mode)

    @asynccontextmanager
    async def opener(agent: AgentSpec) -> AsyncIterator[ToolBox | None]:
        import anyio

        from rupu.api.agents import prepare_children
        from rupu.api.subagents import Dispatcher, ProviderSlots
        from rupu.tools.dispatch import SubRunLedger
        from rupu.tools.setup import open_toolbox

        tree = agent_tree(session, agent)
        if tree is None or not tree.children:
            async with plain(agent) as box:
                yield box
            return
        setup = session.tool_setup(agent, mode=mode)
        prepare = functools.partial(
            prepare_children,
            session,
            (agent.name, setup),
            tree,
            ProviderSlots(session.config),
            provider=None,
            model=None,
            auth=None,
            mode=mode,
            allow_unknown_model=False,
            fast=False,
        )
        children = await anyio.to_thread.run_sync(prepare)  # reads the credential store
        ledger = SubRunLedger()
        dispatcher = Dispatcher("", agent.name, children, ledger)
        setup = dataclasses.replace(
            setup, extra=[*setup.extra, *dispatcher.tools()], subruns=ledger
        )
        async with open_toolbox(setup, agent=agent.name, patterns=agent.frontmatter.tools) as box:
            yield box

    return opener
