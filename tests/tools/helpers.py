"""Shared pieces for tool tests: a tool box opened on a temp workspace, a scripted permission
decider (the `Decider` seam), and a turn holding tool calls."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rupu.config import Config, LoadedConfig, PermissionMode
from rupu.messages import AssistantTurn, Message, ToolCallPart, ToolResultPart, Usage
from rupu.tools.permissions import Decision, PermissionRequest
from rupu.tools.setup import ToolSetup, open_toolbox
from rupu.tools.toolbox import AgentToolBox
from rupu.transcripts import TranscriptWriter, read_events


@dataclass
class ScriptedDecider:
    """Answers permission prompts from a list, and remembers what it was asked."""

    answers: list[Decision] = field(default_factory=list)
    asked: list[PermissionRequest] = field(default_factory=list)
    interactive: bool = True

    async def decide(self, request: PermissionRequest) -> Decision:
        self.asked.append(request)
        return self.answers.pop(0) if self.answers else "deny"


def loaded(data: Mapping[str, Any] | None = None) -> LoadedConfig:
    return LoadedConfig(Config.model_validate(dict(data or {})))


def turn(*calls: tuple[str, dict[str, Any]]) -> AssistantTurn:
    parts = [ToolCallPart(f"call_{i}", name, args) for i, (name, args) in enumerate(calls)]
    return AssistantTurn(Message("assistant", list(parts)), "tool_use", Usage())


@dataclass
class Box:
    toolbox: AgentToolBox
    transcript: TranscriptWriter

    async def call(self, *calls: tuple[str, dict[str, Any]]) -> list[ToolResultPart]:
        message = await self.toolbox.run_calls(turn(*calls), self.transcript)
        return [p for p in message.parts if isinstance(p, ToolResultPart)]

    async def one(self, name: str, args: dict[str, Any]) -> ToolResultPart:
        return (await self.call((name, args)))[0]

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        found = list(read_events(self.transcript.path))
        return [e["data"] for e in found if kind is None or e["type"] == kind]


@asynccontextmanager
async def open_box(
    root: Path,
    *,
    mode: PermissionMode = "bypass",
    tools: Sequence[str] | None = None,
    config: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    decider: Any = None,
    private: Sequence[Path] = (),
) -> AsyncIterator[Box]:
    setup = ToolSetup(
        loaded=loaded(config),
        env=dict(env or {"PATH": "/usr/bin:/bin"}),
        workspace=root,
        mode=mode,
        decider=decider or ScriptedDecider(interactive=False),
        private=private,
        log_dir=root.parent / "logs",
    )
    transcript = TranscriptWriter(root.parent / "transcript.jsonl")
    try:
        async with open_toolbox(setup, agent="test", patterns=tools) as toolbox:
            assert toolbox is not None
            yield Box(toolbox, transcript)
    finally:
        transcript.close()
