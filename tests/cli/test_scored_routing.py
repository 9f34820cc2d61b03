"""Tiers ranked by what runs observed: a slow candidate and a rate-limited one lose to a fast one
until the rate limit resets; `rupu models routes` shows the scores and why. Time is a `FakeClock`
that the loopback servers move forward while they "think"."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import orjson
import pytest

from rupu.testing import CliRunner, FakeClock, use_clock
from tests.conftest import Workspace
from tests.servers.base import RecordedRequest, Reply
from tests.servers.openai_chat import ChatCompletionsServer, error_reply, stream_reply, text_stream

NAMES = ("slow", "limited", "fast")
ENV = {f"RUPU_{n.upper()}_API_KEY": f"key-{n}" for n in NAMES}


def answer(clock: FakeClock, seconds: float, text: str) -> Callable[[RecordedRequest], Reply]:
    """A reply whose first token comes `seconds` after the request, on `clock`."""

    def reply(_: RecordedRequest) -> Reply:
        clock.advance(seconds)
        return stream_reply(text_stream([text], model="m"))

    return reply


@pytest.fixture
def servers(workspace: Workspace) -> Iterator[dict[str, ChatCompletionsServer]]:
    with (
        ChatCompletionsServer(api_key="key-slow") as slow,
        ChatCompletionsServer(api_key="key-limited") as limited,
        ChatCompletionsServer(api_key="key-fast") as fast,
    ):
        found = {"slow": slow, "limited": limited, "fast": fast}
        tables = "".join(f'[providers.{n}]\nbase_url = "{s.base_url}"\n' for n, s in found.items())
        workspace.write_config(
            '[routing.tiers]\nquick = ["slow:m", "limited:m", "fast:m"]\n' + tables
        )
        workspace.write_agent("quick", "---\nname: quick\nmodel: tier:quick\n---\n\nHelp.\n")
        yield found


def served(servers: dict[str, ChatCompletionsServer]) -> dict[str, int]:
    return {n: len(s.requests) for n, s in servers.items()}


def test_slow_and_rate_limited_candidates_lose_to_a_fast_one_until_the_reset(
    workspace: Workspace, servers: dict[str, ChatCompletionsServer]
) -> None:
    clock = FakeClock()
    slow, limited, fast = servers["slow"], servers["limited"], servers["fast"]
    with use_clock(clock), CliRunner(home=workspace.home, env=ENV) as rupu:

        def run() -> str:
            result = rupu.invoke(["run", "--agent", "quick", "hi"])
            assert result.exit_code == 0, result.output
            return result.stdout

        # No history: the tier's own order. The first entry answers after 5 s.
        slow.script.append(answer(clock, 5.0, "slowly"))
        assert run() == "slowly\n"
        # slow (5 s) now ranks behind limited and fast (2 s assumed each): limited answers fast.
        limited.script.append(answer(clock, 0.05, "quickly"))
        assert run() == "quickly\n"
        assert served(servers) == {"slow": 1, "limited": 1, "fast": 0}
        # limited is first now; it is rate limited for 300 s, and the turn fails over to fast.
        limited.script.append(
            error_reply(429, "Rate limit reached", "requests", headers={"retry-after": "300"})
        )
        fast.script.append(answer(clock, 0.2, "covered"))
        assert run() == "covered\n"
        # While limited rests, fast serves at once; slow and limited are not asked.
        fast.script.append(answer(clock, 0.2, "again"))
        assert run() == "again\n"
        assert served(servers) == {"slow": 1, "limited": 2, "fast": 2}

        table = rupu.invoke(["models", "routes", "--tier", "quick"])
        assert table.exit_code == 0, table.output
        lines = [line.split() for line in table.stdout.splitlines()[1:]]
        assert [(row[1], row[2]) for row in lines] == [
            ("1", "fast:m"),
            ("2", "slow:m"),
            ("3", "limited:m"),
        ]
        assert "first token in 200 ms (+0.20 s)" in table.stdout
        assert "first token in 5000 ms (+5.00 s)" in table.stdout
        assert "(300 s more): behind every open candidate" in table.stdout

        # Once the reset passes, limited (50 ms before its 429) is back in front.
        clock.advance(301)
        shown = rupu.invoke(["models", "routes", "--tier", "quick", "--format", "json"])
        rows = orjson.loads(shown.stdout)["rows"]
        assert [(r["rank"], r["provider"]) for r in rows] == [
            (1, "limited"),
            (2, "fast"),
            (3, "slow"),
        ]
        assert rows[0]["rate_limited_for"] == 0
        assert any("(passed)" in why for why in rows[0]["why"])
        limited.script.append(answer(clock, 0.05, "back"))
        assert run() == "back\n"
    assert served(servers) == {"slow": 1, "limited": 3, "fast": 2}
    history = orjson.loads((workspace.home / "routing" / "history.json").read_bytes())
    assert history["models"]["slow:m"]["first_token_ms"] == 5000
    assert history["models"]["limited:m"]["rate_limit_reset"] == pytest.approx(
        history["models"]["limited:m"]["rate_limited_at"] + 300
    )
    assert history["models"]["limited:m"]["error_rate"] == 0, "a rate limit is not an error"


def test_routes_names_entries_that_cannot_serve(workspace: Workspace) -> None:
    workspace.write_config('[routing.tiers]\nquick = ["groq:llama-3.1-8b-instant", "mock:echo"]\n')
    with CliRunner(home=workspace.home) as rupu:
        result = rupu.invoke(["models", "routes", "--tier", "quick"])
    assert result.exit_code == 0, result.output
    first, second = result.stdout.splitlines()[1:]
    assert first.split()[:4] == ["quick", "1", "mock:echo", "2.00"]
    assert "no latency history (+2.00 s assumed)" in first
    assert second.split()[:3] == ["quick", "-", "groq:llama-3.1-8b-instant"]
    assert "skipped: groq: no credential found" in second


def test_unknown_tier_is_a_config_error(workspace: Workspace) -> None:
    with CliRunner(home=workspace.home) as rupu:
        result = rupu.invoke(["models", "routes", "--tier", "fsat"])
    assert result.exit_code == 2
    assert "unknown tier 'fsat' (did you mean 'fast'?)" in result.stderr


def test_a_damaged_history_fails_tier_resolution_but_not_a_plain_run(workspace: Workspace) -> None:
    damaged = workspace.home / "routing" / "history.json"
    damaged.parent.mkdir()
    damaged.write_text("{not json")
    workspace.write_config('[routing.tiers]\nquick = ["mock:echo"]\n')
    workspace.write_agent("plain", "---\nname: plain\nprovider: mock\n---\n\nEcho.\n")
    workspace.write_agent("tiered", "---\nname: tiered\nmodel: tier:quick\n---\n\nEcho.\n")
    with CliRunner(home=workspace.home) as rupu:
        plain = rupu.invoke(["run", "--agent", "plain", "hello"])
        tiered = rupu.invoke(["run", "--agent", "tiered", "hello"])
    assert plain.exit_code == 0, plain.output
    assert tiered.exit_code == 2
    assert f"{damaged}: " in tiered.stderr and "delete the file" in tiered.stderr
    assert "Traceback" not in tiered.output
