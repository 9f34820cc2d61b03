"""Claude Code agent files, unchanged, as rupu agents: the dozen files of
`tests/agents/claude_code_files/` listed from `.claude/agents/`, run on the mock provider and on a
non-Anthropic loopback provider (chat completions) through `[aliases]`; scopes and shadowing, the
off switch, trust for a project that has only `.claude/`, and the tools a file allows or denies."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from rupu.testing import CliRunner
from tests.agents.test_claude_code import EXPECTED, FILES
from tests.conftest import Workspace
from tests.servers.openai_chat import (
    ChatCompletionsServer,
    stream_reply,
    text_stream,
    tool_call_stream,
)

KEY = "sk-oracle-claude-canary-7a6b"
MCP_SERVER = str(Path(__file__).resolve().parent.parent / "tools" / "mcp_server.py")
ORACLE = """default_provider = "oracle"

[providers.oracle]
kind = "openai-compatible"
base_url = "{url}"
default_model = "glm-default"

[aliases]
sonnet = "oracle:glm-sonnet"
opus = "oracle:glm-opus"
haiku = "oracle:glm-haiku"
"claude-sonnet-4-5-20250929" = "oracle:glm-sonnet"
"""
# The model each file runs on through the aliases above (no model: the provider's default).
MODELS = {
    "code-reviewer": "glm-sonnet",
    "data-scientist": "glm-sonnet",
    "web-researcher": "glm-sonnet",
    "planner": "glm-opus",
    "release-manager": "glm-opus",
    "docs-writer": "glm-haiku",
}
BUILTINS = {"read_file", "write_file", "edit_file", "list_dir", "glob", "grep", "bash"}
TRACKER_TOOLS = {"tracker__shout", "tracker__record", "tracker__environment"}


def install(directory: Path, names: Iterator[str] | list[str] | None = None) -> Path:
    """Copies the files into `directory` (the test MCP server filled in where a file names one)."""
    directory.mkdir(parents=True, exist_ok=True)
    for file in sorted(FILES.glob("*.md")):
        if names is not None and file.stem not in names:
            continue
        text = file.read_text().replace("{PYTHON}", sys.executable)
        (directory / file.name).write_text(text.replace("{MCP_SERVER}", MCP_SERVER))
    return directory


@pytest.fixture
def project_agents(workspace: Workspace) -> Path:
    return install(workspace.project / ".claude" / "agents")


def claude_home(workspace: Workspace) -> Path:
    return workspace.home.parent / ".claude"


def test_list_shows_every_file_in_the_project_scope_with_one_note_each(
    workspace: Workspace, project_agents: Path
) -> None:
    with CliRunner(home=workspace.home) as rupu:
        listed = rupu.invoke(["agent", "list", "--format", "json"])
        table = rupu.invoke(["agent", "list"])
        shown = rupu.invoke(["agent", "show", "planner"])
    assert "alias: opus = anthropic:claude-opus-4-7  (built in)" in shown.stdout.splitlines()
    assert "note: Claude Code keys rupu does not use: memory" in shown.stdout.splitlines()
    assert listed.exit_code == 0, listed.output
    rows = {row["name"]: row for row in orjson.loads(listed.stdout)["agents"]}
    assert sorted(rows) == sorted(EXPECTED)
    assert {row["scope"] for row in rows.values()} == {"claude-project"}
    assert rows["web-researcher"]["provider"] == "anthropic"
    assert rows["code-reviewer"]["model"] == "sonnet"
    assert rows["code-reviewer"]["provider"] == "anthropic"  # the built-in alias names it
    assert rows["planner"]["notes"] == [
        "Claude Code keys rupu does not use: memory",
        "Claude Code tools rupu has no counterpart for (left out): Task, TodoWrite",
    ]
    assert table.exit_code == 0
    for name in EXPECTED:
        assert f"\n{name} " in "\n" + table.stdout
    notes = [line for line in table.stderr.splitlines() if line.startswith("note: ")]
    assert len(notes) == sum(len(EXPECTED[n][-1]) for n in EXPECTED) == 11
    assert f"note: {project_agents / 'docs-writer.md'}: Claude Code keys rupu does not use: " in (
        table.stderr
    )
    assert "error" not in table.stderr


def test_scopes_shadow_by_name_and_the_switch_turns_claude_code_off(workspace: Workspace) -> None:
    user = install(claude_home(workspace) / "agents", ["refactorer", "translator"])
    install(workspace.project / ".claude" / "agents", ["refactorer"])
    workspace.write_agent("translator", "---\nname: translator\nprovider: mock\n---\nMine.\n")
    with CliRunner(home=workspace.home) as rupu:
        rows = {
            r["name"]: r
            for r in orjson.loads(rupu.invoke(["agent", "list", "--format", "json"]).stdout)[
                "agents"
            ]
        }
        assert rows["refactorer"]["scope"] == "claude-project"
        assert rows["translator"]["scope"] == "global"  # rupu's own scopes come first
        (user / "debugger.md").write_text((FILES / "debugger.md").read_text())
        shown = rupu.invoke(["agent", "show", "debugger"])
        assert shown.exit_code == 0, shown.output
        assert "claude-user" in shown.stdout.splitlines()[0]
        workspace.write_config("[agents]\nclaude_code = false\n")
        off = orjson.loads(rupu.invoke(["agent", "list", "--format", "json"]).stdout)
        missing = rupu.invoke(["run", "--agent", "refactorer", "--provider", "mock", "hi"])
    assert [r["name"] for r in off["agents"]] == ["translator"]
    assert missing.exit_code == 2 and "no agent named 'refactorer'" in missing.stderr


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_file_runs_on_the_mock_provider(
    workspace: Workspace, project_agents: Path, name: str
) -> None:
    with CliRunner(home=workspace.home) as rupu:
        result = rupu.invoke(
            ["--trust", "run", "--agent", name, "--provider", "mock", "hello from rupu"]
        )
    assert result.exit_code == 0, result.output
    assert result.stdout == "hello from rupu\n"
    for note in EXPECTED[name][-1]:
        assert result.stderr.count(note) == 1


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_file_runs_on_a_non_anthropic_provider_through_aliases(
    workspace: Workspace, project_agents: Path, name: str
) -> None:
    with ChatCompletionsServer(api_key=KEY) as server:
        workspace.write_config(ORACLE.format(url=server.base_url))
        server.script.append(stream_reply(text_stream([f"{name} ", "done."])))
        with CliRunner(home=workspace.home, env={"RUPU_ORACLE_API_KEY": KEY}) as rupu:
            result = rupu.invoke(["--trust", "run", "--agent", name, "go"])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{name} done.\n"
    (request,) = server.requests
    assert request.body["model"] == MODELS.get(name, "glm-default")
    system, user = request.body["messages"]
    body = (FILES / f"{name}.md").read_text().split("---\n", 2)[2].strip("\n")
    assert system == {"role": "system", "content": body}
    assert user == {"role": "user", "content": "go"}
    offered = {tool["function"]["name"] for tool in request.body.get("tools", [])}
    tools, denied = EXPECTED[name][2], EXPECTED[name][3]
    if name == "github-triager":
        assert (
            {"read_file"} | TRACKER_TOOLS
            <= offered
            <= {"read_file"} | {t for t in offered if t.startswith("tracker__")}
        )
    elif tools is None:
        assert offered == BUILTINS - set(denied or ())
    else:
        # web_search is offered only with a search key, which this test does not set
        assert offered == set(tools) - {"web_search"}
    assert KEY not in result.output


def test_a_claude_agent_calls_its_tools_and_a_denied_one_is_not_there(
    workspace: Workspace, project_agents: Path
) -> None:
    (workspace.project / "app.py").write_text("password = 'hunter2'\n")
    with ChatCompletionsServer(api_key=KEY) as server:
        workspace.write_config(ORACLE.format(url=server.base_url))
        server.script.extend(
            [
                stream_reply(
                    tool_call_stream(
                        [
                            ("c1", "grep", {"pattern": "password"}),
                            ("c2", "bash", {"command": "cat app.py"}),
                        ]
                    )
                ),
                stream_reply(text_stream(["A secret is hard-coded in app.py."])),
            ]
        )
        with CliRunner(home=workspace.home, env={"RUPU_ORACLE_API_KEY": KEY}) as rupu:
            result = rupu.invoke(["run", "--agent", "security-auditor", "audit"])
    assert result.exit_code == 0, result.output
    results = [m for m in server.requests[1].body["messages"] if m["role"] == "tool"]
    assert "app.py" in results[0]["content"] and "password" in results[0]["content"]
    assert results[1]["content"].startswith("error: unknown tool 'bash'")


def test_a_project_with_only_claude_agents_needs_trust_for_bypass_and_its_own_servers(
    workspace: Workspace, project_agents: Path
) -> None:
    assert not (workspace.project / ".rupu").exists()
    with CliRunner(home=workspace.home) as rupu:
        bypass = rupu.invoke(["run", "--agent", "release-manager", "--provider", "mock", "hi"])
        servers = rupu.invoke(["run", "--agent", "github-triager", "--provider", "mock", "hi"])
        trusted = rupu.invoke(["trust"])
        after = rupu.invoke(["run", "--agent", "github-triager", "--provider", "mock", "hi"])
    assert bypass.exit_code == 2
    assert f"{project_agents / 'release-manager.md'}:5: agent 'release-manager' asks for " in (
        bypass.stderr
    )
    assert "permissionMode: bypass" in bypass.stderr and "not trusted" in bypass.stderr
    assert servers.exit_code == 2
    assert "starts or connects to MCP servers of its own (tracker)" in servers.stderr
    assert trusted.exit_code == 0, trusted.output
    assert ".claude/agents/github-triager.md" in trusted.stdout
    assert after.exit_code == 0, after.output
    assert after.stdout == "hi\n"


def test_a_workflow_step_runs_a_claude_code_agent_with_an_alias(
    workspace: Workspace, project_agents: Path
) -> None:
    workspace.write_config('[aliases]\nsonnet = "mock:echo"\n')
    flows = workspace.project / ".rupu" / "workflows"
    flows.mkdir(parents=True)
    (flows / "review.yaml").write_text(
        "name: review\nsteps:\n"
        "  - {id: review, agent: code-reviewer, prompt: 'review the diff'}\n"
        "  - {id: plan, agent: planner, model: sonnet, prompt: 'plan the fix'}\n"
    )
    with CliRunner(home=workspace.home) as rupu:
        shown = rupu.invoke(["workflow", "show", "review", "--format", "json"])
        result = rupu.invoke(["workflow", "run", "review"])
    assert shown.exit_code == 0, shown.output
    calls = [call for step in orjson.loads(shown.stdout)["steps"] for call in step["calls"]]
    assert [(c["agent"], c["provider"], c["model"]) for c in calls] == [
        ("code-reviewer", "mock", "echo"),  # its own model: sonnet
        ("planner", "mock", "echo"),  # the step's model: sonnet over the agent's opus
    ]
    assert calls[0]["origins"]["agent"]["scope"] == "claude-project"
    # the provider came with the alias: its line in config.toml
    for call in calls:
        assert call["origins"]["provider"]["where"] == f"{workspace.home / 'config.toml'}:2"
    assert result.exit_code == 0, result.output
    assert "review the diff" in result.output and "plan the fix" in result.output


def test_a_claude_directory_others_can_change_is_reported_and_the_rest_still_load(
    workspace: Workspace,
) -> None:
    directory = install(workspace.project / ".claude" / "agents", ["refactorer"])
    directory.chmod(0o775)
    workspace.write_agent("mine", "---\nname: mine\nprovider: mock\n---\nMine.\n")
    with CliRunner(home=workspace.home) as rupu:
        listed = rupu.invoke(["agent", "list"])
        ran = rupu.invoke(["run", "--agent", "mine", "still here"])
    assert listed.exit_code == 0, listed.output
    assert "mine " in listed.stdout and "refactorer" not in listed.stdout
    assert f"error: {directory}: writable by group (mode 0775)" in listed.stderr
    assert ran.exit_code == 0 and ran.stdout == "still here\n"
