"""Fallback chains in workflows: 20 fan-out units whose primary is rate limited fail over to the
secondary; the cooldown keeps later units off the primary; transcripts record each failover."""

from __future__ import annotations

import json
from contextlib import ExitStack

import pytest

from tests.conftest import Workspace, run_rupu
from tests.servers.openai_chat import (
    ChatCompletionsServer,
    error_reply,
    stream_reply,
    text_stream,
    usage,
)

WORKFLOW = """\
name: storm
steps:
  - id: fan
    agent: worker
    for_each: [{items}]
    max_parallel: 4
    prompt: "item {{{{ item }}}}"
{fallback}"""


@pytest.mark.parametrize("where", ["agent", "step", "flag"])
def test_rate_limited_primary_fails_over_and_cools_down(workspace: Workspace, where: str) -> None:
    with ExitStack() as stack:
        primary = stack.enter_context(ChatCompletionsServer(api_key="k-primary"))
        secondary = stack.enter_context(ChatCompletionsServer(api_key="k-secondary"))
        primary.default_reply = lambda _r: error_reply(
            429, "Rate limit reached", "rate_limit_error", headers={"retry-after": "30"}
        )
        secondary.default_reply = lambda _r: stream_reply(
            text_stream(["from secondary"], with_usage=usage(5, 2))
        )
        workspace.write_config(
            f'[providers.alpha]\nbase_url = "{primary.base_url}"\n'
            f'[providers.beta]\nbase_url = "{secondary.base_url}"\n'
        )
        agent_fallback = "fallback: [beta:beta-1]\n" if where == "agent" else ""
        workspace.write_agent(
            "worker",
            f"---\nname: worker\nprovider: alpha\nmodel: alpha-1\n{agent_fallback}---\nWork.\n",
        )
        step_fallback = "    fallback: [beta:beta-1]\n" if where == "step" else ""
        items = ", ".join(str(i) for i in range(20))
        (workspace.project / "storm.yaml").write_text(
            WORKFLOW.format(items=items, fallback=step_fallback)
        )
        args = ["workflow", "run", "storm.yaml", "--format", "json"]
        if where == "flag":
            args += ["--fallback", "beta:beta-1"]
        result = run_rupu(
            *args, env={"RUPU_ALPHA_API_KEY": "k-primary", "RUPU_BETA_API_KEY": "k-secondary"}
        )
    assert result.code == 0, result.stderr
    assert len(secondary.requests) == 20
    assert {r.body["model"] for r in secondary.requests} == {"beta-1"}
    # Only the first wave (at most max_parallel) reached the primary; then it was cooling down.
    assert 1 <= len(primary.requests) <= 4
    transcripts = sorted((workspace.home / "runs").glob("*/transcripts/*.jsonl"))
    assert len(transcripts) == 20
    failovers = 0
    for path in transcripts:
        events = [json.loads(line) for line in path.read_text().splitlines()]
        failovers += sum(1 for e in events if e["type"] == "failover")
        usage_event = next(e for e in events if e["type"] == "usage")["data"]
        assert usage_event["provider"] == "beta"
    assert failovers == 20
