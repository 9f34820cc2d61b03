"""Thought signatures and call ids go back unchanged on the next request, and usage adds up across
turns, through the real agent loop (a small ToolBox answers the calls)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest

from rupu.agents.loop import AgentResult, AgentRun
from rupu.agents.spec import parse_agent
from rupu.messages import AssistantTurn, Message, Part, ToolResultPart, ToolSpec
from rupu.routing.target import RunTarget
from rupu.transcripts import TranscriptWriter, read_events
from tests.providers.gemini_support import provider_for, sso_credentials
from tests.servers.gemini import GeminiServer
from tests.servers.gemini_streams import (
    call_chunks,
    chunk,
    signature,
    stream,
    text_chunks,
    thought_part,
    usage,
)

pytestmark = pytest.mark.anyio

AGENT = """---
name: reader
provider: gemini
model: gemini-3-pro-preview
effort: high
maxTokens: 4096
---
Read files when asked.
"""


@dataclass
class ReadTool:
    specs: list[ToolSpec] = field(
        default_factory=lambda: [
            ToolSpec(
                "read_file",
                "Read a file",
                {
                    "type": "object",
                    "properties": {"path": {"type": "string"}},
                    "required": ["path"],
                },
            )
        ]
    )
    seen: list[str] = field(default_factory=list)

    def audit(self) -> dict[str, Any]:
        return {"tools": [spec.name for spec in self.specs]}

    async def run_calls(self, turn: AssistantTurn, transcript: TranscriptWriter) -> Message:
        parts: list[Part] = []
        for call in turn.message.tool_calls():
            self.seen.append(call.call_id)
            parts.append(
                ToolResultPart(call.call_id, call.name, f"contents of {call.arguments['path']}")
            )
        return Message("user", parts)


async def run_agent(
    server: GeminiServer, tmp_path: Path, **provider_config: Any
) -> tuple[AgentResult, ReadTool]:
    spec = parse_agent(AGENT, tmp_path / "reader.md", "path")
    tools = ReadTool()
    provider = provider_for(server, **provider_config)
    transcript = TranscriptWriter(tmp_path / "run.jsonl")
    run = AgentRun(
        run_id="run_test",
        spec=spec,
        target=RunTarget("gemini", "gemini", "gemini-3-pro-preview"),
        provider=provider,
        transcript=transcript,
        credential="test",
        tools=tools,
    )
    try:
        result = await run.run("read a.txt and b.txt")
    finally:
        transcript.close()
        await provider.aclose()
    return result, tools


async def test_signatures_and_ids_are_replayed_and_usage_adds_up(tmp_path: Path) -> None:
    think_sig, call_sig, final_sig = signature("think"), signature("call"), signature("final")
    first_turn = [
        chunk([thought_part("I should read both.", sig=think_sig)]),
        *call_chunks(
            [("read_file", {"path": "a.txt"}), ("read_file", {"path": "b.txt"})],
            sig=call_sig,
            ids=None,
            meta=usage(100, 20, thoughts=30, cached=40),
        ),
    ]
    second_turn = text_chunks(["Both read."], final_sig=final_sig, meta=usage(180, 5, thoughts=10))
    with GeminiServer() as server:
        server.script.append(stream(first_turn))
        server.script.append(stream(second_turn))
        result, tools = await run_agent(server, tmp_path)
    assert result.status == "ok"
    assert result.text == "Both read."
    first, second = (r.body for r in server.requests)
    assert first["generationConfig"] == {
        "maxOutputTokens": 4096,
        "thinkingConfig": {"includeThoughts": True, "thinkingLevel": "HIGH"},
    }
    assert first["tools"][0]["functionDeclarations"][0]["name"] == "read_file"
    model_turn, results_turn = second["contents"][1], second["contents"][2]
    assert model_turn == {
        "role": "model",
        "parts": [
            {"text": "I should read both.", "thought": True, "thoughtSignature": think_sig},
            {
                "functionCall": {"name": "read_file", "args": {"path": "a.txt"}},
                "thoughtSignature": call_sig,
            },
            {"functionCall": {"name": "read_file", "args": {"path": "b.txt"}}},
        ],
    }
    assert results_turn == {
        "role": "user",
        "parts": [
            {
                "functionResponse": {
                    "name": "read_file",
                    "response": {"output": "contents of a.txt"},
                }
            },
            {
                "functionResponse": {
                    "name": "read_file",
                    "response": {"output": "contents of b.txt"},
                }
            },
        ],
    }
    assert len(set(tools.seen)) == 2
    usage_total = result.usage
    assert (usage_total.input_tokens, usage_total.cache_read_tokens) == (60 + 180, 40)
    assert (usage_total.output_tokens, usage_total.reasoning_tokens) == (50 + 15, 40)
    events = list(read_events(tmp_path / "run.jsonl"))
    ends = [e["data"] for e in events if e["type"] == "turn_end"]
    assert [e["stop_reason"] for e in ends] == ["tool_use", "end_turn"]
    assert [e["raw_reason"] for e in ends] == ["STOP", "STOP"]
    turn_usage = [e["data"] for e in events if e["type"] == "usage"]
    assert turn_usage[0]["served_model"] == "gemini-2.5-flash-001"
    assert turn_usage[0]["reasoning_tokens"] == 30


async def test_server_given_ids_round_trip_on_code_assist(tmp_path: Path) -> None:
    with GeminiServer() as server:
        server.script.append(
            stream(
                call_chunks([("read_file", {"path": "a.txt"})], ids=["fc-1"], sig=signature("c"))
            )
        )
        server.script.append(stream(text_chunks(["ok"])))
        await run_agent(
            server, tmp_path, credentials=sso_credentials(extras={"project": "test-project"})
        )
    inner = server.requests[1].body["request"]
    call = inner["contents"][1]["parts"][0]["functionCall"]
    response = inner["contents"][2]["parts"][0]["functionResponse"]
    assert call["id"] == response["id"] == "fc-1"
    assert (
        orjson.dumps(inner["generationConfig"]["thinkingConfig"])
        == b'{"includeThoughts":true,"thinkingLevel":"HIGH"}'
    )
