"""Acceptance 2 of the foundation: a config-declared OpenAI-compatible provider, end to end."""

from __future__ import annotations

import pytest

from tests.conftest import Workspace, run_rupu
from tests.servers.openai_chat import (
    ChatCompletionsServer,
    completion,
    stream_reply,
    text_stream,
    usage,
)

AGENT = """---
name: oracle-review
description: Code review via the oracle endpoint.
provider: oracle
model: glm-test
---

You review code.
"""


@pytest.mark.parametrize("suffix", ["", "/v1", "/v1/"])
def test_streams_answer_with_bearer_key_and_declared_model(
    workspace: Workspace, suffix: str
) -> None:
    with ChatCompletionsServer(api_key="sk-oracle-canary-123") as server:
        workspace.write_config(
            f'[providers.oracle]\nkind = "openai-compatible"\nbase_url = "{server.base_url}{suffix}"\n'
        )
        workspace.write_agent("oracle-review", AGENT)
        server.script.append(
            stream_reply(text_stream(["Looks ", "good", "."], with_usage=usage(12, 3)))
        )
        result = run_rupu(
            "run",
            "--agent",
            "oracle-review",
            "review this",
            env={"RUPU_ORACLE_API_KEY": "sk-oracle-canary-123"},
        )
    assert result.code == 0, result.stderr
    assert result.stdout == "Looks good.\n"
    request = server.requests[0]
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-oracle-canary-123"
    assert request.body["model"] == "glm-test"
    assert request.body["stream"] is True
    assert request.body["messages"] == [
        {"role": "system", "content": "You review code."},
        {"role": "user", "content": "review this"},
    ]
    assert "sk-oracle-canary-123" not in result.output
    (transcript,) = (workspace.home / "transcripts").glob("*.jsonl")
    recorded = transcript.read_text()
    assert "sk-oracle-canary-123" not in recorded
    assert '"credential":"api-key from env RUPU_ORACLE_API_KEY"' in recorded
    assert '"input_tokens":12' in recorded and '"stop_reason":"end_turn"' in recorded


def test_non_streaming_when_stream_false(workspace: Workspace) -> None:
    with ChatCompletionsServer(api_key="k1") as server:
        workspace.write_config(
            f'[providers.oracle]\nbase_url = "{server.base_url}"\nstream = false\n'
        )
        workspace.write_agent("oracle-review", AGENT)
        server.script.append(completion("Whole answer."))
        result = run_rupu(
            "run", "--agent", "oracle-review", "hi", env={"RUPU_ORACLE_API_KEY": "k1"}
        )
    assert result.code == 0, result.stderr
    assert result.stdout == "Whole answer.\n"
    assert server.requests[0].body["stream"] is False
    assert "stream_options" not in server.requests[0].body
