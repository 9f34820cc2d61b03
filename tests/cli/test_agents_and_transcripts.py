"""Acceptance 4 and 5, and README command (1): hello on the mock provider."""

from __future__ import annotations

import json

from tests.conftest import REPO_ROOT, Workspace, run_rupu


def agent(name: str, provider: str, description: str) -> str:
    return f"---\nname: {name}\nprovider: {provider}\ndescription: {description}\n---\nPrompt of {name}.\n"


def test_agent_list_project_shadows_global_and_lists_broken(workspace: Workspace) -> None:
    workspace.write_agent("reviewer", agent("reviewer", "mock", "global reviewer"))
    workspace.write_agent("planner", agent("planner", "mock", "global planner"))
    workspace.write_agent("reviewer", agent("reviewer", "mock", "project reviewer"), project=True)
    broken = workspace.write_agent(
        "broken", "---\nname: broken\nmaxTurns: many\n---\nx\n", project=True
    )
    result = run_rupu("agent", "list")
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NAME", "SCOPE", "PROVIDER", "MODEL", "DESCRIPTION"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert set(rows) == {"planner", "reviewer"}
    assert "project" in rows["reviewer"] and "project reviewer" in rows["reviewer"]
    assert "global" in rows["planner"]
    assert f"{broken}:3: invalid value for 'maxTurns'" in result.stderr

    data = json.loads(run_rupu("agent", "list", "--format", "json").stdout)
    assert [a["name"] for a in data["agents"]] == ["planner", "reviewer"]
    assert data["errors"][0]["path"] == str(broken)


def test_broken_agent_does_not_stop_running_another(workspace: Workspace) -> None:
    workspace.write_agent("broken", "---\nnme: x\n---\n")
    workspace.write_agent("ok", agent("ok", "mock", "fine"))
    result = run_rupu("run", "--agent", "ok", "still works")
    assert result.code == 0, result.stderr
    assert result.stdout == "still works\n"


def test_agent_show(workspace: Workspace) -> None:
    workspace.write_agent("planner", agent("planner", "mock", "plans"))
    result = run_rupu("agent", "show", "planner")
    assert result.code == 0
    assert "provider: mock" in result.stdout and "Prompt of planner." in result.stdout


def test_hello_runs_offline_and_transcript_is_shown(workspace: Workspace) -> None:
    result = run_rupu("run", "--agent", str(REPO_ROOT / "agents" / "hello.md"), "Hello, rupu")
    assert result.code == 0, result.stderr
    assert result.stdout == "Hello, rupu\n"
    assert "mock · echo" in result.stderr
    transcripts = list((workspace.home / "transcripts").glob("run_*.jsonl"))
    assert len(transcripts) == 1
    run_id = transcripts[0].stem
    assert run_id in result.stderr
    events = [json.loads(line) for line in transcripts[0].read_text().splitlines()]
    kinds = [e["type"] for e in events]
    assert kinds[0] == "run_start" and kinds[-1] == "run_complete"
    assert events[0]["data"]["provider"] == "mock" and events[0]["data"]["model"] == "echo"
    assert events[-1]["data"]["status"] == "ok"

    listed = run_rupu("transcript", "list")
    assert run_id in listed.stdout and "hello" in listed.stdout and "ok" in listed.stdout
    shown = run_rupu("transcript", "show", run_id)
    assert shown.code == 0
    assert "[assistant] Hello, rupu" in shown.stdout and "status: ok" in shown.stdout
    raw = run_rupu("transcript", "show", run_id[:12], "--format", "jsonl")
    assert [json.loads(line)["type"] for line in raw.stdout.splitlines()] == kinds


def test_prompt_from_stdin_and_json_format(workspace: Workspace) -> None:
    workspace.write_agent("echoer", agent("echoer", "mock", "echo"))
    result = run_rupu("run", "--agent", "echoer", "--format", "json", input="piped prompt")
    assert result.code == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["text"] == "piped prompt" and payload["status"] == "ok"
    assert payload["provider"] == "mock" and payload["usage"]["output_tokens"] == 2


def test_torn_last_line_is_tolerated(workspace: Workspace) -> None:
    workspace.write_agent("echoer", agent("echoer", "mock", "echo"))
    assert run_rupu("run", "--agent", "echoer", "x").code == 0
    (path,) = (workspace.home / "transcripts").glob("*.jsonl")
    with path.open("a") as handle:
        handle.write('{"type": "turn_st')
    shown = run_rupu("transcript", "show", path.stem)
    assert shown.code == 0 and "status: ok" in shown.stdout


def test_mock_script_plays_turns(workspace: Workspace) -> None:
    script = workspace.project / "script.yaml"
    script.write_text(
        "- text: scripted answer\n  thinking: pondering\n  usage: {input_tokens: 5, output_tokens: 2}\n"
    )
    workspace.write_config(f'[providers.mock]\nscript = "{script}"\n')
    workspace.write_agent("echoer", agent("echoer", "mock", "echo"))
    result = run_rupu("run", "--agent", "echoer", "x")
    assert result.code == 0, result.stderr
    assert result.stdout == "scripted answer\n"
    assert "thinking: pondering" in result.stderr
    hidden = run_rupu("run", "--agent", "echoer", "--hide-thinking", "x")
    assert "pondering" not in hidden.stderr


def test_a_deeply_nested_agent_breaks_neither_list_nor_other_runs(workspace: Workspace) -> None:
    nested = "  - " + "- " * 5000 + "1\n"  # 5000 sequences, one inside the other
    deep = workspace.write_agent("deep", f"---\nname: deep\nx:\n{nested}---\nbody\n")
    workspace.write_agent("ok", agent("ok", "mock", "fine"))
    listed = run_rupu("agent", "list")
    assert listed.code == 0, listed.stderr
    assert "Traceback" not in listed.stderr
    assert f"{deep}:" in listed.stderr and "nested more than 100 levels deep" in listed.stderr
    assert "ok" in listed.stdout
    assert run_rupu("run", "--agent", "ok", "hi").code == 0
    failed = run_rupu("run", "--agent", "deep", "hi")
    assert failed.code == 2 and "Traceback" not in failed.stderr
    assert len(failed.stderr.strip().splitlines()) == 1, failed.stderr
