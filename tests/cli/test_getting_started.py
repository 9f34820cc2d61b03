"""The README and docs/getting-started.md work as written: bare `rupu` prints help, `agent list` in
a fresh directory says where it looked and how to start, and the "use a real model" example runs
(against a loopback OpenAI-compatible server standing in for the local one)."""

from __future__ import annotations

import re

from tests.conftest import REPO_ROOT, Workspace, run_rupu
from tests.servers.openai_chat import ChatCompletionsServer, stream_reply, text_stream, usage

GUIDE = (REPO_ROOT / "docs" / "getting-started.md").read_text()


def test_bare_rupu_prints_help_and_succeeds() -> None:
    result = run_rupu()
    assert result.code == 0, result.stderr
    assert result.stdout.startswith("Usage: rupu [OPTIONS] [COMMAND] [ARGS]...")
    assert "  run       Run one agent on a prompt" in result.stdout
    assert "trust " in result.stdout
    assert run_rupu("--help").stdout == result.stdout


def test_agent_list_without_agents_says_where_it_looked_and_how_to_start(
    workspace: Workspace,
) -> None:
    result = run_rupu("agent", "list")
    assert result.code == 0
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0] == "no agents found; looked in:"
    assert f"  {workspace.home / 'agents'} (global)" in lines
    assert f"  no project: no .rupu/ directory in {workspace.project} or above it" in lines
    assert "docs/agents.md" in lines[-1]
    # the example it prints works as shown
    start = lines.index("  ---")
    agent = "\n".join(line[2:] for line in lines[start : start + 5]) + "\n"
    (workspace.project / ".rupu" / "agents").mkdir(parents=True)
    (workspace.project / ".rupu" / "agents" / "hello.md").write_text(agent)
    ran = run_rupu("run", "--agent", "hello", "Hello")
    assert ran.code == 0, ran.stderr
    assert ran.stdout == "Hello\n"
    listed = run_rupu("agent", "list")
    assert "hello" in listed.stdout and "project" in listed.stdout


def test_the_real_model_example_runs_as_written(workspace: Workspace) -> None:
    [config] = re.findall(r"```toml\n(.*?)```", GUIDE, re.S)
    [shell] = [block for block in re.findall(r"```sh\n(.*?)```", GUIDE, re.S) if "MD\n" in block]
    agent = shell.split("<<'MD'\n", 1)[1].split("\nMD\n", 1)[0] + "\n"
    key = re.search(r"export RUPU_LOCAL_API_KEY=(\S+)", shell)
    assert key is not None
    assert "git diff | rupu run --agent reviewer -" in shell
    with ChatCompletionsServer(api_key=key[1]) as server:
        workspace.write_config(config.replace("http://localhost:11434", server.base_url))
        workspace.write_agent("reviewer", agent)
        server.script.append(stream_reply(text_stream(["Add a test."], with_usage=usage(9, 3))))
        result = run_rupu(
            "run",
            "--agent",
            "reviewer",
            "-",
            input="diff --git a/x b/x\n",
            env={"RUPU_LOCAL_API_KEY": key[1]},
        )
        server.assert_clean()
    assert result.code == 0, result.stderr
    assert result.stdout == "Add a test.\n"
    body = server.requests[0].body
    assert body["model"] == "llama3.2"
    assert body["messages"][-1]["content"] == "diff --git a/x b/x\n"
