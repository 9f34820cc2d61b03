"""`rupu.api` runs agents like `rupu run` does: by name, by path or built in code, on the offline mock
provider; the transcript is written, tools follow the permission mode (never prompting), a failed
run raises its error, and `stream_agent` hands over the events the CLI renders."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

import rupu
from rupu.api import Agent, Session, load_agent, run_agent, stream_agent
from rupu.errors import ConfigError, ProviderError
from rupu.messages import TextDelta
from tests.conftest import Workspace

pytestmark = pytest.mark.anyio

HELLO = "---\nname: hello\nprovider: mock\n---\nYou greet.\n"
WRITE = """\
- tool_calls: [{name: write_file, arguments: {path: out.txt, content: written by the api}}]
- text: done
"""


def records(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def scripted(workspace: Workspace, script: str) -> None:
    path = workspace.project / "script.yaml"
    path.write_text(script)
    workspace.write_config(f'[providers.mock]\nscript = "{path}"\n')


async def test_an_agent_by_name_answers_and_leaves_a_transcript(workspace: Workspace) -> None:
    workspace.write_agent("hello", HELLO)
    result = await run_agent("hello", "good morning")
    assert (result.status, result.text, str(result)) == ("ok", "good morning", "good morning")
    assert (result.target.provider, result.target.model) == ("mock", "echo")
    assert result.usage.output_tokens == 2
    assert result.transcript.parent == workspace.home / "transcripts"
    kinds = [r["type"] for r in records(result.transcript)]
    assert kinds[0] == "run_start" and kinds[-1] == "run_complete"


async def test_an_agent_by_path_and_the_lazy_package_names(workspace: Workspace) -> None:
    (workspace.project / "greeter.md").write_text(HELLO)
    result = await rupu.run_agent("greeter.md", "hi", model="echo")
    assert result.text == "hi"
    assert load_agent("greeter.md").path == workspace.project / "greeter.md"


async def test_an_agent_built_in_code_runs_without_a_file(workspace: Workspace) -> None:
    agent = Agent("coder", provider="mock", system_prompt="You code.", tools=[], max_turns=2)
    assert agent.frontmatter.max_turns == 2 and agent.frontmatter.tools == []
    result = await run_agent(agent, "print hello")
    assert result.text == "print hello" and result.agent == "coder"
    start = records(result.transcript)[0]["data"]
    assert start["agent"] == "coder"


def test_an_agent_built_in_code_is_checked_like_a_file() -> None:
    with pytest.raises(ConfigError, match=r"unknown key 'maxTurn' \(did you mean 'maxTurns'\?\)"):
        Agent("coder", provider="mock", maxTurn=2)
    with pytest.raises(ConfigError, match=r"permission_mode.*must be one of"):
        Agent("coder", permission_mode="everything")


async def test_an_unknown_agent_fails_before_anything_runs(workspace: Workspace) -> None:
    workspace.write_agent("hello", HELLO)
    with pytest.raises(ConfigError, match="no agent named 'helo' \\(did you mean 'hello'\\?\\)"):
        await run_agent("helo", "hi")
    assert not (workspace.home / "transcripts").exists()


@pytest.mark.parametrize(("mode", "written"), [(None, False), ("bypass", True)])
async def test_tools_follow_the_mode_and_never_prompt(
    workspace: Workspace, mode: str | None, written: bool
) -> None:
    scripted(workspace, WRITE)
    agent = Agent("scribe", provider="mock", system_prompt="Write.")
    result = await run_agent(
        agent, "write it", tools=["write_file"], mode=mode, workspace=workspace.project
    )
    assert result.text == "done"
    out = workspace.project / "out.txt"
    assert out.exists() is written
    if written:
        assert out.read_text() == "written by the api"


async def test_tools_none_means_the_model_gets_no_tool_box(workspace: Workspace) -> None:
    scripted(workspace, WRITE)
    agent = Agent("scribe", provider="mock", system_prompt="Write.", tools=["write_file"])
    result = await run_agent(agent, "write it", tools=[], mode="bypass")
    assert result.status == "ok" and len(result.turns) == 1
    assert not (workspace.project / "out.txt").exists()


async def test_a_failed_run_raises_its_error_and_keeps_the_transcript(
    workspace: Workspace,
) -> None:
    scripted(workspace, "- error: {message: the model is tired, status: 400, type: tired}\n")
    with pytest.raises(ProviderError, match="the model is tired"):
        await run_agent(Agent("tired", provider="mock"), "hi")
    (transcript,) = (workspace.home / "transcripts").glob("*.jsonl")
    complete = records(transcript)[-1]["data"]
    assert complete["status"] == "error"


async def test_stream_agent_hands_over_the_events_the_cli_renders(workspace: Workspace) -> None:
    workspace.write_agent("hello", HELLO)
    kinds: list[str] = []
    text = ""
    async with stream_agent("hello", "one two three") as stream:
        async for event in stream:
            kinds.append(event.kind)
            if isinstance(event, TextDelta):
                text += event.text
    assert text == "one two three" == stream.result.text
    assert kinds[0] == "response_started" and kinds[-1] == "response_finished"
    assert "usage_reported" in kinds


async def test_stream_agent_raises_the_error_when_the_block_ends(workspace: Workspace) -> None:
    scripted(workspace, "- error: {message: the model is tired, status: 400, type: tired}\n")
    seen: list[str] = []
    with pytest.raises(ProviderError, match="the model is tired"):
        async with stream_agent(Agent("tired", provider="mock"), "hi") as stream:
            seen.extend([event.kind async for event in stream])
    with pytest.raises(RuntimeError, match="has not finished"):
        _ = stream.result


async def test_a_session_fixes_home_and_directory(workspace: Workspace, tmp_path: Path) -> None:
    other = tmp_path / "other-home"
    other.mkdir()
    (other / "agents").mkdir()
    (other / "agents" / "hello.md").write_text(HELLO)
    session = Session.from_environment(cwd=workspace.project, env={"RUPU_HOME": str(other)})
    result = await run_agent("hello", "hi", session=session)
    assert result.transcript.parent == other / "transcripts"
    assert not (workspace.home / "transcripts").exists()


async def test_leaving_a_stream_early_cancels_the_run_and_keeps_your_error(
    workspace: Workspace,
) -> None:
    scripted(workspace, "- {text: too late, delay_ms: 30000}\n")
    slow = Agent("slow", provider="mock")
    with pytest.raises(KeyError, match="mine"):
        async with stream_agent(slow, "hi") as stream:
            async for _ in stream:
                raise KeyError("mine")
    async with stream_agent(slow, "hi") as stream:
        async for event in stream:
            assert event.kind == "response_started"
            break
    transcripts = sorted((workspace.home / "transcripts").glob("*.jsonl"))
    assert len(transcripts) == 2
    for transcript in transcripts:
        assert records(transcript)[-1]["data"]["status"] == "aborted"


async def test_a_prepared_run_runs_once(workspace: Workspace) -> None:
    from rupu.api import prepare_agent

    session = Session.from_environment()
    prepared = prepare_agent(session, Agent("once", provider="mock"))
    assert (await prepared.run("first")).text == "first"
    with pytest.raises(RuntimeError, match="already ran"):
        await prepared.run("second")
