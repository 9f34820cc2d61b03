"""Blocking versions of the API's coroutines, for scripts and notebooks without an event loop.
Besides `rupu.cli`, the only place that starts one (`anyio.run`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio

from rupu.api.agents import AgentRef, RunResult
from rupu.api.run import run_agent
from rupu.api.session import Session
from rupu.api.workflows import WorkflowRef, WorkflowResult, run_workflow


def run_agent_sync(
    agent: AgentRef,
    prompt: str,
    *,
    provider: str | None = None,
    model: str | None = None,
    auth: str | None = None,
    tools: Sequence[str] | None = None,
    mode: str | None = None,
    fallbacks: Sequence[str] = (),
    workspace: Path | str | None = None,
    allow_unknown_model: bool = False,
    max_usd: float | None = None,
    max_tokens: int | None = None,
    session: Session | None = None,
    fast: bool = False,
    continue_session: str | bool = False,
) -> RunResult:
    """`run_agent`, blocking until the run ends."""

    async def main() -> RunResult:
        return await run_agent(
            agent,
            prompt,
            provider=provider,
            model=model,
            auth=auth,
            tools=tools,
            mode=mode,
            fallbacks=fallbacks,
            workspace=workspace,
            allow_unknown_model=allow_unknown_model,
            max_usd=max_usd,
            max_tokens=max_tokens,
            session=session,
            fast=fast,
            continue_session=continue_session,
        )

    return anyio.run(main)


def run_workflow_sync(
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
    fast: bool = False,
    executor: str | None = None,
) -> WorkflowResult:
    """`run_workflow`, blocking until the run ends."""

    async def main() -> WorkflowResult:
        return await run_workflow(
            workflow,
            inputs,
            provider=provider,
            model=model,
            fallbacks=fallbacks,
            mode=mode,
            max_usd=max_usd,
            max_tokens=max_tokens,
            cache=cache,
            session=session,
            fast=fast,
            executor=executor,
        )

    return anyio.run(main)
