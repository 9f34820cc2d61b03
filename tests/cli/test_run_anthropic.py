"""Acceptance for the anthropic provider through the CLI: `[providers.anthropic] base_url` pointed at
the loopback Messages server plus `ANTHROPIC_API_KEY` make `rupu run --agent` stream the answer;
thinking is shown apart on stderr (or hidden); the transcript records provider, model, usage, stop
reason and the rate-limit snapshot; faults end in one clear error line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.conftest import Workspace, run_rupu
from tests.servers.anthropic import (
    AnthropicServer,
    Block,
    Text,
    Thinking,
    Usage,
    error_event,
    error_reply,
    response_stream,
    stream_reply,
)

KEY = "sk-ant-api03-canary-7f3a"
AGENT = """---
name: reviewer
description: Reviews code.
provider: anthropic
model: claude-test-1
effort: low
---

You review code.
"""
ANSWER: list[Block] = [
    Thinking(["Checking ", "the diff."], signature="sig-cli"),
    Text(["Looks ", "good."]),
]


def setup(workspace: Workspace, server: AnthropicServer, extra: str = "") -> None:
    # The test model ids are not in rupu's catalog: let them through the model check.
    workspace.write_config(
        f'[providers.anthropic]\nbase_url = "{server.base_url}"\nallow_unknown_model = true\n{extra}'
    )
    workspace.write_agent("reviewer", AGENT)


def transcript(workspace: Workspace) -> list[dict[str, Any]]:
    files = sorted((workspace.home / "transcripts").glob("*.jsonl"))
    assert len(files) == 1
    return [orjson.loads(line) for line in Path(files[0]).read_bytes().splitlines()]


def of_type(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e["data"] for e in events if e["type"] == kind]


def test_run_streams_the_answer_and_records_the_turn(workspace: Workspace) -> None:
    usage = Usage(
        input_tokens=120, output_tokens=30, cache_read=400, cache_write=60, thinking_tokens=9
    )
    with AnthropicServer(api_key=KEY) as server:
        setup(workspace, server)
        server.script.append(
            stream_reply(response_stream(ANSWER, usage=usage, model="claude-test-1-20260101"))
        )
        result = run_rupu(
            "run", "--agent", "reviewer", "review this", env={"ANTHROPIC_API_KEY": KEY}
        )
    assert result.code == 0, result.stderr
    assert result.stdout == "Looks good.\n"
    assert "thinking: Checking the diff.\n" in result.stderr
    assert "Looks good" not in result.stderr
    assert "claude-test-1 (served by claude-test-1-20260101)" in result.stderr
    assert "quota: anthropic-ratelimit-requests-limit=50" in result.stderr
    assert KEY not in result.output
    sent = server.requests[0]
    assert sent.headers["x-api-key"] == KEY
    assert sent.body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert sent.body["system"] == "You review code."

    events = transcript(workspace)
    (start,) = of_type(events, "run_start")
    assert (start["provider"], start["model"]) == ("anthropic", "claude-test-1")
    assert start["credential"] == "api-key from env ANTHROPIC_API_KEY"
    (usage_row,) = of_type(events, "usage")
    assert usage_row == {
        "provider": "anthropic",
        "model": "claude-test-1",
        "credential": "api-key from env ANTHROPIC_API_KEY",
        "served_model": "claude-test-1-20260101",
        "input_tokens": 120,
        "output_tokens": 30,
        "cache_read_tokens": 400,
        "cache_write_tokens": 60,
        "reasoning_tokens": 9,
        "reported": True,
        "cost_usd": None,  # a test model id: no price is known
    }
    (turn_end,) = of_type(events, "turn_end")
    assert turn_end["stop_reason"] == "end_turn" and turn_end["request_id"] == "req_test_123"
    (message,) = of_type(events, "assistant_message")
    assert message["content"] == "Looks good." and message["thinking"] == "Checking the diff."
    (limits,) = of_type(events, "rate_limits")
    assert limits["snapshot"]["anthropic-ratelimit-requests-remaining"] == 49
    assert of_type(events, "run_complete")[0]["status"] == "ok"
    assert KEY.encode() not in b"".join(orjson.dumps(e) for e in events)


def test_hide_thinking_keeps_stderr_free_of_reasoning(workspace: Workspace) -> None:
    with AnthropicServer(api_key=KEY) as server:
        setup(workspace, server)
        server.script.append(stream_reply(response_stream(ANSWER)))
        result = run_rupu(
            "run",
            "--agent",
            "reviewer",
            "--hide-thinking",
            "review",
            env={"ANTHROPIC_API_KEY": KEY},
        )
    assert result.code == 0, result.stderr
    assert result.stdout == "Looks good.\n"
    assert "thinking" not in result.stderr and "Checking" not in result.stderr
    # hidden, yet kept for replay
    assert (
        of_type(transcript(workspace), "assistant_message")[0]["thinking"] == "Checking the diff."
    )


def test_json_format_reports_stop_reason_and_usage(workspace: Workspace) -> None:
    with AnthropicServer(api_key=KEY) as server:
        setup(workspace, server)
        server.script.append(stream_reply(response_stream(ANSWER, stop_reason="max_tokens")))
        result = run_rupu(
            "run", "--agent", "reviewer", "--format", "json", "hi", env={"ANTHROPIC_API_KEY": KEY}
        )
    assert result.code == 0, result.stderr
    summary = orjson.loads(result.stdout)
    assert (summary["provider"], summary["stop_reason"], summary["text"]) == (
        "anthropic",
        "max_tokens",
        "Looks good.",
    )
    assert summary["usage"]["input_tokens"] == 25


def test_overloaded_gives_one_error_line_with_status_type_and_request_id(
    workspace: Workspace,
) -> None:
    with AnthropicServer(api_key=KEY) as server:
        setup(workspace, server, "max_retries = 0\n")
        server.script.append(error_reply(529, "overloaded_error", "Overloaded"))
        result = run_rupu("run", "--agent", "reviewer", "hi", env={"ANTHROPIC_API_KEY": KEY})
    assert result.code == 3
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("rupu: error:")]
    assert errors == [
        "rupu: error: anthropic (HTTP 529, overloaded_error): Overloaded [request id req_err_1]"
        " (Anthropic is overloaded: try again in a minute, or lower max_concurrency)"
    ]
    assert of_type(transcript(workspace), "error")[0]["status"] == 529


def test_stream_failing_mid_answer_is_not_recorded_as_a_completed_turn(
    workspace: Workspace,
) -> None:
    broken = [
        *response_stream(ANSWER, terminal=False)[:9],
        error_event("overloaded_error", "Overloaded"),
    ]
    with AnthropicServer(api_key=KEY) as server:
        setup(workspace, server)
        server.script.append(stream_reply(broken))
        result = run_rupu("run", "--agent", "reviewer", "hi", env={"ANTHROPIC_API_KEY": KEY})
    assert result.code == 3, result.stderr
    assert len(server.requests) == 1
    assert "overloaded_error" in result.stderr and "req_stream_err" in result.stderr
    events = transcript(workspace)
    assert of_type(events, "turn_end") == [] and of_type(events, "assistant_message") == []
    assert of_type(events, "run_complete")[0]["status"] == "error"


def test_missing_key_says_where_it_looked(workspace: Workspace) -> None:
    with AnthropicServer(api_key=KEY) as server:
        setup(workspace, server)
        result = run_rupu("run", "--agent", "reviewer", "hi")
    assert result.code == 4
    assert "ANTHROPIC_API_KEY" in result.stderr and "Traceback" not in result.stderr
    assert server.requests == []


def test_a_declared_provider_of_kind_anthropic_uses_its_own_key(workspace: Workspace) -> None:
    with AnthropicServer(api_key="gw-key") as server:
        workspace.write_config(
            f'[providers.claude-gw]\nkind = "anthropic"\nbase_url = "{server.base_url}/v1"\n'
            'default_model = "claude-test-1"\n'
        )
        workspace.write_agent("gw", "---\nname: gw\nprovider: claude-gw\n---\n\nBe brief.\n")
        server.script.append(stream_reply(response_stream([Text(["via gateway"])])))
        result = run_rupu("run", "--agent", "gw", "hi", env={"RUPU_CLAUDE_GW_API_KEY": "gw-key"})
    assert result.code == 0, result.stderr
    assert result.stdout == "via gateway\n"
    assert server.requests[0].headers["x-api-key"] == "gw-key"
    assert server.requests[0].body["model"] == "claude-test-1"


def test_an_agent_that_names_only_the_provider_runs_on_the_catalog_default(
    workspace: Workspace,
) -> None:
    with AnthropicServer(api_key=KEY) as server:
        # Only the loopback address: no model, no default_model, no allow_unknown_model.
        workspace.write_config(f'[providers.anthropic]\nbase_url = "{server.base_url}"\n')
        workspace.write_agent("plain", "---\nname: plain\nprovider: anthropic\n---\n\nHelp.\n")
        server.script.append(stream_reply(response_stream([Text(["Hi."])])))
        result = run_rupu("run", "--agent", "plain", "hi", env={"ANTHROPIC_API_KEY": KEY})
        server.assert_clean()
    assert result.code == 0, result.stderr
    assert result.stdout == "Hi.\n"
    assert server.requests[0].body["model"] == "claude-sonnet-4-6"
    listed = run_rupu("models", "list", "--provider", "anthropic", "--format", "json")
    (default,) = [r["model"] for r in orjson.loads(listed.stdout)["rows"] if r["default"]]
    assert default == "claude-sonnet-4-6"


def test_a_turn_that_fails_mid_stream_keeps_its_usage_and_cost(workspace: Workspace) -> None:
    billed = Usage(input_tokens=1000, output_tokens=0)
    broken = [
        *response_stream([Text(["Half an "])], usage=billed, terminal=False)[:-1],
        error_event("overloaded_error", "Overloaded"),
    ]
    with AnthropicServer(api_key=KEY) as server:
        workspace.write_config(f'[providers.anthropic]\nbase_url = "{server.base_url}"\n')
        workspace.write_agent(
            "plain", "---\nname: plain\nprovider: anthropic\nmodel: claude-sonnet-4-6\n---\n\nHi.\n"
        )
        server.script.append(stream_reply(broken))
        result = run_rupu("run", "--agent", "plain", "hi", env={"ANTHROPIC_API_KEY": KEY})
        server.assert_clean()
    assert result.code == 3, result.stderr
    events = transcript(workspace)
    (used,) = of_type(events, "usage")
    assert used["input_tokens"] == 1000 and used["failed"] is True
    # claude-sonnet-4-6: $3 in, $15 out per million; message_start reports 1 output token.
    assert used["cost_usd"] == pytest.approx((1000 * 3 + 1 * 15) / 1e6)
    assert of_type(events, "assistant_message") == [], "the partial answer is not a turn"
    (complete,) = of_type(events, "run_complete")
    assert complete["usage"]["input_tokens"] == 1000 and complete["cost_usd"] == used["cost_usd"]
    assert "1000 in" in result.stderr and "$0.003" in result.stderr


def test_a_429_records_its_rate_limit_headers(workspace: Workspace) -> None:
    limited = {
        "anthropic-ratelimit-requests-limit": "50",
        "anthropic-ratelimit-requests-remaining": "0",
        "anthropic-ratelimit-requests-reset": "2026-01-01T00:00:30Z",
        "x-should-retry": "false",
    }
    with AnthropicServer(api_key=KEY) as server:
        setup(workspace, server)
        server.script.append(
            error_reply(429, "rate_limit_error", "Number of requests exceeded", headers=limited)
        )
        result = run_rupu("run", "--agent", "reviewer", "hi", env={"ANTHROPIC_API_KEY": KEY})
        server.assert_clean()
    assert result.code == 3, result.stderr
    assert "quota: anthropic-ratelimit-requests-limit=50" in result.stderr
    assert "anthropic-ratelimit-requests-remaining=0" in result.stderr
    (snapshot,) = of_type(transcript(workspace), "rate_limits")
    assert snapshot["provider"] == "anthropic"
    assert snapshot["snapshot"]["anthropic-ratelimit-requests-remaining"] == 0
