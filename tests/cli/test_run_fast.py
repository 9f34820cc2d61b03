"""Fast mode end to end: `rupu run --fast` and `fast: true` send OpenAI's priority tier and say `fast`
in the footer; elsewhere the run goes on with a note; `rupu workflow run --fast` on a fan-out warns
once."""

from __future__ import annotations

from tests.conftest import Workspace, run_rupu
from tests.servers.base import RecordedRequest, Reply
from tests.servers.openai_chat import ChatCompletionsServer, text_stream, usage
from tests.servers.openai_chat import stream_reply as chat_reply
from tests.servers.openai_responses import ResponsesServer, ResponseStream, stream_reply

KEY = "sk-proj-fast-canary"


def agent(name: str, provider: str, model: str, *, fast: bool = False) -> str:
    flag = "fast: true\n" if fast else ""
    return f"---\nname: {name}\nprovider: {provider}\nmodel: {model}\n{flag}---\n\nBe brief.\n"


def answer(_: RecordedRequest) -> Reply:
    return stream_reply(ResponseStream().text(["ok"]).completed(service_tier="priority"))


def test_run_fast_sends_priority_and_says_fast(workspace: Workspace) -> None:
    with ResponsesServer(api_key=KEY) as server:
        server.default_reply = answer
        workspace.write_config(f'[providers.openai]\nbase_url = "{server.base_url}/v1"\n')
        workspace.write_agent("quick", agent("quick", "openai", "gpt-5-mini"))
        workspace.write_agent("eager", agent("eager", "openai", "gpt-5-mini", fast=True))
        flag = run_rupu("run", "--agent", "quick", "--fast", "hi", env={"OPENAI_API_KEY": KEY})
        front = run_rupu("run", "--agent", "eager", "hi", env={"OPENAI_API_KEY": KEY})
        plain = run_rupu("run", "--agent", "quick", "hi", env={"OPENAI_API_KEY": KEY})
        server.assert_clean()
    for result in (flag, front, plain):
        assert result.code == 0, result.stderr
    tiers = [r.body.get("service_tier") for r in server.requests]
    assert tiers == ["priority", "priority", None]
    assert "gpt-5-mini fast" in flag.stderr and "gpt-5-mini fast" in front.stderr
    assert "fast" not in plain.stderr.split("──")[-1]
    assert "note:" not in flag.stderr


def test_run_fast_on_openrouter_is_refused_with_a_note(workspace: Workspace) -> None:
    with ChatCompletionsServer(api_key=KEY, path="/api/v1/chat/completions") as server:
        server.script.append(chat_reply(text_stream(["ok"], with_usage=usage(3, 1))))
        workspace.write_config(f'[providers.openrouter]\nbase_url = "{server.base_url}/api/v1"\n')
        workspace.write_agent("routed", agent("routed", "openrouter", "openai/gpt-5"))
        result = run_rupu(
            "run", "--agent", "routed", "--fast", "hi", env={"OPENROUTER_API_KEY": KEY}
        )
        server.assert_clean()
    assert result.code == 0, result.stderr
    assert "note: fast mode does not apply to openrouter (OpenRouter)" in result.stderr
    assert "service_tier" not in server.requests[0].body
    assert "openai/gpt-5 fast" not in result.stderr


WORKFLOW = """
name: fanned
steps:
  - id: each
    agent: quick
    for_each: [1, 2, 3]
    prompt: "item {{ item }}"
  - id: also
    agent: quick
    for_each: [4, 5]
    prompt: "item {{ item }}"
"""


def test_workflow_fast_on_a_fan_out_warns_once(workspace: Workspace) -> None:
    with ResponsesServer(api_key=KEY) as server:
        server.default_reply = answer
        workspace.write_config(f'[providers.openai]\nbase_url = "{server.base_url}/v1"\n')
        workspace.write_agent("quick", agent("quick", "openai", "gpt-5-mini"))
        path = workspace.project / "fanned.yaml"
        path.write_text(WORKFLOW)
        result = run_rupu(
            "workflow",
            "run",
            str(path),
            "--fast",
            "--plain",
            env={"OPENAI_API_KEY": KEY},
            cwd=workspace.project,
        )
        server.assert_clean()
    assert result.code == 0, result.stderr
    assert [r.body.get("service_tier") for r in server.requests] == ["priority"] * 5
    assert result.stderr.count("priority-tier pricing") == 1
    assert "step 'each', which fans out" in result.stderr
    assert "gpt-5-mini fast" in result.stderr


STEP_FAST = """
name: stepwise
steps:
  - id: quick
    agent: quick
    fast: true
    prompt: first
  - id: eager
    agent: eager
    fast: false
    depends_on: [quick]
    prompt: second
  - id: plain
    agent: quick
    depends_on: [eager]
    prompt: third
"""


def test_a_step_turns_fast_mode_on_or_off(workspace: Workspace) -> None:
    with ResponsesServer(api_key=KEY) as server:
        server.default_reply = answer
        workspace.write_config(f'[providers.openai]\nbase_url = "{server.base_url}/v1"\n')
        workspace.write_agent("quick", agent("quick", "openai", "gpt-5-mini"))
        workspace.write_agent("eager", agent("eager", "openai", "gpt-5-mini", fast=True))
        path = workspace.project / "stepwise.yaml"
        path.write_text(STEP_FAST)
        result = run_rupu(
            "workflow", "run", str(path), "--plain", env={"OPENAI_API_KEY": KEY},
            cwd=workspace.project,
        )  # fmt: skip
        server.assert_clean()
    assert result.code == 0, result.stderr
    tiers = [r.body.get("service_tier") for r in server.requests]
    assert tiers == ["priority", None, None]
    assert "priority-tier pricing" not in result.stderr  # no fan-out
