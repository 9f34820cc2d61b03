"""rupu: a multi-agent workflow engine driven by Markdown agent files.

The Python API (`rupu.api`) is importable from here too (`from rupu import run_agent`); it is
imported on first use so that `rupu --help` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rupu.version import __version__

if TYPE_CHECKING:
    from rupu.api import (
        Agent,
        AgentStream,
        RunResult,
        Session,
        WorkflowResult,
        list_models,
        load_agent,
        load_workflow,
        run_agent,
        run_agent_sync,
        run_workflow,
        run_workflow_sync,
        stream_agent,
    )

__all__ = [
    "Agent",
    "AgentStream",
    "RunResult",
    "Session",
    "WorkflowResult",
    "__version__",
    "list_models",
    "load_agent",
    "load_workflow",
    "run_agent",
    "run_agent_sync",
    "run_workflow",
    "run_workflow_sync",
    "stream_agent",
]
API_NAMES = frozenset(__all__) - {"__version__"}


def __getattr__(name: str) -> Any:
    if name in API_NAMES:
        import rupu.api  # lazy: the API loads on first use, so `rupu --help` stays fast

        return getattr(rupu.api, name)
    raise AttributeError(f"module 'rupu' has no attribute '{name}'")
