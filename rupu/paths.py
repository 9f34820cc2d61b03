"""Where rupu keeps things: the global home and the project directory."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Paths:
    """`home` is `$RUPU_HOME` (default `~/.rupu`); `project` is the nearest parent holding `.rupu/`
    (or, when there is none, `.claude/agents/`). `claude_home` is Claude Code's user directory
    (`$CLAUDE_CONFIG_DIR`, default `~/.claude`), read for its `agents/`; None reads none."""

    home: Path
    project: Path | None
    cwd: Path
    claude_home: Path | None = None

    @classmethod
    def discover(cls, env: Mapping[str, str], cwd: Path) -> Paths:
        raw = env.get("RUPU_HOME")
        home = Path(raw).expanduser() if raw else Path.home() / ".rupu"
        claude_raw = env.get("CLAUDE_CONFIG_DIR")
        claude = Path(claude_raw).expanduser() if claude_raw else Path.home() / ".claude"
        project = find_project_root(cwd, home, claude_home=claude)
        return cls(home=home.absolute(), project=project, cwd=cwd, claude_home=claude.absolute())

    @property
    def project_dir(self) -> Path | None:
        return self.project / ".rupu" if self.project else None

    @property
    def global_config(self) -> Path:
        return self.home / "config.toml"

    @property
    def project_config(self) -> Path | None:
        return self.project_dir / "config.toml" if self.project_dir else None

    @property
    def transcripts(self) -> Path:
        return self.home / "transcripts"

    @property
    def runs(self) -> Path:
        return self.home / "runs"

    @property
    def cache(self) -> Path:
        return self.home / "cache"

    def agent_dirs(self) -> list[tuple[str, Path]]:
        """Agent directories, lowest precedence first: (scope, dir)."""
        dirs = [("global", self.home / "agents")]
        if self.project_dir:
            dirs.append(("project", self.project_dir / "agents"))
        return dirs

    def claude_agent_dirs(self) -> list[tuple[str, Path]]:
        """Claude Code's agent directories, lowest precedence first: (scope, dir)."""
        dirs: list[tuple[str, Path]] = []
        if self.claude_home is not None:
            dirs.append(("claude-user", self.claude_home / "agents"))
        if self.project is not None:
            dirs.append(("claude-project", self.project / ".claude" / "agents"))
        return dirs

    def workflow_dirs(self) -> list[tuple[str, Path]]:
        dirs = [("global", self.home / "workflows")]
        if self.project_dir:
            dirs.append(("project", self.project_dir / "workflows"))
        return dirs


def find_project_root(start: Path, home: Path, *, claude_home: Path | None = None) -> Path | None:
    """The nearest directory at or above `start` that holds `.rupu/` (the home itself never counts);
    without one, the nearest holding `.claude/agents/` (Claude Code's user directory, and `~/.claude`,
    never count):
    a project's Claude Code agents are project files, trusted like `.rupu/`."""
    home_resolved = home.resolve()
    for directory in (start, *start.parents):
        candidate = directory / ".rupu"
        if candidate.is_dir() and candidate.resolve() != home_resolved:
            return directory
    if claude_home is None:
        return None
    user_dirs = {claude_home.resolve(), (Path.home() / ".claude").resolve()}
    for directory in (start, *start.parents):
        candidate = directory / ".claude"
        if (candidate / "agents").is_dir() and candidate.resolve() not in user_dirs:
            return directory
    return None
