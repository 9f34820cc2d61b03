"""A session wires a run from its own environment: a real provider (the loopback Anthropic server)
with the key only in the session's `env`, and project trust refusing an untrusted project's settings
before anything is sent (never asking)."""

from __future__ import annotations

import os

import pytest

from rupu.agents.trust_gate import UntrustedProject
from rupu.api import Agent, Session, run_agent
from tests.conftest import Workspace
from tests.servers.anthropic import AnthropicServer, Text, Usage, response_stream, stream_reply

pytestmark = pytest.mark.anyio

KEY = "sk-ant-api03-canary-api-5d2e"
REVIEWER = "---\nname: reviewer\nprovider: anthropic\nmodel: claude-test-1\n---\nYou review.\n"


def config(server: AnthropicServer) -> str:
    return f'[providers.anthropic]\nbase_url = "{server.base_url}"\nallow_unknown_model = true\n'


async def test_a_real_provider_with_the_key_in_the_session_env(workspace: Workspace) -> None:
    with AnthropicServer(api_key=KEY) as server:
        workspace.write_config(config(server))
        workspace.write_agent("reviewer", REVIEWER)
        server.script.append(
            stream_reply(response_stream([Text(["Looks ", "good."])], usage=Usage(12, 3)))
        )
        session = Session.from_environment(env={**os.environ, "ANTHROPIC_API_KEY": KEY})
        result = await run_agent("reviewer", "review this", session=session)
    assert result.text == "Looks good."
    assert result.credential == "api-key from env ANTHROPIC_API_KEY"
    assert (result.usage.input_tokens, result.usage.output_tokens) == (12, 3)
    (sent,) = server.requests
    assert sent.headers["x-api-key"] == KEY
    assert sent.body["system"] == "You review."
    assert "ANTHROPIC_API_KEY" not in os.environ


async def test_an_untrusted_project_is_refused_before_any_request(workspace: Workspace) -> None:
    with AnthropicServer(api_key=KEY) as server:
        workspace.write_config(config(server), project=True)
        env = {**os.environ, "ANTHROPIC_API_KEY": KEY}
        agent = Agent("reviewer", provider="anthropic", model="claude-test-1")
        with pytest.raises(UntrustedProject, match="is not trusted"):
            await run_agent(agent, "hi", session=Session.from_environment(env=env))
        assert server.requests == []

        server.script.append(stream_reply(response_stream([Text(["ok"])], usage=Usage(1, 1))))
        trusted = Session.from_environment(env=env, trust=True)
        result = await run_agent(agent, "hi", session=trusted)
    assert result.text == "ok"
