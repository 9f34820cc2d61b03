"""Keeps the loopback Copilot honest: the official `openai` SDK, configured the way Copilot clients
configure it (Copilot token as the key, editor headers), streams from its chat route, and the server
accepts what the SDK sends."""

from __future__ import annotations

import httpx
import openai

from rupu.testing import FakeClock
from tests.servers.copilot import CopilotServer
from tests.servers.openai_chat import stream_reply, text_stream, usage

EDITOR = {
    "Editor-Version": "vscode/1.107.0",
    "Editor-Plugin-Version": "copilot-chat/0.35.0",
    "Copilot-Integration-Id": "vscode-chat",
    "User-Agent": "GitHubCopilotChat/0.35.0",
}


def test_openai_sdk_streams_from_the_copilot_chat_route() -> None:
    with CopilotServer(clock=FakeClock()) as server:
        exchange = httpx.get(
            server.exchange_url,
            headers={"Authorization": f"token {server.github_token}", **EDITOR},
        )
        exchange.raise_for_status()
        grant = exchange.json()
        server.script.append(
            stream_reply(text_stream(["Hi", " there"], model="gpt-4.1", with_usage=usage(9, 2)))
        )
        client = openai.OpenAI(
            api_key=grant["token"],
            base_url=grant["endpoints"]["api"],
            default_headers={
                **EDITOR,
                "X-Initiator": "user",
                "Openai-Intent": "conversation-edits",
            },
            max_retries=0,
        )
        with client:
            stream = client.chat.completions.create(
                model="gpt-4.1",
                messages=[{"role": "user", "content": "hi"}],
                stream=True,
                stream_options={"include_usage": True},
            )
            chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hi there"
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.prompt_tokens == 9
    assert grant["expires_at"] == int(server.clock.time()) + int(server.lifetime)
    assert server.requests[0].path == "/chat/completions"
