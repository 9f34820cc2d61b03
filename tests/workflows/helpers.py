"""In-process workflow runs for tests: a scriptable provider behind the engine's provider-builder seam,
and helpers that write agents and workflows into the test workspace."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import anyio

from rupu.config import load_config
from rupu.errors import ProviderError
from rupu.messages import (
    ModelRequest,
    ResponseFinished,
    ResponseStarted,
    StreamEvent,
    TextDelta,
    TextPart,
    Usage,
    UsageReported,
)
from rupu.paths import Paths
from rupu.routing.target import RunTarget
from rupu.workflows.engine import Engine, Execution
from rupu.workflows.lookup import load_reference
from rupu.workflows.plan import Overrides
from rupu.workflows.recordfile import read_events
from rupu.workflows.results import Observer, RunOutcome
from tests.conftest import Workspace


@dataclass
class Answer:
    text: str = "ok"
    delay: float = 0.0
    error: ProviderError | None = None


Respond = Callable[[str, ModelRequest], Answer]


@dataclass
class FakeProvider:
    """The `Provider` protocol, answering from `respond(prompt, request)`; it measures how many
    requests are in flight and which were cancelled."""

    name: str
    respond: Respond = lambda prompt, request: Answer(f"done: {prompt}")
    prompts: list[str] = field(default_factory=list)
    requests: list[ModelRequest] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    cancelled: list[str] = field(default_factory=list)
    closed: bool = False

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        last = request.messages[-1]
        prompt = "".join(p.text for p in last.parts if isinstance(p, TextPart))
        self.prompts.append(prompt)
        self.requests.append(replace(request, messages=list(request.messages)))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            answer = self.respond(prompt, request)
            if answer.delay:
                await anyio.sleep(answer.delay)
            if answer.error is not None:
                raise answer.error
            yield ResponseStarted(model=request.model, request_id=None)
            yield TextDelta(answer.text)
            yield UsageReported(Usage(input_tokens=3, output_tokens=2, reported=True))
            yield ResponseFinished("end_turn", "stop")
        except anyio.get_cancelled_exc_class():
            self.cancelled.append(prompt)
            raise
        finally:
            self.in_flight -= 1

    async def aclose(self) -> None:
        self.closed = True


def boom(message: str = "boom", *, status: int = 500) -> ProviderError:
    return ProviderError("fake", message, status=status, retryable=False)


class Recorder(Observer):
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def event(self, event: dict[str, Any]) -> None:
        event["_at"] = time.monotonic()
        self.events.append(event)

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
