"""A workflow step whose agent has `agents:` dispatches to them; their tokens count in the unit's,
and a cycle in any step agent's tree stops the run before its first request."""

from __future__ import annotations

import orjson

from tests.conftest import Workspace, run_rupu
from tests.servers.base import RecordedRequest, Reply
from tests.servers.openai_chat import (
    ChatCompletionsServer,
    stream_reply,
    text_stream,
    tool_call_stream,
    usage,
)

KEYS = {"RUPU_ALPHA_API_KEY": "sk-alpha-canary", "RUPU_BETA_API_KEY": "sk-beta-canary"}
WORKFLOW = """
name: delegate
steps:
  - id: lead
    agent: lead
    prompt: split the work
"""


def _lead(request: RecordedRequest) -> Reply:
    messages = request.body["messages"]
    if not any(m["role"] == "assistant" for m in messages):
        call = ("call_1", "dispatch_agent", {"agent": "helper", "prompt": "count to three"})
        return stream_reply(tool_call_stream([call]))  # usage(): 10 in, 5 out
    return stream_reply(
        text_stream(["helper said: ", messages[-1]["content"]], with_usage=usage(20, 4))
    )


def _helper(request: RecordedRequest) -> Reply:
    assert request.body["messages"][-1]["content"] == "count to three"
    return stream_reply(text_stream(["one two three"], with_usage=usage(7, 3)))


def _write(workspace: Workspace, alpha: str, beta: str, *, cycle: bool = False) -> None:
    workspace.write_config(
        f'[providers.alpha]\nbase_url = "{alpha}/v1"\n[providers.beta]\nbase_url = "{beta}/v1"\n'
    )
    workspace.write_agent(
        "lead",
        "---\nname: lead\nprovider: alpha\nmodel: a1\ntools: []\nagents: [helper]\n---\nLead.\n",
    )
    back = "agents: [lead]\n" if cycle else ""
    workspace.write_agent(
        "helper", f"---\nname: helper\nprovider: beta\nmodel: b1\ntools: []\n{back}---\nHelp.\n"
    )
    directory = workspace.home / "workflows"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "delegate.yaml").write_text(WORKFLOW)


def test_a_step_agent_dispatches_and_its_unit_counts_the_sub_run(workspace: Workspace) -> None:
    with (
        ChatCompletionsServer(api_key=KEYS["RUPU_ALPHA_API_KEY"]) as alpha,
        ChatCompletionsServer(api_key=KEYS["RUPU_BETA_API_KEY"]) as beta,
    ):
        alpha.default_reply = _lead
        beta.default_reply = _helper
        _write(workspace, alpha.base_url, beta.base_url)
        result = run_rupu("workflow", "run", "delegate", "--format", "json", env=KEYS)
    assert result.code == 0, result.stderr
    events = [orjson.loads(line) for line in result.stdout.splitlines()]
    (unit,) = [e for e in events if e["type"] == "unit_finished"]
    assert unit["status"] == "succeeded"
    (finished,) = [e for e in events if e["type"] == "run_finished"]
    assert finished["outputs"]["lead"] == "helper said: one two three"
    # The lead's two calls (15 + 24 tokens) and the helper's one (10).
    assert unit["tokens"] == 15 + 24 + 10
    assert len(beta.requests) == 1 and beta.requests[0].body["model"] == "b1"


def test_a_cycle_in_a_step_agents_tree_stops_the_run_before_any_request(
    workspace: Workspace,
) -> None:
    with (
        ChatCompletionsServer(api_key=KEYS["RUPU_ALPHA_API_KEY"]) as alpha,
        ChatCompletionsServer(api_key=KEYS["RUPU_BETA_API_KEY"]) as beta,
    ):
        _write(workspace, alpha.base_url, beta.base_url, cycle=True)
        result = run_rupu("workflow", "run", "delegate", env=KEYS)
    assert result.code == 2, result.stderr
    assert "makes a cycle: lead → helper → lead" in result.stderr
    assert not alpha.requests and not beta.requests
