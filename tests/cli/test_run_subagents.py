"""Sub-agents through `rupu run`: a planner on Anthropic dispatches a reviewer on a chat-completions
provider and a translator on Gemini (three loopback servers, three wire formats), each with its own
credential; tokens and cost roll up into the planner's footer, JSON summary and transcript, and each
sub-run has its own transcript linked from the planner's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.conftest import REPO_ROOT, Workspace, run_rupu
from tests.servers.anthropic import (
    AnthropicServer,
    Text,
    ToolUse,
    Usage,
    response_stream,
)
from tests.servers.anthropic import (
    stream_reply as anthropic_reply,
)
from tests.servers.base import RecordedRequest, Reply
from tests.servers.gemini import GeminiServer
from tests.servers.gemini_streams import call_chunks, stream, text_chunks
from tests.servers.gemini_streams import usage as gemini_usage
from tests.servers.openai_chat import ChatCompletionsServer, stream_reply, text_stream, usage

ANTHROPIC_KEY = "sk-ant-api03-canary-sub1"
GEMINI_KEY = "AIzaSy-canary-sub2"
CHAT_KEY = "sk-chatco-canary-sub3"
KEYS = {
    "ANTHROPIC_API_KEY": ANTHROPIC_KEY,
    "GEMINI_API_KEY": GEMINI_KEY,
    "RUPU_CHATCO_API_KEY": CHAT_KEY,
}

PLANNER = """---
name: planner
description: Splits the work.
provider: anthropic
model: claude-test-1
tools: []
agents: [reviewer, translator]
---
You plan and delegate.
"""
REVIEWER = """---
name: reviewer
description: Reviews a change.
provider: chatco
model: chat-1
tools: []
---
You review.
"""
TRANSLATOR = """---
name: translator
description: Translates a text.
provider: gemini
model: gemini-test-1
tools: []
---
You translate.
"""
TASKS = [
    {"agent": "reviewer", "prompt": "review the retry loop"},
    {"agent": "translator", "prompt": "French: ship it"},
]
# USD per million tokens.
PRICES = """
[pricing.anthropic."claude-test-1"]
input = 3
output = 15
[pricing.chatco."chat-1"]
input = 1
output = 2
[pricing.gemini."gemini-test-1"]
input = 0.5
output = 4
"""


def events(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def of_type(found: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e["data"] for e in found if e["type"] == kind]


def _review(request: RecordedRequest) -> Reply:
    assert request.body["messages"][-1]["content"] == "review the retry loop"
    return stream_reply(text_stream(["No ", "findings."], with_usage=usage(200, 50)))


@pytest.fixture
def tree(workspace: Workspace) -> Any:
    with (
        AnthropicServer(api_key=ANTHROPIC_KEY) as anthropic,
        ChatCompletionsServer(api_key=CHAT_KEY) as chat,
        GeminiServer(api_key=GEMINI_KEY) as gemini,
    ):
        workspace.write_config(
            f'[providers.anthropic]\nbase_url = "{anthropic.base_url}"\nallow_unknown_model = true\n'
            f'[providers.gemini]\nbase_url = "{gemini.base_url}"\nallow_unknown_model = true\n'
            f'[providers.chatco]\nbase_url = "{chat.base_url}/v1"\n' + PRICES
        )
        workspace.write_agent("planner", PLANNER)
        workspace.write_agent("reviewer", REVIEWER)
        workspace.write_agent("translator", TRANSLATOR)
        anthropic.script.append(
            anthropic_reply(
                response_stream(
                    [ToolUse("toolu_1", "dispatch_agents", {"tasks": TASKS})],
                    stop_reason="tool_use",
                    usage=Usage(input_tokens=100, output_tokens=20),
                )
            )
        )
        anthropic.script.append(
            anthropic_reply(
                response_stream(
                    [Text(["Reviewed ", "and translated."])],
                    usage=Usage(input_tokens=300, output_tokens=40),
                )
            )
        )
        chat.script.append(_review)
        gemini.script.append(stream(text_chunks(["Expédiez-le."], meta=gemini_usage(80, 10))))
        yield anthropic, chat, gemini


def test_a_three_provider_tree_runs_and_rolls_up(workspace: Workspace, tree: Any) -> None:
    anthropic, chat, gemini = tree
    result = run_rupu("run", "--agent", "planner", "ship the retry fix", env=KEYS)
    assert result.code == 0, result.stderr
    assert result.stdout == "Reviewed and translated.\n"
    # By hand: planner (100 + 300) in, (20 + 40) out at $3/$15; reviewer 200/50 at $1/$2;
    # translator 80/10 at $0.5/$4 (per million tokens).
    planner_cost = (400 * 3 + 60 * 15) / 1e6
    reviewer_cost = (200 * 1 + 50 * 2) / 1e6
    translator_cost = (80 * 0.5 + 10 * 4) / 1e6
    total = planner_cost + reviewer_cost + translator_cost
    assert round(total, 6) == 0.00248
    footer = next(line for line in result.stderr.splitlines() if line.startswith("── "))
    assert "reviewer started on chatco · chat-1" in result.stderr
    assert "680 in · 120 out" in footer
    assert "$0.0025" in footer and "incl. 2 sub-agent runs" in footer
    for key in KEYS.values():
        assert key not in result.output

    # Each provider got its own credential and its own model.
    assert anthropic.requests[0].headers["x-api-key"] == ANTHROPIC_KEY
    assert chat.requests[0].headers["authorization"] == f"Bearer {CHAT_KEY}"
    assert chat.requests[0].body["model"] == "chat-1"
    assert gemini.requests[0].headers["x-goog-api-key"] == GEMINI_KEY
    assert gemini.requests[0].path.endswith("/gemini-test-1:streamGenerateContent")
    # The planner saw the dispatch tools only, and got both answers back in the order asked.
    tools = {t["name"] for t in anthropic.requests[0].body["tools"]}
    assert tools == {"dispatch_agent", "dispatch_agents"}
    agent_enum = anthropic.requests[0].body["tools"][0]["input_schema"]["properties"]["agent"]
    assert agent_enum["enum"] == ["reviewer", "translator"]
    result_block = anthropic.requests[1].body["messages"][-1]["content"][0]
    assert result_block["type"] == "tool_result"
    assert orjson.loads(result_block["content"]) == [
        {"agent": "reviewer", "status": "ok", "output": "No findings."},
        {"agent": "translator", "status": "ok", "output": "Expédiez-le."},
    ]

    transcripts = workspace.home / "transcripts"
    by_agent = {events(p)[0]["data"]["agent"]: events(p) for p in transcripts.glob("*.jsonl")}
    assert set(by_agent) == {"planner", "reviewer", "translator"}
    planner = by_agent["planner"]
    parent_id = of_type(planner, "run_start")[0]["run_id"]
    finished = {r["agent"]: r for r in of_type(planner, "subagent_run")}
    assert set(finished) == {"reviewer", "translator"}
    for name in ("reviewer", "translator"):
        child = by_agent[name]
        start = of_type(child, "run_start")[0]
        assert start["parent_run_id"] == parent_id
        assert finished[name]["run_id"] == start["run_id"]
        assert Path(finished[name]["transcript"]).read_bytes().startswith(b"{")
        assert finished[name]["status"] == "ok"
    assert finished["reviewer"]["provider"] == "chatco"
    assert finished["translator"]["provider"] == "gemini"
    assert finished["reviewer"]["cost_usd"] == pytest.approx(reviewer_cost)
    assert finished["translator"]["cost_usd"] == pytest.approx(translator_cost)
    (complete,) = of_type(planner, "run_complete")
    assert complete["usage"]["input_tokens"] == 680
    assert complete["usage"]["output_tokens"] == 120
    assert complete["cost_usd"] == pytest.approx(total)
    (rolled,) = of_type(planner, "subagents_total")
    assert rolled["runs"] == 2
    assert rolled["own_cost_usd"] == pytest.approx(planner_cost)
    assert rolled["cost_usd"] == pytest.approx(reviewer_cost + translator_cost)
    shown = run_rupu("transcript", "show", parent_id)
    assert shown.code == 0, shown.stderr
    reviewer_id = finished["reviewer"]["run_id"]
    assert (
        f"[sub-agent] reviewer on chatco · chat-1: ok; rupu transcript show {reviewer_id}"
        in shown.stdout
    )
    # `rupu usage` counts every call once: the planner's own two and one per sub-run.
    report = run_rupu("usage", "--group-by", "agent", "--format", "json")
    assert report.code == 0, report.stderr
    rows = {row["agent"]: row for row in orjson.loads(report.stdout)["rows"]}
    assert rows["planner"]["calls"] == 2
    assert rows["reviewer"]["calls"] == rows["translator"]["calls"] == 1
    assert sum(row["cost_usd"] for row in rows.values()) == pytest.approx(total)


def test_json_summary_lists_the_sub_runs(workspace: Workspace, tree: Any) -> None:
    result = run_rupu("run", "--agent", "planner", "--format", "json", "ship it", env=KEYS)
    assert result.code == 0, result.stderr
    summary = orjson.loads(result.stdout)
    assert summary["usage"]["input_tokens"] == 680
    assert summary["cost_usd"] == pytest.approx(0.00248)
    subs = {s["agent"]: s for s in summary["subagents"]}
    assert (subs["reviewer"]["provider"], subs["reviewer"]["model"]) == ("chatco", "chat-1")
    assert (subs["translator"]["provider"], subs["translator"]["model"]) == (
        "gemini",
        "gemini-test-1",
    )
    assert subs["translator"]["usage"]["output_tokens"] == 10


def test_the_shipped_planner_runs_offline_on_the_mock_provider(workspace: Workspace) -> None:
    planner = REPO_ROOT / "agents" / "planner.md"
    prompt = "Plan adding a retry to client.py"
    result = run_rupu(
        "run", "--agent", str(planner), "--provider", "mock", "--format", "json", prompt
    )
    assert result.code == 0, result.stderr
    summary = orjson.loads(result.stdout)
    assert (summary["provider"], summary["model"], summary["status"]) == ("mock", "echo", "ok")
    assert summary["text"] == prompt  # echo never calls a tool
    assert summary["subagents"] == []


def test_a_sub_agent_without_a_credential_fails_before_any_request(
    workspace: Workspace, tree: Any
) -> None:
    anthropic, chat, gemini = tree
    keys = {k: v for k, v in KEYS.items() if k != "GEMINI_API_KEY"}
    result = run_rupu("run", "--agent", "planner", "go", env=keys)
    assert result.code == 4, result.stderr
    assert "gemini" in result.stderr and "GEMINI_API_KEY" in result.stderr
    assert not anthropic.requests and not chat.requests and not gemini.requests
    anthropic.script.clear()
    chat.script.clear()
    gemini.script.clear()


def test_a_gemini_caller_dispatches_to_a_chat_completions_agent(workspace: Workspace) -> None:
    with (
        ChatCompletionsServer(api_key=CHAT_KEY) as chat,
        GeminiServer(api_key=GEMINI_KEY) as gemini,
    ):
        workspace.write_config(
            f'[providers.gemini]\nbase_url = "{gemini.base_url}"\nallow_unknown_model = true\n'
            f'[providers.chatco]\nbase_url = "{chat.base_url}/v1"\n'
        )
        workspace.write_agent("reviewer", REVIEWER)
        workspace.write_agent(
            "boss",
            "---\nname: boss\nprovider: gemini\nmodel: gemini-test-1\ntools: []\n"
            "agents: [reviewer]\n---\nYou delegate.\n",
        )
        task = {"agent": "reviewer", "prompt": "review the retry loop"}
        gemini.script.append(stream(call_chunks([("dispatch_agent", task)])))
        gemini.script.append(stream(text_chunks(["Reviewed."])))
        chat.script.append(_review)
        result = run_rupu("run", "--agent", "boss", "go", env=KEYS)
    assert result.code == 0, result.stderr
    assert result.stdout == "Reviewed.\n"
    declared = gemini.requests[0].body["tools"][0]["functionDeclarations"]
    assert {d["name"] for d in declared} == {"dispatch_agent", "dispatch_agents"}
    parts = gemini.requests[1].body["contents"][-1]["parts"]
    answer = parts[0]["functionResponse"]["response"]
    assert "No findings." in orjson.dumps(answer).decode()
