"""Acceptance 4: costs in transcripts and `rupu usage` match hand-computed values for each provider's
usage shape.

Each provider's raw usage (two turns: a tool call, then the answer) is normalised as the provider
would (tests/catalog/usage_shapes.py) and played by the real mock provider under the provider's name,
so the agent loop prices it exactly as a live run would. The expected figures are worked out by hand
in the comments.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from rupu.agents.loop import AgentRun
from rupu.agents.spec import load_agent_file
from rupu.catalog.catalog import ModelCatalog
from rupu.catalog.pricing import pricer
from rupu.config import ProviderConfig, load_config
from rupu.messages import AssistantTurn, Message, ToolResultPart, ToolSpec, Usage
from rupu.paths import Paths
from rupu.providers.base import ProviderSetup
from rupu.providers.mock import MockProvider
from rupu.routing.target import RunTarget
from rupu.transcripts import TranscriptWriter, read_events
from tests.catalog.usage_shapes import anthropic_usage, chat_usage, gemini_usage, responses_usage
from tests.conftest import Workspace, run_rupu
from tests.servers.openai_chat import ChatCompletionsServer, stream_reply, text_stream, usage

CONFIG = """
[providers.oracle]
base_url = "http://127.0.0.1:9/v1"

[pricing.oracle."glm-5"]
input = 0.6
output = 2.2
cache_read = 0.11
"""

# provider, model, (turn 1 usage, turn 2 usage), (turn 1 cost, turn 2 cost)
CASES: list[tuple[str, str, tuple[Usage, Usage], tuple[float, float]]] = [
    (
        # claude-sonnet-4-6: $3 in, $15 out, $0.30 cache read, $3.75 cache write per MTok.
        # 1200·3 + 30000·0.3 + 2000·3.75 + 400·15 = 3600 + 9000 + 7500 + 6000 = 26100 µ$
        # 300·3 + 32000·0.3 + 0 + 900·15 = 900 + 9600 + 13500 = 24000 µ$
        "anthropic",
        "claude-sonnet-4-6",
        (
            anthropic_usage(
                {
                    "input_tokens": 1200,
                    "cache_read_input_tokens": 30000,
                    "cache_creation_input_tokens": 2000,
                    "output_tokens": 400,
                }
            ),
            anthropic_usage(
                {"input_tokens": 300, "cache_read_input_tokens": 32000, "output_tokens": 900}
            ),
        ),
        (0.0261, 0.024),
    ),
    (
        # gpt-5: $1.25 in, $10 out, $0.125 cached. Cached tokens are inside input_tokens and
        # reasoning inside output_tokens, so each is billed once:
        # (40000-32000)·1.25 + 32000·0.125 + 3000·10 = 10000 + 4000 + 30000 = 44000 µ$
        # (45000-40000)·1.25 + 40000·0.125 + 1000·10 = 6250 + 5000 + 10000 = 21250 µ$
        "openai",
        "gpt-5",
        (
            responses_usage(
                {
                    "input_tokens": 40000,
                    "input_tokens_details": {"cached_tokens": 32000},
                    "output_tokens": 3000,
                    "output_tokens_details": {"reasoning_tokens": 2000},
                }
            ),
            responses_usage(
                {
                    "input_tokens": 45000,
                    "input_tokens_details": {"cached_tokens": 40000},
                    "output_tokens": 1000,
                }
            ),
        ),
        (0.044, 0.02125),
    ),
    (
        # gemini-2.5-pro: $1.25 in, $10 out, $0.125 cached. Thoughts are outside the candidates and
        # billed as output:
        # (50000-20000)·1.25 + 20000·0.125 + (1000+3000)·10 = 37500 + 2500 + 40000 = 80000 µ$
        # (52000-48000)·1.25 + 48000·0.125 + 500·10 = 5000 + 6000 + 5000 = 16000 µ$
        "gemini",
        "gemini-2.5-pro",
        (
            gemini_usage(
                {
                    "promptTokenCount": 50000,
                    "cachedContentTokenCount": 20000,
                    "candidatesTokenCount": 1000,
                    "thoughtsTokenCount": 3000,
                }
            ),
            gemini_usage(
                {
                    "promptTokenCount": 52000,
                    "cachedContentTokenCount": 48000,
                    "candidatesTokenCount": 500,
                }
            ),
        ),
        (0.08, 0.016),
    ),
    (
        # Copilot bills the subscription, not tokens: $0.
        "copilot",
        "claude-sonnet-4.6",
        (
            chat_usage({"prompt_tokens": 9000, "completion_tokens": 700}),
            chat_usage({"prompt_tokens": 9900, "completion_tokens": 300}),
        ),
        (0.0, 0.0),
    ),
    (
        # A declared provider priced in config: $0.60 in, $2.20 out, $0.11 cached:
        # (10000-4000)·0.6 + 4000·0.11 + 500·2.2 = 3600 + 440 + 1100 = 5140 µ$
        # (12000-10000)·0.6 + 10000·0.11 + 200·2.2 = 1200 + 1100 + 440 = 2740 µ$
        "oracle",
        "glm-5",
        (
            chat_usage(
                {
                    "prompt_tokens": 10000,
                    "completion_tokens": 500,
                    "prompt_tokens_details": {"cached_tokens": 4000},
                }
            ),
            chat_usage(
                {
                    "prompt_tokens": 12000,
                    "completion_tokens": 200,
                    "prompt_tokens_details": {"cached_tokens": 10000},
                }
            ),
        ),
        (0.00514, 0.00274),
    ),
]


class NoopTools:
    def __init__(self) -> None:
        self.specs = [ToolSpec("noop", "Does nothing.", {"type": "object", "properties": {}})]

    async def run_calls(self, turn: AssistantTurn, transcript: TranscriptWriter) -> Message:
        return Message(
            "user", [ToolResultPart(c.call_id, c.name, "ok") for c in turn.message.tool_calls()]
        )

    def audit(self) -> dict[str, Any]:
        return {"tools": ["noop"]}


def script_for(path: Path, usages: tuple[Usage, Usage]) -> Path:
    fields = (
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "reasoning_tokens",
    )
    turns: list[dict[str, Any]] = [
        {"tool_calls": [{"name": "noop"}], "usage": {f: getattr(usages[0], f) for f in fields}},
        {"text": "done", "usage": {f: getattr(usages[1], f) for f in fields}},
    ]
    path.write_text(yaml.safe_dump(turns))
    return path


async def run_case(
    workspace: Workspace, provider: str, model: str, usages: tuple[Usage, Usage]
) -> Path:
    paths = Paths(home=workspace.home, project=None, cwd=workspace.project)
    loaded = load_config(paths)
    agent = workspace.write_agent(
        f"{provider}-agent",
        f"---\nname: {provider}-agent\nprovider: {provider}\nmodel: {model}\n---\nWork.\n",
    )
    script = script_for(workspace.project / f"{provider}.yaml", usages)
    run_id = f"run_{provider.upper()}"
    transcript = TranscriptWriter(paths.transcripts / f"{run_id}.jsonl")
    try:
        result = await AgentRun(
            run_id=run_id,
            spec=load_agent_file(agent, "global"),
            target=RunTarget(provider, provider, model),
            provider=MockProvider(
                ProviderSetup(provider, "mock", ProviderConfig(script=str(script)), None)
            ),
            transcript=transcript,
            credential="test",
            tools=NoopTools(),
            pricing=pricer(ModelCatalog(loaded, paths).price(provider, model)),
        ).run("go")
    finally:
        transcript.close()
    assert result.status == "ok", result.error
    assert len(result.turns) == 2
    return transcript.path


@pytest.mark.anyio
async def test_costs_in_transcripts_and_usage_match_hand_computed_values(
    workspace: Workspace,
) -> None:
    workspace.write_config(CONFIG)
    for provider, model, usages, costs in CASES:
        path = await run_case(workspace, provider, model, usages)
        events = list(read_events(path))
        recorded = [e["data"]["cost_usd"] for e in events if e["type"] == "usage"]
        assert recorded == pytest.approx(list(costs), abs=1e-12), provider
        [complete] = [e["data"] for e in events if e["type"] == "run_complete"]
        assert complete["cost_usd"] == pytest.approx(sum(costs), abs=1e-12), provider

    report = run_rupu("usage", "--group-by", "model", "--format", "json")
    assert report.code == 0, report.stderr
    payload = orjson.loads(report.stdout)
    rows = {(r["provider"], r["model"]): r for r in payload["rows"]}
    for provider, model, usages, costs in CASES:
        row = rows[(provider, model)]
        assert row["cost_usd"] == pytest.approx(sum(costs), abs=1e-12), provider
        assert (row["runs"], row["calls"]) == (1, 2)
        assert row["input_tokens"] == usages[0].input_tokens + usages[1].input_tokens
        assert row["cache_read_tokens"] == usages[0].cache_read_tokens + usages[1].cache_read_tokens
        assert row["output_tokens"] == usages[0].output_tokens + usages[1].output_tokens
    # 0.0501 + 0.06525 + 0.096 + 0 + 0.00788
    assert payload["total"]["cost_usd"] == pytest.approx(0.21923, abs=1e-12)
    assert payload["total"]["unpriced_calls"] == 0
    # Sorted by cost, largest first.
    assert [r["provider"] for r in payload["rows"]] == [
        "gemini",
        "openai",
        "anthropic",
        "oracle",
        "copilot",
    ]

    by_provider = orjson.loads(
        run_rupu("usage", "--group-by", "provider", "--format", "json").stdout
    )
    assert {r["provider"]: r["cost_usd"] for r in by_provider["rows"]} == pytest.approx(
        {"gemini": 0.096, "openai": 0.06525, "anthropic": 0.0501, "oracle": 0.00788, "copilot": 0.0}
    )
    table = run_rupu("usage", "--group-by", "provider")
    assert table.code == 0, table.stderr
    lines = [line.split() for line in table.stdout.strip().splitlines()]
    assert lines[0] == [
        "PROVIDER",
        "RUNS",
        "CALLS",
        "INPUT",
        "CACHE",
        "READ",
        "CACHE",
        "WRITE",
        "OUTPUT",
        "COST",
    ]
    assert lines[1] == ["gemini", "1", "2", "34,000", "68,000", "0", "4,500", "$0.0960"]
    assert lines[-1] == ["TOTAL", "5", "10", "75,400", "216,000", "2,000", "11,500", "$0.2192"]


def write_transcript(path: Path, events: list[tuple[str, float, dict[str, Any]]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        b"".join(orjson.dumps({"type": t, "ts": ts, "data": d}) + b"\n" for t, ts, d in events)
    )


def usage_event(
    provider: str, model: str, ts: float, **tokens: Any
) -> tuple[str, float, dict[str, Any]]:
    return ("usage", ts, {"provider": provider, "model": model, "reported": True, **tokens})


def test_workflow_runs_legacy_and_unpriced_usage(workspace: Workspace) -> None:
    now = time.time()
    old = now - 30 * 86400
    workspace.write_config(CONFIG)
    # A standalone run recorded before costs were stored: priced on reading.
    # claude-haiku-4-5: 2000·1 + 1000·5 = 7000 µ$
    write_transcript(
        workspace.home / "transcripts" / "run_LEGACY.jsonl",
        [
            (
                "run_start",
                now,
                {
                    "run_id": "run_LEGACY",
                    "agent": "helper",
                    "provider": "anthropic",
                    "model": "claude-haiku-4-5",
                },
            ),
            usage_event(
                "anthropic", "claude-haiku-4-5", now, input_tokens=2000, output_tokens=1000
            ),
            ("run_complete", now, {"status": "ok"}),
        ],
    )
    # A workflow run with two step transcripts, one of them a month old.
    run_dir = workspace.home / "runs" / "run_WF1"
    run_dir.mkdir(parents=True)
    (run_dir / "run.json").write_text('{"workflow": "review", "status": "completed"}')
    (run_dir / "events.jsonl").write_text('{"type": "step_started", "data": {"step": "plan"}}\n')
    write_transcript(
        run_dir / "steps" / "plan.jsonl",
        [
            (
                "run_start",
                now,
                {
                    "run_id": "run_WF1_plan",
                    "agent": "planner",
                    "provider": "openai",
                    "model": "gpt-5-mini",
                },
            ),
            usage_event(
                "openai", "gpt-5-mini", now, input_tokens=10000, output_tokens=2000, cost_usd=0.0065
            ),
        ],
    )
    write_transcript(
        run_dir / "steps" / "old.jsonl",
        [
            (
                "run_start",
                old,
                {
                    "run_id": "run_WF1_old",
                    "agent": "planner",
                    "provider": "openai",
                    "model": "gpt-5-mini",
                },
            ),
            usage_event("openai", "gpt-5-mini", old, input_tokens=1, output_tokens=1, cost_usd=5.0),
        ],
    )
    # An unknown model that was let through: no price.
    write_transcript(
        workspace.home / "transcripts" / "run_NEW.jsonl",
        [
            (
                "run_start",
                now,
                {
                    "run_id": "run_NEW",
                    "agent": "helper",
                    "provider": "anthropic",
                    "model": "claude-next",
                },
            ),
            usage_event(
                "anthropic", "claude-next", now, input_tokens=100, output_tokens=10, cost_usd=None
            ),
        ],
    )

    result = run_rupu("usage", "--group-by", "workflow", "--since", "7d", "--format", "json")
    assert result.code == 0, result.stderr
    payload = orjson.loads(result.stdout)
    rows = {r["workflow"]: r for r in payload["rows"]}
    assert rows["review"]["cost_usd"] == pytest.approx(0.0065)
    assert rows["review"]["calls"] == 1  # the month-old step is outside --since 7d
    assert rows["-"]["cost_usd"] == pytest.approx(0.007)
    assert rows["-"]["unpriced_calls"] == 1
    assert payload["unpriced"] == [{"provider": "anthropic", "model": "claude-next"}]

    everything = orjson.loads(
        run_rupu("usage", "--group-by", "workflow", "--format", "json").stdout
    )
    assert {r["workflow"]: r["calls"] for r in everything["rows"]} == {"review": 2, "-": 2}
    # RUNS counts runs: the workflow run with two unit transcripts is one run.
    assert {r["workflow"]: r["runs"] for r in everything["rows"]} == {"review": 1, "-": 2}
    assert everything["total"]["runs"] == 3

    table = run_rupu("usage", "--group-by", "day", "--since", "7d", env={"TZ": "UTC"})
    assert table.code == 0, table.stderr
    today = time.strftime("%Y-%m-%d", time.gmtime(now))
    assert table.stdout.splitlines()[1].split()[0] == today
    assert table.stdout.splitlines()[1].split()[-1] == "$0.0135*"
    assert '[pricing.anthropic."claude-next"]' in table.stderr

    csv_out = run_rupu("usage", "--group-by", "agent", "--format", "csv", "--since", "7d")
    assert csv_out.stdout.splitlines()[0] == (
        "agent,runs,calls,input_tokens,cache_read_tokens,cache_write_tokens,output_tokens,"
        "reasoning_tokens,cost_usd,unpriced_calls"
    )
    assert "planner,1,1,10000,0,0,2000,0,0.0065,0" in csv_out.stdout


def test_usage_with_nothing_recorded_and_bad_since(workspace: Workspace) -> None:
    empty = run_rupu("usage")
    assert empty.code == 0
    assert "no usage recorded" in empty.stderr
    bad = run_rupu("usage", "--since", "last week")
    assert bad.code == 2
    assert "invalid --since 'last week'" in bad.stderr


def test_run_footer_and_transcript_show_the_cost(workspace: Workspace) -> None:
    """The chat-completions usage shape through the real provider: prompt_tokens include the cached
    tokens. (10000-4000)·0.6 + 4000·0.11 + 500·2.2 = 5140 µ$ = $0.0051."""
    with ChatCompletionsServer(api_key="k-oracle") as server:
        workspace.write_config(CONFIG.replace("http://127.0.0.1:9/v1", server.base_url))
        workspace.write_agent(
            "coder", "---\nname: coder\nprovider: oracle\nmodel: glm-5\n---\nYou code.\n"
        )
        server.script.append(
            stream_reply(text_stream(["ok"], with_usage=usage(10000, 500, cached=4000)))
        )
        result = run_rupu("run", "--agent", "coder", "hi", env={"RUPU_ORACLE_API_KEY": "k-oracle"})
        as_json = None
        server.script.append(
            stream_reply(text_stream(["ok"], with_usage=usage(10000, 500, cached=4000)))
        )
        as_json = run_rupu(
            "run",
            "--agent",
            "coder",
            "--format",
            "json",
            "hi",
            env={"RUPU_ORACLE_API_KEY": "k-oracle"},
        )
    assert result.code == 0, result.stderr
    assert "6000 in" not in result.stderr
    assert " · $0.0051 · " in result.stderr
    assert orjson.loads(as_json.stdout)["cost_usd"] == pytest.approx(0.00514)
    [transcript] = sorted((workspace.home / "transcripts").glob("run_*.jsonl"))[:1]
    events = list(read_events(transcript))
    [usage_data] = [e["data"] for e in events if e["type"] == "usage"]
    assert usage_data["cost_usd"] == pytest.approx(0.00514)
    assert (usage_data["input_tokens"], usage_data["cache_read_tokens"]) == (6000, 4000)
    report = orjson.loads(run_rupu("usage", "--format", "json").stdout)
    assert report["total"]["cost_usd"] == pytest.approx(2 * 0.00514)
