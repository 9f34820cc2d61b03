"""Strict where users make mistakes (issue 11 §5, §6, §7), through the real CLI: each mistake is one
line naming the file (and line), exit 2, nothing sent, and other files keep working; a limit that
stops a run exits 5."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.tools_fixtures import mock_script, of_type, transcript_events, write_agent
from tests.conftest import Workspace, run_rupu
from tests.servers.openai_chat import ChatCompletionsServer, stream_reply, text_stream

KEY = "sk-local-strict-7a6b5c"


def one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    assert lines[0].startswith("rupu: error: ")
    return lines[0]


def test_reaching_max_turns_exits_5_not_as_a_provider_failure(workspace: Workspace) -> None:
    call = {"tool_calls": [{"name": "list_dir", "arguments": {"path": "."}}]}
    mock_script(workspace, [call, call, call])
    write_agent(workspace, "looper", {"provider": "mock", "tools": ["list_dir"], "maxTurns": 2})
    result = run_rupu("run", "--agent", "looper", "go")
    assert result.code == 5, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("rupu: error: the agent reached maxTurns (2) without finishing")
    assert "raise maxTurns" in last and "mock (" not in last
    [error] = of_type(transcript_events(workspace), "error")
    assert (error["kind"], error["limit"]) == ("LimitReached", "maxTurns")


def test_an_empty_tools_list_gives_no_tools(workspace: Workspace) -> None:
    write_agent(workspace, "bare", {"provider": "local", "model": "m1", "tools": []})
    write_agent(workspace, "default", {"provider": "local", "model": "m1"})
    with ChatCompletionsServer(api_key=KEY) as server:
        workspace.write_config(f'[providers.local]\nbase_url = "{server.base_url}"\n')
        server.script.extend([stream_reply(text_stream(["ok"])) for _ in range(2)])
        env = {"RUPU_LOCAL_API_KEY": KEY}
        bare = run_rupu("run", "--agent", "bare", "hi", env=env)
        bare_events = transcript_events(workspace)
        default = run_rupu("run", "--agent", "default", "hi", env=env)
        server.assert_clean()
    assert (bare.code, default.code) == (0, 0), bare.stderr + default.stderr
    first, second = (r.body for r in server.requests)
    assert not first.get("tools")
    assert of_type(bare_events, "tool_audit") == []
    assert "read_file" in [t["function"]["name"] for t in second["tools"]]


def test_duplicate_frontmatter_keys_are_refused(workspace: Workspace) -> None:
    path = workspace.write_agent("dup", "---\nname: dup\nprovider: mock\nprovider: other\n---\nx\n")
    result = run_rupu("run", "--agent", "dup", "hi")
    assert result.code == 2
    line = one_error_line(result.stderr)
    assert f"{path}:4: duplicate key 'provider' (first at line 3)" in line


@pytest.mark.parametrize(("value", "code"), [(0, 2), (1001, 2), (1000, 0), (1, 0)])
def test_max_turns_must_be_1_to_1000(workspace: Workspace, value: int, code: int) -> None:
    path = workspace.write_agent(
        "turns", f"---\nname: turns\nprovider: mock\nmaxTurns: {value}\n---\nx\n"
    )
    result = run_rupu("run", "--agent", "turns", "hi")
    assert result.code == code, result.stderr
    if code == 2:
        assert f"{path}:4: invalid value for 'maxTurns'" in one_error_line(result.stderr)
        assert not (workspace.home / "transcripts").exists()


def test_an_output_schema_that_is_not_json_schema_is_refused_at_load(
    workspace: Workspace,
) -> None:
    path = workspace.write_agent(
        "shaped",
        "---\nname: shaped\nprovider: mock\noutputFormat: json\noutputSchema:\n"
        "  type: objekt\n---\nx\n",
    )
    workspace.write_agent("fine", "---\nname: fine\nprovider: mock\n---\nx\n")
    result = run_rupu("run", "--agent", "shaped", "hi")
    assert result.code == 2
    line = one_error_line(result.stderr)
    assert f"{path}:5: invalid JSON Schema at /type: 'objekt' is not valid" in line
    listed = run_rupu("agent", "list")
    assert listed.code == 0 and "fine" in listed.stdout
    assert f"{path}:5" in listed.stderr + listed.stdout


@pytest.mark.parametrize("stdin", ["", "  \n\t\n"])
def test_no_prompt_is_a_usage_error_and_sends_nothing(workspace: Workspace, stdin: str) -> None:
    write_agent(workspace, "rev", {"provider": "local", "model": "m1"})
    with ChatCompletionsServer(api_key=KEY) as server:
        workspace.write_config(f'[providers.local]\nbase_url = "{server.base_url}"\n')
        env = {"RUPU_LOCAL_API_KEY": KEY}
        from_stdin = run_rupu("run", "--agent", "rev", input=stdin, env=env)
        dash = run_rupu("run", "--agent", "rev", "-", input=stdin, env=env)
        blank_argument = run_rupu("run", "--agent", "rev", " ", env=env)
    for result in (from_stdin, dash, blank_argument):
        assert result.code == 2, result.stderr
        assert "no prompt given" in one_error_line(result.stderr)
    assert server.requests == []
    assert not (workspace.home / "transcripts").exists()


def write_workflow(workspace: Workspace, name: str, prompt: str) -> Path:
    directory = workspace.home / "workflows"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.yaml"
    path.write_text(
        f"name: {name}\ninputs:\n  topic: {{type: string, default: x}}\nsteps:\n"
        f"  - id: a\n    agent: echo\n    prompt: {prompt!r}\n"
    )
    return path


def test_an_unknown_jinja_filter_or_test_breaks_only_its_own_workflow(
    workspace: Workspace,
) -> None:
    workspace.write_agent("echo", "---\nname: echo\nprovider: mock\n---\nx\n")
    bad_filter = write_workflow(workspace, "badfilter", "{{ inputs.topic | shout }}")
    bad_test = write_workflow(workspace, "badtest", "{% if inputs.topic is loud %}y{% endif %}")
    write_workflow(workspace, "good", "about {{ inputs.topic }}")
    listed = run_rupu("workflow", "list")
    assert listed.code == 0, listed.stderr
    assert "good" in listed.stdout and "Traceback" not in listed.stderr
    assert f"{bad_filter}:7: template syntax error in step 'a' prompt: No filter named 'shout'" in (
        listed.stdout + listed.stderr
    )
    assert f"{bad_test}:7: template syntax error in step 'a' prompt: No test named 'loud'" in (
        listed.stdout + listed.stderr
    )
    shown = run_rupu("workflow", "show", "badfilter")
    assert shown.code == 2
    assert "No filter named 'shout'" in one_error_line(shown.stderr)
    ran = run_rupu("workflow", "run", "good", "--plain")
    assert ran.code == 0, ran.stderr
    assert "about x" in ran.stdout


@pytest.mark.parametrize("bad", ["\\n", "\\t", "\\u0000", "\\u007f", "\\r"])
def test_an_api_key_with_a_control_character_is_refused_by_name(
    workspace: Workspace, bad: str
) -> None:
    path = workspace.write_config(
        f'[providers.anthropic]\nbase_url = "http://127.0.0.1:9"\n'
        f'api_key = "sk-ant-canary{bad}tail"\n'
    )
    write_agent(workspace, "a", {"provider": "anthropic", "model": "claude-sonnet-4-6"})
    result = run_rupu("run", "--agent", "a", "hi")
    assert result.code == 2
    line = one_error_line(result.stderr)
    assert f"{path}:3: invalid value for 'providers.anthropic.api_key'" in line
    assert "control character" in line and "canary" not in line


def test_a_prompt_that_is_not_utf8_is_a_usage_error(workspace: Workspace) -> None:
    import subprocess
    import sys

    from tests.cli.tools_fixtures import rupu_env

    workspace.write_agent("echo", "---\nname: echo\nprovider: mock\n---\nx\n")
    piped = subprocess.run(
        [sys.executable, "-m", "rupu", "run", "--agent", "echo"],
        input=b"\xff\xfehello",
        capture_output=True,
        env=rupu_env(),
        check=False,
    )
    assert piped.returncode == 2
    assert "not UTF-8 text (byte 0)" in one_error_line(piped.stderr.decode())
    argument = subprocess.run(
        [sys.executable.encode(), b"-m", b"rupu", b"run", b"--agent", b"echo", b"a\xffb"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        env=rupu_env(),
        check=False,
    )
    assert argument.returncode == 2
    assert "not UTF-8 text" in one_error_line(argument.stderr.decode())
    assert not (workspace.home / "transcripts").exists()
    ok = run_rupu("run", "--agent", "echo", input="h\u00e9llo \U0001f600\r\n")
    assert (ok.code, ok.stdout) == (0, "h\u00e9llo \U0001f600\n"), ok.stderr
