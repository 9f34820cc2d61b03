"""rupu as a library: run agents and workflows from Python (see docs/python-api.md).

The coroutines (`run_agent`, `stream_agent`, `run_workflow`) run on any anyio backend; the `*_sync`
versions block for scripts and notebooks. A `Session` says where rupu runs (RUPU_HOME, the project,
the environment); without one, each call builds it from the process's environment.
"""

from rupu.api.agents import Agent, PreparedRun, RunResult, load_agent, prepare_agent
from rupu.api.models import list_models
from rupu.api.run import AgentStream, run_agent, stream_agent
from rupu.api.session import Session
from rupu.api.sync import run_agent_sync, run_workflow_sync
from rupu.api.workflows import WorkflowResult, load_workflow, run_workflow

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
