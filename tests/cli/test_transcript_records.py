"""Issue 11 §9: transcripts record the user's prompt (and `transcript show` displays it), `transcript
list --format json`, and an agent that asks for `web_search` without a search key gets the documented
note, in the record and as the tool's result."""

from __future__ import annotations

import orjson
import pytest

from tests.conftest import Workspace, run_rupu

NOTE = "web_search is unavailable: set BRAVE_API_KEY, TAVILY_API_KEY or SERPER_API_KEY"


@pytest.fixture
def searcher(workspace: Workspace) -> None:
    script = workspace.home / "script.yaml"
    script.write_text(
        "- tool_calls: [{name: web_search, arguments: {query: rupu}}]\n- text: nothing found\n"
    )
    workspace.write_config(f'[providers.mock]\nscript = "{script}"\n')
    workspace.write_agent(
        "searcher", "---\nname: searcher\nprovider: mock\ntools: [web_search]\n---\nSearch.\n"
    )


def events(workspace: Workspace) -> list[dict[str, object]]:
    (path,) = (workspace.home / "transcripts").glob("run_*.jsonl")
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def data(event: dict[str, object]) -> dict[str, object]:
    value = event["data"]
    assert isinstance(value, dict)
    return value


def test_a_keyless_web_search_leaves_the_documented_note(
    workspace: Workspace, searcher: None
) -> None:
    result = run_rupu("run", "--agent", "searcher", "look up rupu")
    assert result.code == 0, result.output
    assert result.stdout.strip() == "nothing found"
    found = events(workspace)
    (audit,) = [e for e in found if e["type"] == "tool_audit"]
    assert data(audit)["notes"] == [NOTE]
    assert data(audit)["tools"] == []
    (answer,) = [e for e in found if e["type"] == "tool_result"]
    assert data(answer)["output"] == f"error: {NOTE}"
    assert data(answer)["is_error"] is True


def test_a_keyless_web_search_in_a_workflow_step_leaves_the_note(
    workspace: Workspace, searcher: None
) -> None:
    flows = workspace.home / "workflows"
    flows.mkdir()
    (flows / "look.yaml").write_text(
        "name: look\nsteps:\n  - id: find\n    agent: searcher\n    prompt: look up rupu\n"
    )
    done = run_rupu("workflow", "run", "look", "--format", "json")
    assert done.code == 0, done.output
    run_id = orjson.loads(done.stdout.splitlines()[-1])["run_id"]
    path = workspace.home / "runs" / run_id / "transcripts" / "find.0.jsonl"
    lines = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    assert [data(e)["notes"] for e in lines if e["type"] == "tool_audit"] == [[NOTE]]
    assert [data(e)["text"] for e in lines if e["type"] == "user_prompt"] == ["look up rupu"]
    assert [data(e)["output"] for e in lines if e["type"] == "tool_result"] == [f"error: {NOTE}"]


def test_the_transcript_starts_with_the_user_prompt(workspace: Workspace) -> None:
    workspace.write_agent("echo", "---\nname: echo\nprovider: mock\ntools: []\n---\nEcho.\n")
    prompt = "say: the quick brown fox"
    assert run_rupu("run", "--agent", "echo", prompt).code == 0
    found = events(workspace)
    assert [e["type"] for e in found[:2]] == ["run_start", "user_prompt"]
    assert data(found[1]) == {"text": prompt}
    run_id = found[0]["data"]["run_id"]  # type: ignore[index]
    shown = run_rupu("transcript", "show", str(run_id))
    assert shown.code == 0, shown.output
    lines = shown.stdout.splitlines()
    assert lines[1] == f"[user] {prompt}"
    assert lines.index(f"[user] {prompt}") < lines.index(f"[assistant] {prompt}")


def test_transcript_list_as_json(workspace: Workspace) -> None:
    empty = run_rupu("transcript", "list", "--format", "json")
    assert empty.code == 0, empty.output
    assert orjson.loads(empty.stdout) == {"transcripts": []}
    workspace.write_agent("echo", "---\nname: echo\nprovider: mock\n---\nEcho.\n")
    assert run_rupu("run", "--agent", "echo", "first words").code == 0
    assert run_rupu("run", "--agent", "echo", "second words").code == 0
    listed = run_rupu("transcript", "list", "--format", "json", "--limit", "5")
    assert listed.code == 0, listed.output
    items = orjson.loads(listed.stdout)["transcripts"]
    assert [i["prompt"] for i in items] == ["second words", "first words"]
    for item in items:
        assert (item["agent"], item["provider"], item["model"], item["status"]) == (
            "echo",
            "mock",
            "echo",
            "ok",
        )
        assert item["total_tokens"] > 0
        assert item["path"] == str(workspace.home / "transcripts" / f"{item['run_id']}.jsonl")
        assert isinstance(item["started"], float)
    table = run_rupu("transcript", "list")
    assert items[0]["run_id"] in table.stdout
