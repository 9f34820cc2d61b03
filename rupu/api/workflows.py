"""Workflows for the Python API: `load_workflow` and `run_workflow`, on the same engine, run store
and checks as `rupu workflow run` (every step planned and every provider built before the first
request)."""

# lazy imports: the CLI imports the session for every command; what a run needs loads when it runs
from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio

from rupu.api.session import Session
from rupu.api.workflow_agents import workflow_engine
from rupu.workflows.events import Observer
from rupu.workflows.loader import LoadedWorkflow
from rupu.workflows.results import RunOutcome

WorkflowResult = RunOutcome
"""`run_id`, `status` (succeeded, partial, failed, interrupted, rejected, awaiting_approval),
`outputs` (the final steps' answers by step id), `failed`, `awaiting`, `error`, `tokens`,
`cost_usd`, `duration_ms`, and `budget` (which spend limit stopped the run, if one did)."""

WorkflowRef = str | Path | LoadedWorkflow


def load_workflow(workflow: WorkflowRef, *, session: Session | None = None) -> LoadedWorkflow:
    """A workflow by name (project `.rupu/workflows` shadows `~/.rupu/workflows`) or by path to its
    YAML file (relative to the session's directory), checked and planned as a graph."""
    from rupu.workflows.lookup import load_reference

    if isinstance(workflow, LoadedWorkflow):
        return workflow
    return load_reference(str(workflow), (session or Session.from_environment()).paths)


async def run_workflow(
    workflow: WorkflowRef,
    inputs: Mapping[str, Any] | None = None,
    *,
    provider: str | None = None,
    model: str | None = None,
    fallbacks: Sequence[str] = (),
    mode: str | None = None,
    max_usd: float | None = None,
    max_tokens: int | None = None,
    cache: bool | None = None,
    session: Session | None = None,
    observer: Observer | None = None,
    fast: bool = False,
    executor: str | None = None,
) -> WorkflowResult:
    """Runs `workflow` with `inputs` and returns its outcome; the run is recorded in the run store
    like one from the CLI (`rupu workflow show-run RUN_ID`). `provider`, `model`, `fallbacks` and
    `mode` apply to every step like the CLI flags, and so does `fast` (OpenAI's priority tier). A failed run is an outcome (`status` "failed"),
    not an exception; a workflow that cannot start (bad input, unknown agent, missing credential)
    raises a `rupu.errors.RupuError` before any request.

    `max_usd` / `max_tokens` replace the workflow's `budget:` values: a call that could cross one
    is not sent, and the run ends `failed` with `budget` saying which limit stopped it. `cache`
    True makes every step reuse equal units of earlier runs, False none (default: the steps that
    say `cache: true`). `executor` is where units run: "local" (this process) or "ray" (a Ray
    cluster, `pip install 'rupu[ray]'`); default `[executor] kind`."""
    from rupu.api.agents import spend_limit
    from rupu.api.executor import executor_kind, on_cluster, open_cluster
    from rupu.workflows.agent_calls import Overrides

    session = session or Session.from_environment()
    loaded = load_workflow(workflow, session=session)
    engine = workflow_engine(session, mode=mode)
    fleet = None
    if executor_kind(session, executor) == "ray":
        fleet = await anyio.to_thread.run_sync(functools.partial(open_cluster, session, mode=mode))
        engine = on_cluster(engine, fleet, session.paths.cwd)
    try:
        start = functools.partial(
            engine.start,
            loaded,
            dict(inputs or {}),
            Overrides(provider, model, tuple(fallbacks), fast),
            limit=spend_limit(max_usd, max_tokens),
            cache_mode="auto" if cache is None else ("on" if cache else "off"),
        )
        # Building the providers resolves credentials, which reads the credential store: it blocks.
        execution = await anyio.to_thread.run_sync(start)
        return await execution.run(observer)
    finally:
        if fleet is not None:
            fleet.close()
