"""What sub-agents may not do: call themselves (a cycle is refused when the agent loads, before any
request), nest deeper than `[subagents] max_depth`, or get wider permissions than their caller (a
readonly parent's child is denied bash, whatever its own permissionMode says)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.conftest import Workspace, run_rupu
from tests.servers.anthropic import AnthropicServer, Text, ToolUse, response_stream
from tests.servers.anthropic import stream_reply as anthropic_reply
from tests.servers.base import RecordedRequest, Reply
from tests.servers.openai_chat import (
    ChatCompletionsServer,
    stream_reply,
    text_stream,
    tool_call_stream,
    usage,
)

KEY = "sk-local-canary-rules"


def agent(name: str, *, agents: str = "", extra: str = "") -> str:
    listed = f"agents: {agents}\n" if agents else ""
    return f"---\nname: {name}\nprovider: local\nmodel: m1\n{listed}{extra}---\nYou are {name}.\n"


def events(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def test_a_cycle_is_refused_when_the_agent_loads(workspace: Workspace) -> None:
    workspace.write_config('[providers.local]\nbase_url = "http://127.0.0.1:9/v1"\n')
    workspace.write_agent("a", agent("a", agents="[b]"))
    workspace.write_agent("b", agent("b", agents="[c]"))
    workspace.write_agent("c", agent("c", agents="[a]"))
    result = run_rupu("run", "--agent", "a", "go", env={"RUPU_LOCAL_API_KEY": KEY})
    assert result.code == 2, result.stderr
    assert "agent 'c' lists 'a', which makes a cycle: a → b → c → a" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (workspace.home / "transcripts").exists()


def test_an_agent_listing_itself_is_a_cycle(workspace: Workspace) -> None:
    workspace.write_config('[providers.local]\nbase_url = "http://127.0.0.1:9/v1"\n')
    workspace.write_agent("solo", agent("solo", agents="[solo]"))
    result = run_rupu("run", "--agent", "solo", "go", env={"RUPU_LOCAL_API_KEY": KEY})
    assert result.code == 2
    assert "makes a cycle: solo → solo" in result.stderr


def test_a_tree_deeper_than_max_depth_is_refused(workspace: Workspace) -> None:
    workspace.write_config(
        '[subagents]\nmax_depth = 1\n[providers.local]\nbase_url = "http://127.0.0.1:9/v1"\n'
    )
    workspace.write_agent("a", agent("a", agents="[b]"))
    workspace.write_agent("b", agent("b", agents="[c]"))
    workspace.write_agent("c", agent("c"))
    result = run_rupu("run", "--agent", "a", "go", env={"RUPU_LOCAL_API_KEY": KEY})
    assert result.code == 2
    assert "sub-agents nest deeper than 1 levels: a → b → c" in result.stderr
    assert "raise [subagents] max_depth" in result.stderr


def test_an_unknown_sub_agent_is_named(workspace: Workspace) -> None:
    workspace.write_config('[providers.local]\nbase_url = "http://127.0.0.1:9/v1"\n')
    workspace.write_agent("a", agent("a", agents="[reviewr]"))
    workspace.write_agent("reviewer", agent("reviewer"))
    result = run_rupu("run", "--agent", "a", "go", env={"RUPU_LOCAL_API_KEY": KEY})
    assert result.code == 2
    assert "agent 'a' lists 'reviewr' in agents: no agent named 'reviewr'" in result.stderr
    assert "did you mean 'reviewer'" in result.stderr


def _lead_and_worker(request: RecordedRequest) -> Reply:
    """The lead dispatches the worker; the worker tries bash, then reports."""
    messages = request.body["messages"]
    system = messages[0]["content"]
    answered = sum(1 for m in messages if m["role"] == "assistant")
    if system == "You are lead.":
        if answered == 0:
            call = ("call_1", "dispatch_agent", {"agent": "worker", "prompt": "make the file"})
            return stream_reply(tool_call_stream([call]))
        return stream_reply(text_stream(["worker reported"], with_usage=usage(5, 2)))
    if answered == 0:
        command = {"command": "echo made > made.txt"}
        return stream_reply(tool_call_stream([("call_w", "bash", command)]))
    return stream_reply(text_stream(["bash was denied"], with_usage=usage(5, 2)))


def test_a_readonly_parents_child_is_denied_bash(workspace: Workspace) -> None:
    with ChatCompletionsServer(api_key=KEY) as server:
        server.default_reply = _lead_and_worker
        workspace.write_config(f'[providers.local]\nbase_url = "{server.base_url}/v1"\n')
        workspace.write_agent(
            "lead", agent("lead", agents="[worker]", extra="tools: []\npermissionMode: readonly\n")
        )
        workspace.write_agent(
            "worker", agent("worker", extra="tools: [bash]\npermissionMode: bypass\n")
        )
        result = run_rupu("run", "--agent", "lead", "go", env={"RUPU_LOCAL_API_KEY": KEY})
    assert result.code == 0, result.stderr
    assert result.stdout == "worker reported\n"
    assert not (workspace.project / "made.txt").exists()
    transcripts = {
        events(p)[0]["data"]["agent"]: events(p)
        for p in (workspace.home / "transcripts").glob("*.jsonl")
    }
    worker = transcripts["worker"]
    (audit,) = [e["data"] for e in worker if e["type"] == "tool_audit"]
    assert audit["mode"] == "readonly"
    assert audit["mode_source"] == "caller agent 'lead'"
    assert audit["tools"] == ["bash"]
    (permission,) = [e["data"] for e in worker if e["type"] == "permission"]
    assert permission["tool"] == "bash" and permission["allowed"] is False
    (denied,) = [e["data"] for e in worker if e["type"] == "tool_result"]
    assert denied["is_error"] is True and "permission denied" in denied["output"]
    # The worker's reply reached the lead as the dispatch result.
    last = server.requests[-1].body["messages"][-1]
    assert last["role"] == "tool" and last["content"] == "bash was denied"


def _anthropic_tree(request: RecordedRequest) -> Reply:
    body = request.body
    if body["system"] == "You fan out.":
        if len(body["messages"]) == 1:
            tasks = [{"agent": f"w{i}", "prompt": f"task {i}"} for i in range(3)]
            use = ToolUse("toolu_1", "dispatch_agents", {"tasks": tasks})
            return anthropic_reply(response_stream([use], stop_reason="tool_use"))
        return anthropic_reply(response_stream([Text(["done"])]))
    return anthropic_reply(response_stream([Text(["ok"])]), delay=0.4)


@pytest.mark.parametrize(("limit", "expected"), [(1, 1), (4, 3)])
def test_sub_runs_respect_the_providers_concurrency(
    workspace: Workspace, limit: int, expected: int
) -> None:
    key = "sk-ant-api03-canary-fan"
    with AnthropicServer(api_key=key) as server:
        server.default_reply = _anthropic_tree
        workspace.write_config(
            f'[providers.anthropic]\nbase_url = "{server.base_url}"\n'
            f"allow_unknown_model = true\nmax_concurrency = {limit}\n"
        )
        head = "provider: anthropic\nmodel: claude-test-1\ntools: []\n"
        workspace.write_agent(
            "fan", f"---\nname: fan\n{head}agents: [w0, w1, w2]\n---\nYou fan out.\n"
        )
        for i in range(3):
            workspace.write_agent(f"w{i}", f"---\nname: w{i}\n{head}---\nYou work.\n")
        result = run_rupu("run", "--agent", "fan", "go", env={"ANTHROPIC_API_KEY": key})
    assert result.code == 0, result.stderr
    assert result.stdout == "done\n"
    assert len(server.requests) == 5
    assert server.max_in_flight == expected


JUDGE_SCHEMA = (
    "outputSchema:\n  type: object\n  properties:\n    verdict: {type: string, enum: [ok, bad]}\n"
    "  required: [verdict]\n"
)


def _judged(answers: list[str]) -> Any:
    def reply(request: RecordedRequest) -> Reply:
        messages = request.body["messages"]
        if messages[0]["content"] == "You are boss.":
            if not any(m["role"] == "assistant" for m in messages):
                tasks = [{"agent": "judge", "prompt": f"case {i}"} for i in range(len(answers))]
                return stream_reply(tool_call_stream([("c1", "dispatch_agents", {"tasks": tasks})]))
            return stream_reply(text_stream(["noted"]))
        case = int(messages[-1]["content"].split()[-1])
        return stream_reply(text_stream([answers[case]]))

    return reply


def test_a_sub_agent_with_an_output_schema_returns_checked_json(workspace: Workspace) -> None:
    with ChatCompletionsServer(api_key=KEY) as server:
        server.default_reply = _judged(['{"verdict": "ok"}', '{"verdict": "maybe"}', "fine"])
        workspace.write_config(f'[providers.local]\nbase_url = "{server.base_url}/v1"\n')
        workspace.write_agent("boss", agent("boss", agents="[judge]", extra="tools: []\n"))
        workspace.write_agent("judge", agent("judge", extra=f"tools: []\n{JUDGE_SCHEMA}"))
        result = run_rupu("run", "--agent", "boss", "go", env={"RUPU_LOCAL_API_KEY": KEY})
    assert result.code == 0, result.stderr
    last = server.requests[-1].body["messages"][-1]
    assert last["role"] == "tool"
    first, second, third = orjson.loads(last["content"])
    assert first == {"agent": "judge", "status": "ok", "output": {"verdict": "ok"}}
    assert second["status"] == "error"
    assert "does not match its output schema" in second["error"]
    assert "'maybe' is not one of ['ok', 'bad']" in second["error"]
    assert third["status"] == "error"
    assert "the answer holds no JSON value" in third["error"]


def test_sub_runs_share_the_callers_budget(workspace: Workspace) -> None:
    with ChatCompletionsServer(api_key=KEY) as server:
        server.default_reply = _lead_and_worker
        workspace.write_config(f'[providers.local]\nbase_url = "{server.base_url}/v1"\n')
        workspace.write_agent(
            "lead", agent("lead", agents="[worker]", extra="tools: []\nmaxTokens: 50\n")
        )
        # The worker's worst case (its 5000-token output allowance) cannot fit in the run's budget.
        workspace.write_agent("worker", agent("worker", extra="tools: [bash]\nmaxTokens: 5000\n"))
        result = run_rupu(
            "run", "--agent", "lead", "--max-tokens", "2000", "go", env={"RUPU_LOCAL_API_KEY": KEY}
        )
    assert result.code == 0, result.stderr
    assert result.stdout == "worker reported\n"
    assert len(server.requests) == 2  # the lead's two calls; the worker's was never sent
    transcripts = {
        events(p)[0]["data"]["agent"]: events(p)
        for p in (workspace.home / "transcripts").glob("*.jsonl")
    }
    (reached,) = [e["data"] for e in transcripts["worker"] if e["type"] == "budget_reached"]
    assert "the run's budget" in reached["message"]
    (finished,) = [e["data"] for e in transcripts["lead"] if e["type"] == "subagent_run"]
    assert finished["status"] == "error" and "budget" in finished["error"]


def test_an_untrusted_projects_sub_agent_is_checked_before_any_request(
    workspace: Workspace,
) -> None:
    workspace.write_agent(
        "lead", "---\nname: lead\nprovider: mock\nagents: [bold]\n---\nLead.\n", project=True
    )
    bold = workspace.write_agent(
        "bold", "---\nname: bold\nprovider: mock\npermissionMode: bypass\n---\nGo.\n", project=True
    )
    result = run_rupu("run", "--agent", "lead", "hi")
    assert result.code == 2, result.output
    assert f"{bold}:4" in result.stderr and "permissionMode: bypass" in result.stderr
    assert not (workspace.home / "transcripts").exists()
    assert run_rupu("run", "--agent", "lead", "hi", env={"RUPU_TRUST": "1"}).code == 0


def test_a_sub_agents_unknown_tool_is_refused_when_the_agent_loads(workspace: Workspace) -> None:
    workspace.write_config('[providers.local]\nbase_url = "http://127.0.0.1:9/v1"\n')
    workspace.write_agent("a", agent("a", agents="[b]", extra="tools: []\n"))
    workspace.write_agent("b", agent("b", extra="tools: [bsh]\n"))
    result = run_rupu("run", "--agent", "a", "go", env={"RUPU_LOCAL_API_KEY": KEY})
    assert result.code == 2, result.stderr
    assert "agent 'b' lists unknown tool 'bsh' (did you mean 'bash'?)" in result.stderr
    assert not (workspace.home / "transcripts").exists()


def test_agent_show_draws_the_tree_or_says_why_it_cannot_load(workspace: Workspace) -> None:
    workspace.write_agent("a", agent("a", agents="[b]"))
    workspace.write_agent("b", agent("b", agents="[c]"))
    workspace.write_agent("c", agent("c"))
    shown = run_rupu("agent", "show", "a")
    assert shown.code == 0, shown.stderr
    home = workspace.home / "agents"
    assert (
        f"sub-agents:\n  b  local · m1  ({home / 'b.md'})\n    c  local · m1  ({home / 'c.md'})\n"
        in (shown.stdout)
    )
    workspace.write_agent("c", agent("c", agents="[a]"))
    shown = run_rupu("agent", "show", "a")
    assert shown.code == 0, shown.stderr
    assert "sub-agents: error: agent 'c' lists 'a', which makes a cycle: a → b → c → a" in (
        shown.stdout
    )
