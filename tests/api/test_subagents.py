"""Sub-agents from the Python API: `run_agent` on an agent with `agents:` dispatches as `rupu run`
does; the result's usage and cost include the sub-run, and `outcome.subruns` lists it."""

from __future__ import annotations

import os

import pytest

from rupu.api import Session, run_agent
from tests.conftest import Workspace
from tests.servers.base import RecordedRequest, Reply
from tests.servers.openai_chat import (
    ChatCompletionsServer,
    stream_reply,
    text_stream,
    tool_call_stream,
    usage,
)

pytestmark = pytest.mark.anyio

KEY = "sk-local-canary-api"


def _reply(request: RecordedRequest) -> Reply:
    messages = request.body["messages"]
    if messages[0]["content"] == "You lead.":
        if len(messages) == 2:
            call = ("c1", "dispatch_agent", {"agent": "helper", "prompt": "say hi"})
            return stream_reply(tool_call_stream([call]))  # 10 in, 5 out
        return stream_reply(
            text_stream([f"helper: {messages[-1]['content']}"], with_usage=usage(30, 6))
        )
    return stream_reply(text_stream(["hi"], with_usage=usage(8, 1)))


async def test_run_agent_dispatches_and_rolls_up(workspace: Workspace) -> None:
    with ChatCompletionsServer(api_key=KEY) as server:
        server.default_reply = _reply
        workspace.write_config(
            f'[providers.local]\nbase_url = "{server.base_url}/v1"\n'
            '[pricing.local."m1"]\ninput = 1\noutput = 10\n'
        )
        head = "provider: local\nmodel: m1\ntools: []\n"
        workspace.write_agent("lead", f"---\nname: lead\n{head}agents: [helper]\n---\nYou lead.\n")
        workspace.write_agent("helper", f"---\nname: helper\n{head}---\nYou help.\n")
        session = Session.from_environment(env={**os.environ, "RUPU_LOCAL_API_KEY": KEY})
        result = await run_agent("lead", "go", session=session)
    assert result.text == "helper: hi"
    assert (result.usage.input_tokens, result.usage.output_tokens) == (10 + 30 + 8, 5 + 6 + 1)
    # By hand: $1 per million in, $10 per million out.
    assert result.cost_usd == pytest.approx((48 * 1 + 12 * 10) / 1e6)
    (sub,) = result.outcome.subruns
    assert (sub.agent, sub.status, sub.provider, sub.model) == ("helper", "ok", "local", "m1")
    assert sub.cost_usd == pytest.approx((8 + 10) / 1e6)
    assert sub.transcript.is_file() and sub.transcript != result.transcript


async def test_sub_agents_ask_one_at_a_time_naming_themselves() -> None:
    import anyio

    from rupu.api.subagents import SubagentDecider
    from rupu.tools.permissions import Decision, PermissionRequest

    asked: list[str] = []
    inside = 0

    class Slow:
        async def decide(self, request: PermissionRequest) -> Decision:
            nonlocal inside
            inside += 1
            assert inside == 1, "two questions at once"
            asked.append(request.summary)
            await anyio.sleep(0.05)
            inside -= 1
            return "allow"

    lock = anyio.Lock()
    reviewer = SubagentDecider(Slow(), "reviewer", lock)
    tester = SubagentDecider(reviewer.inner, "tester", lock)
    request = PermissionRequest("bash", "command", "bash make test", "c1")
    async with anyio.create_task_group() as group:
        group.start_soon(reviewer.decide, request)
        group.start_soon(tester.decide, request)
    assert sorted(asked) == ["[reviewer] bash make test", "[tester] bash make test"]
