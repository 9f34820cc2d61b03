"""Where rupu looks: the project root (`.rupu/`, else `.claude/agents/`), and Claude Code's user
directory (`$CLAUDE_CONFIG_DIR`, else `~/.claude`), which is never a project."""

from __future__ import annotations

from pathlib import Path

from rupu.paths import Paths
from tests.conftest import Workspace


def discover(workspace: Workspace, cwd: Path, **env: str) -> Paths:
    return Paths.discover({"RUPU_HOME": str(workspace.home), **env}, cwd)


def test_claude_agents_make_a_project_when_there_is_no_rupu_directory(
    workspace: Workspace,
) -> None:
    inner = workspace.project / "src" / "pkg"
    inner.mkdir(parents=True)
    assert discover(workspace, inner).project is None
    (workspace.project / ".claude" / "agents").mkdir(parents=True)
    paths = discover(workspace, inner)
    assert paths.project == workspace.project
    assert paths.claude_agent_dirs()[-1] == (
        "claude-project",
        workspace.project / ".claude" / "agents",
    )
    # a .rupu/ anywhere above wins over a nearer .claude/agents/
    (inner / ".claude" / "agents").mkdir(parents=True)
    (workspace.project / ".rupu").mkdir()
    assert discover(workspace, inner).project == workspace.project


def test_the_claude_user_directory_is_home_or_claude_config_dir_and_never_a_project(
    workspace: Workspace, tmp_path: Path
) -> None:
    home = Path.home()  # the test's HOME (conftest)
    (home / ".claude" / "agents").mkdir(parents=True)
    below = home / "work"
    below.mkdir()
    paths = discover(workspace, below)
    assert paths.project is None
    assert paths.claude_home == home / ".claude"
    assert paths.claude_agent_dirs() == [("claude-user", home / ".claude" / "agents")]
    other = tmp_path / "claude-config"
    moved = discover(workspace, below, CLAUDE_CONFIG_DIR=str(other))
    assert (moved.claude_home, moved.project) == (other, None)
    # constructed by hand (tests, tools), no Claude Code directory is read
    assert Paths(workspace.home, None, below).claude_agent_dirs() == []
