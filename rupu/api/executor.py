"""Where a workflow's units run: `local` (this process, the default) or `ray` (a Ray cluster), from
`executor=` / `--executor`, else `[executor] kind` in config.toml.

`open_cluster` connects (RAY_ADDRESS honoured), starts the broker and the workers and waits for
them; `on_cluster` turns an engine into one that dispatches to them and checks, before any
provider is built, that every node sees the workspace when an agent of the plan has tools.
"""

# lazy imports: the CLI imports the session for every command; Ray loads only for this executor
from __future__ import annotations

import dataclasses
import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from rupu.api.session import Session
from rupu.errors import ConfigError
from rupu.paths import Paths

if TYPE_CHECKING:
    from rupu.distributed.fleet import Fleet
    from rupu.workflows.engine import Engine
    from rupu.workflows.plan import Plan
    from rupu.workflows.units import ToolboxOpener

ExecutorKind = Literal["local", "ray"]


def executor_kind(session: Session, chosen: str | None) -> ExecutorKind:
    """The flag or argument first, then `[executor] kind`."""
    if chosen is None:
        return session.config.config.executor.kind
    if chosen == "local":
        return "local"
    if chosen == "ray":
        return "ray"
    raise ConfigError(f"unknown executor {chosen!r}", field="executor", hint="use local or ray")


def open_cluster(session: Session, *, mode: str | None = None) -> Fleet:
    """Connects to the Ray cluster and starts this run's actors (blocks: call it in a thread)."""
    from rupu.distributed.fleet import Fleet
    from rupu.distributed.runtime import cluster_address, connect

    settings = session.config.config.executor
    ray = connect(cluster_address(settings.address, session.env))
    tools = functools.partial(worker_toolbox, session.paths, mode)
    fleet = Fleet(
        ray,
        actors_per_node=settings.actors_per_node,
        units_per_actor=settings.units_per_actor,
        tools=tools,
    )
    try:
        fleet.place(None)  # every worker started
    except BaseException:
        fleet.close()
        raise
    return fleet


def on_cluster(engine: Engine, fleet: Fleet, workspace: Path) -> Engine:
    """`engine`, dispatching agent units to `fleet`'s workers."""
    from rupu.distributed.dispatcher import ray_dispatcher

    checks = engine.check_plan

    def check(plan: Plan) -> None:
        if checks is not None:
            checks(plan)
        if needs_workspace(plan):
            fleet.check_workspace(str(workspace))

    return dataclasses.replace(engine, dispatcher=ray_dispatcher(fleet), check_plan=check)


def needs_workspace(plan: Plan) -> bool:
    """An agent of the plan has tools (they read and write the workspace on the worker's node)."""
    return any(call.agent.frontmatter.tools for call in plan.all_calls())


def worker_toolbox(paths: Paths, mode: str | None) -> ToolboxOpener:
    """The tools of agent runs on a worker: the driver's paths and permission mode, the worker's
    own environment (the project was trusted on the driver before anything was sent)."""
    session = Session(paths, dict(os.environ), trust_once=True)
    return session.toolbox_opener(mode=mode)
