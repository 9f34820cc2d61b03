"""In-process workflow runs for tests: a scriptable provider behind the engine's provider-builder seam,
and helpers that write agents and workflows into the test workspace."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

from rupu.config import load_config
from rupu.errors import ProviderError
from rupu.messages import ModelRequest, TextPart, Usage
from rupu.paths import Paths
from rupu.providers.failures import provider_error
from rupu.routing.target import RunTarget
from rupu.testing import FunctionProvider, Turn
from rupu.workflows.agent_calls import Overrides
from rupu.workflows.engine import Engine, Execution
from rupu.workflows.events import Observer, RunEvent
from rupu.workflows.lookup import load_reference
from rupu.workflows.recordfile import read_events
from rupu.workflows.results import RunOutcome
from tests.conftest import REPO_ROOT, Workspace


@dataclass
class Answer:
    text: str = "ok"
    delay: float = 0.0
    error: ProviderError | None = None


Respond = Callable[[str, ModelRequest], Answer]


class FakeProvider(FunctionProvider):
    """A `FunctionProvider` answering from `respond(prompt, request)`; it measures how many requests
    are in flight and which were cancelled."""

    def __init__(
        self, name: str, respond: Respond = lambda prompt, request: Answer(f"done: {prompt}")
    ) -> None:
        super().__init__(self._answer, name=name)
        self.respond = respond
        self.prompts: list[str] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.cancelled: list[str] = []

    async def _answer(self, request: ModelRequest) -> Turn:
        last = request.messages[-1]
        prompt = "".join(p.text for p in last.parts if isinstance(p, TextPart))
        self.prompts.append(prompt)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            answer = self.respond(prompt, request)
            if answer.delay:
                await anyio.sleep(answer.delay)
            if answer.error is not None:
                raise answer.error
            return Turn(answer.text, usage=Usage(input_tokens=3, output_tokens=2, reported=True))
        except anyio.get_cancelled_exc_class():
            self.cancelled.append(prompt)
            raise
        finally:
            self.in_flight -= 1


def boom(message: str = "boom", *, status: int = 500) -> ProviderError:
    return provider_error("fake", message, status=status, should_retry=False)


class Recorder(Observer):
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def event(self, event: RunEvent) -> None:
        data = event.to_dict()
        data["_at"] = time.monotonic()
        self.events.append(data)

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]


AGENT = """---
name: {name}
provider: {provider}
{extra}---

You are {name}.
"""


def write_agents(workspace: Workspace, names: dict[str, str], extra: str = "") -> None:
    """`names` maps agent name -> provider."""
    for name, provider in names.items():
        workspace.write_agent(
            name, AGENT.format(name=name, provider=provider, extra=extra), project=True
        )


def write_workflow(workspace: Workspace, text: str, name: str = "flow") -> Path:
    directory = workspace.project / ".rupu" / "workflows"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.yaml"
    path.write_text(text)
    return path


def make_engine(
    workspace: Workspace,
    providers: dict[str, FakeProvider],
    *,
    sleep: Callable[[float], Any] | None = None,
    built: list[RunTarget] | None = None,
) -> Engine:
    paths = Paths.discover(os.environ, workspace.project)

    def build(target: RunTarget) -> tuple[FakeProvider, str]:
        if built is not None:
            built.append(target)
        return providers[target.provider], f"test credential for {target.provider}"

    engine = Engine(paths, load_config(paths), build)
    if sleep is not None:
        engine.sleep = sleep
    return engine


def start(
    engine: Engine,
    reference: str = "flow",
    *,
    inputs: dict[str, Any] | None = None,
    overrides: Overrides | None = None,
) -> Execution:
    loaded = load_reference(reference, engine.paths)
    return engine.start(loaded, inputs or {}, overrides or Overrides())


async def run(execution: Execution, recorder: Recorder | None = None) -> RunOutcome:
    return await execution.run(recorder)


def events_of(engine: Engine, run_id: str) -> list[dict[str, Any]]:
    return list(read_events(engine.paths.runs / run_id / "events.jsonl"))


def run_scripts_at_once(
    script: str, argvs: list[list[str]], *, started: Callable[[], None] | None = None
) -> list[tuple[int, str]]:
    """Runs `python -c script` once per argv at the same time; returns each exit code and stderr.
    `started` runs once every process has been started. Stray processes are killed on failure."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, *argv],
            env={"PYTHONPATH": str(REPO_ROOT)},
            stderr=subprocess.PIPE,
            text=True,
        )
        for argv in argvs
    ]
    try:
        if started is not None:
            started()
        results = []
        for proc in procs:
            _, stderr = proc.communicate(timeout=60)
            results.append((proc.returncode, stderr))
        return results
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
