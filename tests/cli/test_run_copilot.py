"""Acceptance 1 for copilot: `rupu run --agent` with the token exchange pointed at a loopback Copilot
streams the answer (chat-completions route) and the transcript records provider, model, usage and
stop reason. No GitHub token or Copilot token appears in any output."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.conftest import CliResult, Workspace, run_rupu
from tests.servers.copilot import CopilotServer, no_copilot_reply
from tests.servers.openai_chat import stream_reply, text_stream, usage

GITHUB_TOKEN = "ghp_cli_canary_github_token_1234"

AGENT = """---
name: pair
description: A Copilot-hosted pair programmer.
provider: copilot
model: {model}
---

You pair on code.
"""


def run_agent(
    workspace: Workspace,
    server: CopilotServer,
    *,
    model: str = "gpt-4.1",
    var: str = "GH_TOKEN",
    flags: tuple[str, ...] = (),
) -> CliResult:
    workspace.write_config(f'[providers.copilot]\ntoken_exchange_url = "{server.exchange_url}"\n')
    workspace.write_agent("pair", AGENT.format(model=model))
    return run_rupu("run", "--agent", "pair", *flags, "write a haiku", env={var: GITHUB_TOKEN})


def transcript_events(workspace: Workspace) -> list[dict[str, Any]]:
    [path] = list((workspace.home / "transcripts").glob("*.jsonl"))
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def assert_no_secrets(server: CopilotServer, *texts: str) -> None:
    for secret in [GITHUB_TOKEN, *server.issued]:
        for text in texts:
            assert secret not in text
            assert secret.split(":")[-1] not in text


@pytest.mark.parametrize("var", ["GH_TOKEN", "COPILOT_GITHUB_TOKEN", "GITHUB_TOKEN"])
def test_copilot_agent_streams_answer_and_records_transcript(
    workspace: Workspace, var: str
) -> None:
    with CopilotServer(github_token=GITHUB_TOKEN) as server:
        server.script.append(
            stream_reply(
                text_stream(
                    ["Tabs ", "or ", "spaces?"],
                    model="gpt-4.1-2025-04-14",
                    with_usage=usage(30, 6, cached=10),
                )
            )
        )
        result = run_agent(workspace, server, var=var)
    assert result.code == 0, result.stderr
    assert result.stdout == "Tabs or spaces?\n"
    assert "copilot · gpt-4.1 (served by gpt-4.1-2025-04-14)" in result.stderr
    assert f"api-key from env {var}" in result.stderr
    assert server.exchanges == 1
    assert server.exchange_requests[0].headers["authorization"] == f"token {GITHUB_TOKEN}"
    request = server.requests[0]
    assert request.path == "/chat/completions"
    assert request.headers["authorization"] == f"Bearer {next(iter(server.issued))}"
    assert request.headers["x-initiator"] == "user"
    assert request.body["model"] == "gpt-4.1"

    events = transcript_events(workspace)
    by_type = {e["type"]: e["data"] for e in events}
    assert by_type["run_start"]["provider"] == "copilot"
    assert by_type["run_start"]["model"] == "gpt-4.1"
    assert by_type["usage"] == {
        "provider": "copilot",
        "model": "gpt-4.1",
        "credential": f"api-key from env {var}",
        "served_model": "gpt-4.1-2025-04-14",
        "input_tokens": 20,
        "output_tokens": 6,
        "cache_read_tokens": 10,
        "cache_write_tokens": 0,
        "reasoning_tokens": 0,
        "reported": True,
        "cost_usd": 0.0,
    }
    assert by_type["turn_end"]["stop_reason"] == "end_turn"
    assert by_type["run_complete"]["status"] == "ok"
    transcript = "".join(p.read_text() for p in Path(workspace.home / "transcripts").glob("*"))
    assert_no_secrets(server, result.stdout, result.stderr, transcript)


def test_account_without_copilot_exits_4_with_the_fix(workspace: Workspace) -> None:
    with CopilotServer(github_token=GITHUB_TOKEN) as server:
        server.exchange_script.append(no_copilot_reply(403))
        result = run_agent(workspace, server)
    assert result.code == 4
    assert result.stdout == ""
    assert "paid GitHub Copilot subscription" in result.stderr
    assert "rupu auth login --provider copilot --mode sso" in result.stderr
    assert "Traceback" not in result.stderr
    assert server.requests == []
    transcript = "".join(p.read_text() for p in Path(workspace.home / "transcripts").glob("*"))
    assert '"status":"error"' in transcript
    assert_no_secrets(server, result.stderr, transcript)


def test_unknown_model_id_lists_what_the_route_accepts(workspace: Workspace) -> None:
    # rupu's model catalog stops this typo before any request (tests/cli/test_models.py); the flag
    # lets it through so the route's own refusal is what is tested here.
    with CopilotServer(github_token=GITHUB_TOKEN) as server:
        result = run_agent(workspace, server, model="gpt-4-1", flags=("--allow-unknown-model",))
    assert result.code == 3
    assert "model 'gpt-4-1' is not available on Copilot's chat completions route" in result.stderr
    assert "did you mean 'gpt-4.1'" in result.stderr
    assert "ids this route accepts: gpt-4.1, gpt-4o" in result.stderr
    assert server.requests[0].body["model"] == "gpt-4-1"
    assert_no_secrets(server, result.stderr)


def test_missing_github_token_says_where_rupu_looked(workspace: Workspace) -> None:
    workspace.write_agent("pair", AGENT.format(model="gpt-4.1"))
    result = run_rupu("run", "--agent", "pair", "hi")
    assert result.code == 4
    assert "COPILOT_GITHUB_TOKEN or GH_TOKEN or GITHUB_TOKEN" in result.stderr
