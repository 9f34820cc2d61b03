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


def test_provider_mock_reaches_the_sub_agents_of_a_step(workspace: Workspace) -> None:
    # No keys and nothing listening: on --provider mock the tree needs neither.
    _write(workspace, "http://127.0.0.1:9", "http://127.0.0.1:9")
    result = run_rupu("workflow", "run", "delegate", "--provider", "mock", "--format", "json")
    assert result.code == 0, result.stderr
    events = [orjson.loads(line) for line in result.stdout.splitlines()]
    (finished,) = [e for e in events if e["type"] == "run_finished"]
    assert finished["status"] == "succeeded"
    assert finished["outputs"]["lead"] == "split the work"


def test_a_sub_agents_missing_key_stops_the_run_before_any_step(workspace: Workspace) -> None:
    _write(workspace, "http://127.0.0.1:9", "http://127.0.0.1:9")
    env = {"RUPU_ALPHA_API_KEY": KEYS["RUPU_ALPHA_API_KEY"]}
    result = run_rupu("workflow", "run", "delegate", "--format", "json", env=env)
    assert result.code == 4, result.stderr
    assert "beta: no credential found" in result.stderr
    assert "RUPU_BETA_API_KEY" in result.stderr
    assert "unit_started" not in result.stdout
