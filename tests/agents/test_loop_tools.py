"""The agent loop with tools: results go back to the model until a turn has no tool calls; maxTurns
ends the run as an error; a context overflow drops the oldest exchange (noted in the transcript)
or is reported clearly; "stop" at a prompt ends the run as aborted."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from rupu.agents.loop import AgentResult, AgentRun
from rupu.agents.overflow import drop_oldest_exchange, is_context_overflow
from rupu.agents.spec import parse_agent
from rupu.auth.credentials import Credential, FixedCredential, Secret
from rupu.config import PermissionMode, ProviderConfig
from rupu.messages import Message, TextPart, ToolCallPart, ToolResultPart
from rupu.providers.base import ProviderSetup
from rupu.providers.failures import provider_error
from rupu.providers.registry import build_provider
from rupu.providers.retry import RetryPolicy
from rupu.routing.target import RunTarget
from rupu.tools.setup import ToolSetup, open_toolbox
from rupu.transcripts import TranscriptWriter, read_events
from tests.servers.base import Reply
from tests.servers.openai_chat import (
    ChatCompletionsServer,
    stream_reply,
    text_stream,
    tool_call_stream,
)
from tests.tools.helpers import ScriptedDecider, loaded

pytestmark = pytest.mark.anyio


def agent(tools: list[str] | None, **front: Any) -> Any:
    header: dict[str, Any] = {"name": "worker", **front}
    if tools is not None:
        header["tools"] = tools
    text = f"---\n{yaml.safe_dump(header)}---\nYou work.\n"
    return parse_agent(text, Path("worker.md"), "path")


@asynccontextmanager
async def running(
    tmp_path: Path,
    provider_setup: ProviderSetup,
    spec: Any,
    *,
    mode: PermissionMode = "bypass",
    decider: Any = None,
) -> AsyncIterator[AgentRun]:
    root = tmp_path / "ws"
    root.mkdir(exist_ok=True)
    setup = ToolSetup(
        loaded=loaded(),
        env={"PATH": os.environ["PATH"]},
        workspace=root,
        mode=mode,
        decider=decider or ScriptedDecider(interactive=False),
        log_dir=tmp_path / "logs",
    )
    provider = build_provider(provider_setup)
    transcript = TranscriptWriter(tmp_path / "run.jsonl")
    try:
        async with open_toolbox(setup, agent=spec.name, patterns=spec.frontmatter.tools) as tools:
            yield AgentRun(
                run_id="run_test",
                spec=spec,
                target=RunTarget(provider_setup.name, provider_setup.kind, "test-model"),
                provider=provider,
                transcript=transcript,
                credential="test",
                tools=tools,
            )
    finally:
        transcript.close()
        await provider.aclose()


def mock_setup(tmp_path: Path, script: list[dict[str, Any]]) -> ProviderSetup:
    path = tmp_path / "script.yaml"
    path.write_text(yaml.safe_dump(script))
    return ProviderSetup("mock", "mock", ProviderConfig(script=str(path)), None)


def chat_setup(server: ChatCompletionsServer) -> ProviderSetup:
    credential = Credential("local", "api-key", Secret("test-key"), source="test")
    return ProviderSetup(
        "local",
        "openai-compatible",
        ProviderConfig(base_url=server.base_url),
        FixedCredential(credential),
        retry=RetryPolicy(max_retries=0),
    )


def events(tmp_path: Path, kind: str) -> list[dict[str, Any]]:
    return [e["data"] for e in read_events(tmp_path / "run.jsonl") if e["type"] == kind]


async def test_max_turns_ends_the_run_as_an_error(tmp_path: Path) -> None:
    script = [{"tool_calls": [{"name": "list_dir", "arguments": {}}]}] * 3
    spec = agent(["list_dir"], maxTurns=2)
    async with running(tmp_path, mock_setup(tmp_path, script), spec) as run:
        result: AgentResult = await run.run("loop forever")
    assert result.status == "error"
    assert result.error is not None and "maxTurns (2)" in result.error.message
    assert len(events(tmp_path, "tool_result")) == 2


async def test_agent_without_tools_key_gets_the_builtins(tmp_path: Path) -> None:
    script = [{"text": "fine"}]
    async with running(tmp_path, mock_setup(tmp_path, script), agent(None)) as run:
        assert run.tools is not None
        names = [spec.name for spec in run.tools.specs]
        await run.run("hi")
    assert names == ["read_file", "write_file", "edit_file", "list_dir", "glob", "grep", "bash"]
    audit = events(tmp_path, "tool_audit")[0]
    assert audit["mode"] == "bypass" and audit["tools"] == names


async def test_empty_tools_list_means_no_tools(tmp_path: Path) -> None:
    async with running(tmp_path, mock_setup(tmp_path, [{"text": "x"}]), agent([])) as run:
        assert run.tools is None
        result = await run.run("hi")
    assert result.status == "ok"


async def test_stop_at_the_prompt_aborts_the_run(tmp_path: Path) -> None:
    script = [{"tool_calls": [{"name": "bash", "arguments": {"command": "touch x"}}]}]
    decider = ScriptedDecider(answers=["stop"])
    spec = agent(["bash"])
    async with running(
        tmp_path, mock_setup(tmp_path, script), spec, mode="ask", decider=decider
    ) as run:
        result = await run.run("go")
    assert result.status == "aborted"
    assert events(tmp_path, "run_complete")[0]["status"] == "aborted"
    assert not (tmp_path / "ws" / "x").exists()


def overflow_reply() -> Reply:
    body = {
        "error": {
            "message": "This model's maximum context length is 8192 tokens.",
            "type": "invalid_request_error",
            "param": "messages",
            "code": "context_length_exceeded",
        }
    }
    return Reply(status=400, body=orjson.dumps(body), content_type="application/json")


async def test_context_overflow_drops_the_oldest_exchange(tmp_path: Path) -> None:
    with ChatCompletionsServer() as server:
        server.script.extend(
            [
                stream_reply(tool_call_stream([("c1", "list_dir", {})])),
                stream_reply(tool_call_stream([("c2", "list_dir", {"path": "."})])),
                overflow_reply(),
                stream_reply(text_stream(["done"])),
            ]
        )
        async with running(tmp_path, chat_setup(server), agent(["list_dir"])) as run:
            result = await run.run("look around")
    assert result.status == "ok" and result.text == "done"
    sizes = [len(r.body["messages"]) for r in server.requests]
    assert sizes == [2, 4, 6, 4]  # system+user, +call+result, +call+result, then trimmed
    retried = server.requests[3].body["messages"]
    assert retried[2]["tool_calls"][0]["id"] == "c2" and retried[3]["tool_call_id"] == "c2"
    trimmed = events(tmp_path, "context_trimmed")
    assert trimmed[0]["dropped_messages"] == 2 and "oldest tool exchange" in trimmed[0]["note"]


async def test_context_overflow_with_nothing_to_drop_is_explained(tmp_path: Path) -> None:
    with ChatCompletionsServer() as server:
        server.script.append(overflow_reply())
        async with running(tmp_path, chat_setup(server), agent(["list_dir"])) as run:
            result = await run.run("x" * 100)
    assert result.status == "error" and result.error is not None
    assert "no longer fits the model's context window" in result.error.message
    assert result.error.hint is not None and "larger context window" in result.error.hint


def test_overflow_recognition() -> None:
    """The class the raise site picks from the provider's words, status or type is what trims."""
    assert is_context_overflow(provider_error("p", "prompt is too long: 300000 tokens > 200000"))
    assert is_context_overflow(provider_error("p", "x", status=413))
    assert is_context_overflow(
        provider_error("p", "x", error_type="invalid_request_error/context_length_exceeded")
    )
    assert not is_context_overflow(provider_error("p", "rate limited", status=429))


def test_drop_keeps_the_prompt_and_the_latest_exchange() -> None:
    def exchange(n: int) -> list[Message]:
        return [
            Message("assistant", [ToolCallPart(f"c{n}", "t", {})]),
            Message("user", [ToolResultPart(f"c{n}", "t", "r")]),
        ]

    messages = [Message("user", [TextPart("task")]), *exchange(1), *exchange(2)]
    assert drop_oldest_exchange(messages) == 2
    firsts = [m.parts[0] for m in messages[1:]]
    call_ids = [p.call_id for p in firsts if isinstance(p, ToolCallPart | ToolResultPart)]
    assert call_ids == ["c2", "c2"]
    assert drop_oldest_exchange(messages) == 0
