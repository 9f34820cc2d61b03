"""`set_model_tier`: an agent with `tiers:` moves the rest of its run to another tier; the switch is in
the transcript and the footer names every model that served."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from tests.conftest import Workspace, run_rupu
from tests.servers.openai_chat import (
    ChatCompletionsServer,
    stream_reply,
    text_stream,
    tool_call_stream,
    usage,
)

ENV = {"RUPU_LITE_API_KEY": "key-lite", "RUPU_BIG_API_KEY": "key-big"}
AGENT = "---\nname: switcher\nmodel: tier:quick\ntiers: [quick, deep]\ntools: []\n---\n\nWork.\n"


def events(workspace: Workspace) -> list[dict[str, Any]]:
    (path,) = (workspace.home / "transcripts").glob("*.jsonl")
    return [orjson.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def tiers(workspace: Workspace) -> Iterator[tuple[ChatCompletionsServer, ChatCompletionsServer]]:
    with (
        ChatCompletionsServer(api_key="key-lite") as lite,
        ChatCompletionsServer(api_key="key-big") as big,
    ):
        workspace.write_config(
            '[routing.tiers]\nquick = ["lite:small"]\ndeep = ["big:large"]\n'
            f'[providers.lite]\nbase_url = "{lite.base_url}"\n'
            f'[providers.big]\nbase_url = "{big.base_url}"\n'
        )
        yield lite, big


def test_agent_moves_the_rest_of_its_run_to_another_tier(
    workspace: Workspace, tiers: tuple[ChatCompletionsServer, ChatCompletionsServer]
) -> None:
    lite, big = tiers
    workspace.write_agent("switcher", AGENT)
    call = ("call_1", "set_model_tier", {"tier": "deep", "reason": "the proof is hard"})
    lite.script.append(stream_reply(tool_call_stream([call], model="small")))
    big.script.append(stream_reply(text_stream(["Proved."], model="large", with_usage=usage())))
    result = run_rupu("run", "--agent", "switcher", "prove it", env=ENV)
    assert result.code == 0, result.stderr
    assert result.stdout == "Proved.\n"
    assert "── big · large · api-key from env RUPU_BIG_API_KEY" in result.stderr
    assert "models: lite:small → big:large" in result.stderr

    offered = lite.requests[0].body["tools"]
    assert [t["function"]["name"] for t in offered] == ["set_model_tier"]
    assert offered[0]["function"]["parameters"]["properties"]["tier"]["enum"] == ["quick", "deep"]
    assert "deep: big:large" in offered[0]["function"]["description"]
    moved = big.requests[0].body
    assert moved["model"] == "large"
    assert moved["messages"][-1]["role"] == "tool", "the conversation goes with the move"
    assert "rest of this run uses tier deep (big:large)" in moved["messages"][-1]["content"]

    recorded = events(workspace)
    (switch,) = [e["data"] for e in recorded if e["type"] == "tier_switch"]
    assert switch == {
        "turn_idx": 0,
        "from_tier": "quick",
        "to_tier": "deep",
        "from_provider": "lite",
        "from_model": "small",
        "to_provider": "big",
        "to_model": "large",
        "credential": "api-key from env RUPU_BIG_API_KEY",
        "reason": "the proof is hard",
    }
    served = [(e["data"]["provider"], e["data"]["model"]) for e in recorded if e["type"] == "usage"]
    assert served == [("lite", "small"), ("big", "large")]
    assert "key-big" not in str(recorded) and "key-big" not in result.output


def test_json_summary_lists_every_model_that_served(
    workspace: Workspace, tiers: tuple[ChatCompletionsServer, ChatCompletionsServer]
) -> None:
    lite, big = tiers
    workspace.write_agent("switcher", AGENT)
    lite.script.append(
        stream_reply(tool_call_stream([("c1", "set_model_tier", {"tier": "deep"})], model="small"))
    )
    big.script.append(stream_reply(text_stream(["ok"], model="large", with_usage=usage())))
    result = run_rupu("run", "--agent", "switcher", "go", "--format", "json", env=ENV)
    assert result.code == 0, result.stderr
    summary = orjson.loads(result.stdout)
    assert [(m["provider"], m["model"]) for m in summary["models_served"]] == [
        ("lite", "small"),
        ("big", "large"),
    ]


def test_a_tier_without_a_credential_is_offered_as_unavailable(
    workspace: Workspace, tiers: tuple[ChatCompletionsServer, ChatCompletionsServer]
) -> None:
    lite, big = tiers
    workspace.write_agent("switcher", AGENT)
    lite.script.append(
        stream_reply(tool_call_stream([("c1", "set_model_tier", {"tier": "deep"})], model="small"))
    )
    lite.script.append(stream_reply(text_stream(["stayed"], model="small", with_usage=usage())))
    result = run_rupu("run", "--agent", "switcher", "go", env={"RUPU_LITE_API_KEY": "key-lite"})
    assert result.code == 0, result.stderr
    assert result.stdout == "stayed\n"
    assert "models:" not in result.stderr and not big.requests
    (tool,) = lite.requests[0].body["tools"]
    assert (
        "deep: unavailable (no model of tier 'deep' is available" in tool["function"]["description"]
    )
    answer = lite.requests[1].body["messages"][-1]["content"]
    assert answer.startswith("error: tier deep cannot be used in this run")


def test_unknown_tier_in_tiers_fails_before_anything_is_sent(
    workspace: Workspace, tiers: tuple[ChatCompletionsServer, ChatCompletionsServer]
) -> None:
    lite, _ = tiers
    workspace.write_agent("switcher", AGENT.replace("[quick, deep]", "[quick, deeep]"))
    result = run_rupu("run", "--agent", "switcher", "go", env=ENV)
    assert result.code == 2
    assert "unknown tier 'deeep' (did you mean 'deep'?)" in result.stderr
    assert not lite.requests


def test_tiers_must_be_names(workspace: Workspace) -> None:
    workspace.write_agent("switcher", AGENT.replace("[quick, deep]", "[tier:quick]"))
    result = run_rupu("run", "--agent", "switcher", "go", env=ENV)
    assert result.code == 2
    assert "'tier:quick' is not a tier name (write fast, not tier:fast)" in result.stderr


def test_moving_there_and_back_lists_each_stretch(
    workspace: Workspace, tiers: tuple[ChatCompletionsServer, ChatCompletionsServer]
) -> None:
    lite, big = tiers
    workspace.write_agent("switcher", AGENT)
    lite.script.append(
        stream_reply(tool_call_stream([("c1", "set_model_tier", {"tier": "deep"})], model="small"))
    )
    big.script.append(
        stream_reply(tool_call_stream([("c2", "set_model_tier", {"tier": "quick"})], model="large"))
    )
    lite.script.append(stream_reply(text_stream(["back"], model="small", with_usage=usage())))
    result = run_rupu("run", "--agent", "switcher", "go", env=ENV)
    assert result.code == 0, result.stderr
    assert "── lite · small · api-key from env RUPU_LITE_API_KEY" in result.stderr
    assert "models: lite:small → big:large → lite:small" in result.stderr
    switches = [e["data"] for e in events(workspace) if e["type"] == "tier_switch"]
    assert [(s["from_tier"], s["to_tier"], s["turn_idx"]) for s in switches] == [
        ("quick", "deep", 0),
        ("deep", "quick", 1),
    ]
