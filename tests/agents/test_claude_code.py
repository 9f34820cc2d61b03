"""Claude Code agent files read as rupu agents: every field of the dozen real-world-shaped files in
`claude_code_files/` mapped, unused keys and tools noted once, bad values refused with file:line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rupu.agents.claude_code import claude_tool, is_claude_agent_path, quote_plain_values
from rupu.agents.spec import AgentSpec, load_agent_file, parse_agent
from rupu.config import McpServerConfig
from rupu.errors import ConfigError
from rupu.yamldoc import parse_yaml

FILES = Path(__file__).parent / "claude_code_files"
_NOT_PLAIN_START = tuple("\"'[{|>&*!%@`#-?:,")
KEYS_NOTE = "Claude Code keys rupu does not use: "
TOOLS_NOTE = "Claude Code tools rupu has no counterpart for (left out): "

# name: (provider, model, tools, disallowedTools, permissionMode, maxTurns, notes)
EXPECTED: dict[str, tuple[Any, ...]] = {
    "code-reviewer": (
        None,
        "sonnet",
        ["read_file", "grep", "glob", "bash"],
        None,
        None,
        None,
        [KEYS_NOTE + "color"],
    ),
    "debugger": (
        None,
        None,
        ["read_file", "edit_file", "bash", "grep", "glob"],
        None,
        None,
        None,
        [],
    ),
    "data-scientist": (
        None,
        "sonnet",
        ["bash", "read_file", "write_file"],
        None,
        None,
        None,
        [KEYS_NOTE + "color"],
    ),
    "test-runner": (
        None,
        None,
        ["read_file", "edit_file", "bash", "grep"],
        None,
        "ask",
        15,
        [KEYS_NOTE + "color"],
    ),
    "planner": (
        None,
        "opus",
        ["read_file", "grep", "glob"],
        None,
        "readonly",
        None,
        [KEYS_NOTE + "memory", TOOLS_NOTE + "Task, TodoWrite"],
    ),
    "docs-writer": (
        None,
        "haiku",
        ["read_file", "write_file", "edit_file", "list_dir", "glob"],
        None,
        None,
        None,
        [KEYS_NOTE + "color, skills"],
    ),
    "web-researcher": (
        "anthropic",
        "claude-sonnet-4-5-20250929",
        ["web_search", "web_fetch", "read_file"],
        None,
        None,
        None,
        [],
    ),
    "security-auditor": (
        None,
        None,
        None,
        ["write_file", "edit_file", "bash"],
        "readonly",
        None,
        [KEYS_NOTE + "hooks"],
    ),
    "github-triager": (
        None,
        None,
        ["read_file", "tracker.shout", "tracker.*"],
        None,
        None,
        8,
        [
            "MCP servers over SSE are not supported (left out): legacy",
            TOOLS_NOTE + "Task(reviewer)",
        ],
    ),
    "release-manager": (
        None,
        "opus",
        ["read_file", "edit_file", "bash"],
        None,
        "bypass",
        None,
        [KEYS_NOTE + "background, isolation"],
    ),
    "refactorer": (None, None, None, None, None, None, [KEYS_NOTE + "color"]),
    "translator": (None, None, [], None, None, 2, []),
}


def load(name: str) -> AgentSpec:
    return load_agent_file(FILES / f"{name}.md", "claude-project")


def test_the_directory_holds_a_dozen_files_each_expected() -> None:
    assert sorted(p.stem for p in FILES.glob("*.md")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_file_maps_every_field(name: str) -> None:
    provider, model, tools, denied, mode, turns, notes = EXPECTED[name]
    spec = load(name)
    front = spec.frontmatter
    assert spec.name == name and spec.scope == "claude-project"
    assert front.description
    assert (front.provider, front.model) == (provider, model)
    assert front.tools == tools
    assert front.disallowed_tools == denied
    assert front.permission_mode == mode
    assert front.max_turns == turns
    assert sorted(spec.notes) == sorted(notes)
    # the body is the system prompt, as in a rupu agent file
    body = (FILES / f"{name}.md").read_text().split("---\n", 2)[2]
    assert spec.system_prompt == body.strip("\n")


def test_inline_servers_are_kept_and_sse_ones_left_out() -> None:
    servers = load("github-triager").frontmatter.mcp_servers
    assert servers is not None and list(servers) == ["tracker"]
    tracker = servers["tracker"]
    assert isinstance(tracker, McpServerConfig)
    assert tracker.command == "{PYTHON}" and tracker.args == ["{MCP_SERVER}"]


def test_a_file_in_a_claude_agents_directory_is_read_as_claude_code_by_path(
    tmp_path: Path,
) -> None:
    directory = tmp_path / ".claude" / "agents"
    directory.mkdir(parents=True)
    file = directory / "x.md"
    file.write_text("---\nname: x\ntools: Read, Bash\ncolor: red\n---\nHi\n")
    assert is_claude_agent_path(file)
    spec = load_agent_file(file, "path")
    assert spec.frontmatter.tools == ["read_file", "bash"]
    assert spec.notes == [KEYS_NOTE + "color"]
    # the same keys in a rupu agent directory are errors, as before
    rupu_file = tmp_path / "agents" / "x.md"
    rupu_file.parent.mkdir()
    rupu_file.write_text("---\nname: x\ncolor: red\n---\nHi\n")
    with pytest.raises(ConfigError, match="unknown key 'color'"):
        load_agent_file(rupu_file, "global")


@pytest.mark.parametrize(
    ("claude", "rupu"),
    [
        ("Read", "read_file"),
        ("LS", "list_dir"),
        ("WebFetch", "web_fetch"),
        ("MultiEdit", "edit_file"),
        ("mcp__github__create_issue", "github.create_issue"),
        ("mcp__github", "github.*"),
        ("mcp__github__*", "github.*"),
        ("Task", None),
        ("Bash(git diff:*)", None),
        ("mcp__", None),
    ],
)
def test_tool_names(claude: str, rupu: str | None) -> None:
    assert claude_tool(claude) == rupu


def test_a_generated_description_holding_colons_is_read_as_claude_code_reads_it() -> None:
    description = load("code-reviewer").frontmatter.description or ""
    assert description.startswith("Use this agent right after writing or modifying code. Examples:")
    assert 'user: "I added the login endpoint"' in description
    # a rupu agent file with the same line is still a YAML error naming the line
    text = (FILES / "code-reviewer.md").read_text()
    with pytest.raises(ConfigError, match=r"code-reviewer.md:3:\d+: YAML syntax error"):
        parse_agent(text, FILES / "code-reviewer.md", "global")


def test_rupu_keys_in_a_claude_file_keep_their_meaning() -> None:
    text = "---\nname: both\nprovider: openai\nmodel: gpt-5\neffort: high\ncolor: red\n---\nHi\n"
    spec = parse_agent(text, Path("/p/.claude/agents/both.md"), "claude-project")
    front = spec.frontmatter
    assert (front.provider, front.model, front.effort) == ("openai", "gpt-5", "high")
    assert spec.notes == [KEYS_NOTE + "color"]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("permissionMode: yolo", "4: invalid value for 'permissionMode': 'yolo'"),
        ("tools: {Read: true}", "4: invalid value for 'tools'"),
        ("maxTurns: 0", "4: invalid value for 'maxTurns'"),
        ("model: 12", "4: invalid value for 'model'"),
    ],
)
def test_bad_values_are_refused_with_file_and_line(line: str, message: str) -> None:
    text = f"---\nname: bad\ndescription: d\n{line}\n---\nHi\n"
    with pytest.raises(ConfigError) as caught:
        parse_agent(text, Path("/p/.claude/agents/bad.md"), "claude-project")
    assert message in caught.value.one_line()
    assert caught.value.one_line().startswith("/p/.claude/agents/bad.md:")


def test_an_unknown_server_type_is_refused() -> None:
    text = "---\nname: s\nmcpServers:\n  - x:\n      type: ws\n      url: http://h\n---\nHi\n"
    with pytest.raises(ConfigError, match="type 'ws' is not supported"):
        parse_agent(text, Path("/p/.claude/agents/s.md"), "claude-project")


@given(
    st.lists(
        st.text(
            st.characters(blacklist_categories=["Cs", "Cc", "Zl", "Zp"]),
            min_size=1,
            max_size=40,
        ).filter(lambda v: v.strip() == v and not v.startswith(_NOT_PLAIN_START)),
        min_size=1,
        max_size=4,
    )
)
def test_quoting_plain_values_keeps_each_value_and_its_line(values: list[str]) -> None:
    header = "\n".join(f"k{i}: {value}: {value}" for i, value in enumerate(values))
    quoted = quote_plain_values(header)
    assert quoted is not None and quoted.count("\n") == header.count("\n")
    data, _ = parse_yaml(Path("x.md"), quoted)
    assert data == {f"k{i}": f"{value}: {value}" for i, value in enumerate(values)}
