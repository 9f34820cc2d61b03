"""`rupu run --agent` on the built-in openai provider (API key route), end to end against the loopback
Responses server: the answer streams to stdout, reasoning goes to stderr apart from it, and the
transcript records provider, model, usage and stop reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.conftest import Workspace, run_rupu
from tests.servers.openai_responses import (
    ResponsesServer,
    ResponseStream,
    error_reply,
    stream_reply,
    usage,
)

KEY = "sk-proj-canary-6f1e"
AGENT = """---
name: planner
description: Plans.
provider: openai
model: gpt-test
effort: max
maxTokens: 2000
---

You plan carefully.
"""


def transcript_events(workspace: Workspace) -> list[dict[str, Any]]:
    [path] = list((workspace.home / "transcripts").glob("run_*.jsonl"))
    return [orjson.loads(line) for line in Path(path).read_bytes().splitlines() if line.strip()]


def configure(workspace: Workspace, server: ResponsesServer, *, org: bool = True) -> None:
    org_line = 'org_id = "org-canary"\n' if org else ""
    # The test model id is not in rupu's catalog: let it through the model check.
    workspace.write_config(
        f'[providers.openai]\nbase_url = "{server.base_url}/v1"\nallow_unknown_model = true\n{org_line}'
    )
    workspace.write_agent("planner", AGENT)


def test_streams_answer_and_records_the_run(workspace: Workspace) -> None:
    with ResponsesServer(api_key=KEY, org_id="org-canary") as server:
        configure(workspace, server)
        server.script.append(
            stream_reply(
                ResponseStream(model="gpt-test-2026")
                .reasoning([["Weighing ", "options"]])
                .text(["Step 1", ": ship", "."])
                .completed(usage(40, 15, cached=16, reasoning=6)),
                headers={"x-ratelimit-remaining-requests": "99"},
            )
        )
        result = run_rupu("run", "--agent", "planner", "plan it", env={"OPENAI_API_KEY": KEY})
    assert result.code == 0, result.stderr
    assert result.stdout == "Step 1: ship.\n"
    assert "thinking: Weighing options" in result.stderr
    assert "Weighing" not in result.stdout
    assert "openai" in result.stderr and "gpt-test" in result.stderr
    assert "quota: x-ratelimit-remaining-requests=99" in result.stderr
    assert KEY not in result.output

    body = server.requests[0].body
    assert server.requests[0].headers["openai-organization"] == "org-canary"
    assert body["instructions"] == "You plan carefully."
    assert body["reasoning"] == {"effort": "high", "summary": "auto"}
    assert body["max_output_tokens"] == 2000

    events = transcript_events(workspace)
    start = next(e["data"] for e in events if e["type"] == "run_start")
    assert (start["provider"], start["model"]) == ("openai", "gpt-test")
    assert start["credential"] == "api-key from env OPENAI_API_KEY"
    used = next(e["data"] for e in events if e["type"] == "usage")
    assert used["served_model"] == "gpt-test-2026"
    assert (used["input_tokens"], used["cache_read_tokens"], used["output_tokens"]) == (24, 16, 15)
    assert used["reasoning_tokens"] == 6
    end = next(e["data"] for e in events if e["type"] == "turn_end")
    assert end["stop_reason"] == "end_turn" and end["request_id"] == "req_test_123"
    message = next(e["data"] for e in events if e["type"] == "assistant_message")
    assert message["thinking"] == "Weighing options"
    assert next(e["data"] for e in events if e["type"] == "run_complete")["status"] == "ok"
    assert KEY.encode() not in b"".join(
        p.read_bytes() for p in (workspace.home / "transcripts").iterdir()
    )


def test_hide_thinking_keeps_reasoning_off_the_terminal(workspace: Workspace) -> None:
    with ResponsesServer(api_key=KEY) as server:
        configure(workspace, server, org=False)
        server.script.append(
            stream_reply(ResponseStream().reasoning([["secret plan"]]).text(["Done."]).completed())
        )
        result = run_rupu(
            "run", "--agent", "planner", "go", "--hide-thinking", env={"OPENAI_API_KEY": KEY}
        )
    assert result.code == 0, result.stderr
    assert result.stdout == "Done.\n"
    assert "secret plan" not in result.output
    assert "openai-organization" not in server.requests[0].headers


def test_quota_error_is_one_clear_line_with_exit_3(workspace: Workspace) -> None:
    with ResponsesServer(api_key=KEY) as server:
        configure(workspace, server, org=False)
        server.script.append(
            error_reply(
                429,
                "You exceeded your current quota, please check your plan and billing details.",
                "insufficient_quota",
                code="insufficient_quota",
            )
        )
        result = run_rupu("run", "--agent", "planner", "go", env={"OPENAI_API_KEY": KEY})
    assert result.code == 3
    assert len(server.requests) == 1
    line = [x for x in result.stderr.splitlines() if x.startswith("rupu: error:")]
    assert line == [
        "rupu: error: openai (HTTP 429, insufficient_quota): You exceeded your current quota, "
        "please check your plan and billing details. [request id req_err_1] (quota or billing "
        "exhausted: check the account's plan and credits; retrying will not help)"
    ]
    assert "Traceback" not in result.stderr
    events = transcript_events(workspace)
    error = next(e["data"] for e in events if e["type"] == "error")
    assert (error["status"], error["error_type"], error["request_id"]) == (
        429,
        "insufficient_quota",
        "req_err_1",
    )


def test_missing_key_names_the_variable(workspace: Workspace) -> None:
    with ResponsesServer(api_key=KEY) as server:
        configure(workspace, server, org=False)
        result = run_rupu("run", "--agent", "planner", "go")
    assert result.code == 4
    assert "OPENAI_API_KEY" in result.stderr
    assert server.requests == []


def test_custom_openai_responses_provider(workspace: Workspace) -> None:
    with ResponsesServer(api_key="gw-secret") as server:
        workspace.write_config(
            f'[providers.gateway]\nkind = "openai-responses"\nbase_url = "{server.base_url}/v1"\n'
            'default_model = "gw-model"\n'
        )
        workspace.write_agent(
            "gw",
            "---\nname: gw\ndescription: Via the gateway.\nprovider: gateway\n---\n\nBe brief.\n",
        )
        server.script.append(
            stream_reply(ResponseStream(model="gw-model").text(["Via gateway."]).completed())
        )
        result = run_rupu("run", "--agent", "gw", "hi", env={"RUPU_GATEWAY_API_KEY": "gw-secret"})
    assert result.code == 0, result.stderr
    assert result.stdout == "Via gateway.\n"
    assert server.requests[0].body["model"] == "gw-model"


def test_the_served_service_tier_is_recorded_priced_and_grouped(workspace: Workspace) -> None:
    """gpt-5-mini lists at $0.25 in / $2 out per million; flex costs half, and a priority request
    the server served at `default` costs the list price."""
    with ResponsesServer(api_key=KEY) as server:
        workspace.write_config(f'[providers.openai]\nbase_url = "{server.base_url}/v1"\n')
        for tier in ("flex", "priority"):
            workspace.write_agent(
                tier,
                f"---\nname: {tier}\nprovider: openai\nmodel: gpt-5-mini\nserviceTier: {tier}\n"
                "---\n\nBe brief.\n",
            )
        server.script.append(
            stream_reply(
                ResponseStream().text(["A."]).completed(usage(1000, 100), service_tier="flex")
            )
        )
        server.script.append(
            stream_reply(
                ResponseStream().text(["B."]).completed(usage(1000, 100), service_tier="default")
            )
        )
        flex = run_rupu("run", "--agent", "flex", "hi", env={"OPENAI_API_KEY": KEY})
        default = run_rupu("run", "--agent", "priority", "hi", env={"OPENAI_API_KEY": KEY})
        server.assert_clean()
    assert flex.code == 0 and default.code == 0, flex.stderr + default.stderr
    assert [r.body["service_tier"] for r in server.requests] == ["flex", "priority"]
    listed = (1000 * 0.25 + 100 * 2) / 1e6
    recorded = {}
    for path in (workspace.home / "transcripts").glob("run_*.jsonl"):
        events = [orjson.loads(line) for line in path.read_bytes().splitlines()]
        (used,) = [e["data"] for e in events if e["type"] == "usage"]
        recorded[used["service_tier"]] = used["cost_usd"]
    assert recorded == {"flex": pytest.approx(listed / 2), "default": pytest.approx(listed)}
    report = run_rupu("usage", "--group-by", "tier", "--format", "json")
    assert report.code == 0, report.stderr
    rows = {r["tier"]: r for r in orjson.loads(report.stdout)["rows"]}
    assert set(rows) == {"flex", "default"}
    assert rows["flex"]["runs"] == 1 and rows["flex"]["cost_usd"] == pytest.approx(listed / 2)
    assert rows["default"]["cost_usd"] == pytest.approx(listed)
    table = run_rupu("usage", "--group-by", "tier")
    assert table.stdout.splitlines()[0].split()[0] == "TIER"
