"""`rupu run --agent` on the gemini provider, end to end through a real subprocess: `base_url` points at
the loopback server and the key comes from GEMINI_API_KEY (or GOOGLE_API_KEY)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rupu.transcripts import read_events
from tests.conftest import Workspace, run_rupu
from tests.servers.gemini import GeminiServer
from tests.servers.gemini_streams import (
    error_reply,
    quota_failure,
    signature,
    stream,
    text_chunks,
    usage,
)

KEY = "AIzaSy-canary-gemini-0042"
AGENT = """---
name: scout
description: Answers briefly.
provider: gemini
model: gemini-2.5-flash
effort: low
---

You answer briefly.
"""
THINKING = text_chunks(
    ["Paris", "."],
    thoughts=["The capital of France", " is Paris."],
    thought_sig=signature("t"),
    meta=usage(14, 2, thoughts=9, cached=4),
)


def setup(workspace: Workspace, server: GeminiServer, extra: str = "") -> None:
    workspace.write_config(f'[providers.gemini]\nbase_url = "{server.base_url}"\n{extra}')
    workspace.write_agent("scout", AGENT)


@pytest.mark.parametrize("key_var", ["GEMINI_API_KEY", "GOOGLE_API_KEY"])
def test_run_streams_and_records_the_transcript(workspace: Workspace, key_var: str) -> None:
    with GeminiServer(api_key=KEY) as server:
        setup(workspace, server)
        server.script.append(stream(THINKING))
        result = run_rupu("run", "--agent", "scout", "capital of France?", env={key_var: KEY})
    assert result.code == 0, result.stderr
    assert result.stdout == "Paris.\n"
    assert "thinking: The capital of France is Paris." in result.stderr
    assert "gemini · gemini-2.5-flash (served by gemini-2.5-flash-001)" in result.stderr
    assert f"api-key from env {key_var}" in result.stderr
    assert "14 in · 11 out" in result.stderr
    assert KEY not in result.output
    sent = server.requests[0]
    assert sent.headers["x-goog-api-key"] == KEY
    assert sent.body["generationConfig"] == {
        "thinkingConfig": {"includeThoughts": True, "thinkingBudget": 1024}
    }
    assert sent.body["systemInstruction"] == {"parts": [{"text": "You answer briefly."}]}

    [path] = list((workspace.home / "transcripts").glob("run_*.jsonl"))
    events = list(read_events(path))
    by_type = {e["type"]: e["data"] for e in events}
    assert by_type["run_start"]["provider"] == "gemini"
    assert by_type["run_start"]["model"] == "gemini-2.5-flash"
    assert by_type["usage"] == {
        "provider": "gemini",
        "model": "gemini-2.5-flash",
        "credential": f"api-key from env {key_var}",
        "served_model": "gemini-2.5-flash-001",
        "input_tokens": 10,
        "output_tokens": 11,
        "cache_read_tokens": 4,
        "cache_write_tokens": 0,
        "reasoning_tokens": 9,
        "reported": True,
        # gemini-2.5-flash at $0.30 in, $0.03 cached, $2.50 out (thoughts included) per MTok:
        # 10·0.3 + 4·0.03 + 11·2.5 = 30.62 µ$
        "cost_usd": pytest.approx(30.62e-6),
    }
    assert by_type["turn_end"]["stop_reason"] == "end_turn"
    assert by_type["turn_end"]["raw_reason"] == "STOP"
    assert by_type["assistant_message"]["thinking"] == "The capital of France is Paris."
    assert by_type["run_complete"]["status"] == "ok"
    assert KEY not in path.read_text()


def test_hide_thinking_and_json_output(workspace: Workspace) -> None:
    with GeminiServer(api_key=KEY) as server:
        setup(workspace, server)
        server.script.append(stream(THINKING))
        result = run_rupu(
            "run",
            "--agent",
            "scout",
            "q",
            "--hide-thinking",
            "--format",
            "json",
            env={"GEMINI_API_KEY": KEY},
        )
    assert result.code == 0, result.stderr
    assert "thinking:" not in result.output
    summary = json.loads(result.stdout)
    assert summary["text"] == "Paris."
    assert summary["stop_reason"] == "end_turn"
    assert summary["usage"]["reasoning_tokens"] == 9
    assert Path(summary["transcript"]).is_file()


def test_vertex_route_from_config(workspace: Workspace) -> None:
    with GeminiServer(api_key=KEY, project="acme-ml", region="us-east5", vertex_key=True) as server:
        setup(workspace, server, 'project = "acme-ml"\nregion = "us-east5"\n')
        server.script.append(stream(text_chunks(["from Vertex"])))
        result = run_rupu("run", "--agent", "scout", "hi", env={"GEMINI_API_KEY": KEY})
    assert result.code == 0, result.stderr
    assert result.stdout == "from Vertex\n"
    assert server.requests[0].path.startswith("/v1/projects/acme-ml/locations/us-east5/")


def test_quota_error_exits_3_with_one_clear_line(workspace: Workspace) -> None:
    with GeminiServer(api_key=KEY) as server:
        setup(workspace, server)
        server.script.append(
            error_reply(
                429,
                "You exceeded your current quota, please check your plan and billing details.",
                "RESOURCE_EXHAUSTED",
                details=[quota_failure("GenerateRequestsPerDayPerProjectPerModel-FreeTier")],
            )
        )
        result = run_rupu("run", "--agent", "scout", "hi", env={"GEMINI_API_KEY": KEY})
    assert result.code == 3
    assert "gemini (HTTP 429, RESOURCE_EXHAUSTED)" in result.stderr
    assert "daily quota" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(server.requests) == 1


def test_missing_key_names_both_variables(workspace: Workspace) -> None:
    with GeminiServer() as server:
        setup(workspace, server)
        result = run_rupu("run", "--agent", "scout", "hi")
    assert result.code == 4
    assert "GEMINI_API_KEY" in result.stderr and "GOOGLE_API_KEY" in result.stderr
    assert server.requests == []


def test_custom_provider_of_kind_gemini(workspace: Workspace) -> None:
    """A gateway in front of AI Studio, declared under its own name with kind = "gemini"."""
    with GeminiServer(api_key="gw-key-9") as server:
        workspace.write_config(
            f'[providers.gateway]\nkind = "gemini"\nbase_url = "{server.base_url}/v1beta"\n'
            'default_model = "gemini-2.5-pro"\n'
        )
        workspace.write_agent("scout", AGENT.replace("provider: gemini", "provider: gateway"))
        server.script.append(stream(THINKING))
        result = run_rupu(
            "run",
            "--agent",
            "scout",
            "q",
            "--model",
            "gemini-2.5-pro",
            env={"RUPU_GATEWAY_API_KEY": "gw-key-9"},
        )
    assert result.code == 0, result.stderr
    assert result.stdout == "Paris.\n"
    assert server.requests[0].path == "/v1beta/models/gemini-2.5-pro:streamGenerateContent"
    assert "gateway · gemini-2.5-pro" in result.stderr
