"""rupu as a library: run agents and workflows from Python (see docs/python-api.md).

The coroutines (`run_agent`, `stream_agent`, `run_workflow`) run on any anyio backend; the `*_sync`
versions block for scripts and notebooks. A `Session` says where rupu runs (RUPU_HOME, the project,
the environment); without one, each call builds it from the process's environment.

Each name is imported from its module on first use: the CLI's context is a `Session`, and a command
that runs nothing should not pay for importing the run machinery.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rupu.api.agents import Agent, PreparedRun, RunResult, load_agent, prepare_agent
    from rupu.api.models import list_models
    from rupu.api.run import AgentStream, run_agent, stream_agent
    from rupu.api.session import Session
    from rupu.api.sync import run_agent_sync, run_workflow_sync
    from rupu.api.workflows import WorkflowResult, load_workflow, run_workflow

MODULES = {
    "Agent": "agents",
    "PreparedRun": "agents",
    "RunResult": "agents",
    "load_agent": "agents",
    "prepare_agent": "agents",
    "list_models": "models",
    "AgentStream": "run",
    "run_agent": "run",
    "stream_agent": "run",
    "Session": "session",
    "run_agent_sync": "sync",
    "run_workflow_sync": "sync",
    "WorkflowResult": "workflows",
    "load_workflow": "workflows",
    "run_workflow": "workflows",
}

__all__ = [
    "Agent",
    "AgentStream",
    "PreparedRun",
    "RunResult",
    "Session",
    "WorkflowResult",
    "list_models",
    "load_agent",
    "load_workflow",
    "prepare_agent",
    "run_agent",
    "run_agent_sync",
    "run_workflow",
    "run_workflow_sync",
    "stream_agent",
]


def __getattr__(name: str) -> Any:
    module = MODULES.get(name)
    if module is None:
        raise AttributeError(f"module 'rupu.api' has no attribute '{name}'")
    return getattr(import_module(f"rupu.api.{module}"), name)
