"""Where rupu keeps things: the global home and the project directory."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Paths:
    """`home` is `$RUPU_HOME` (default `~/.rupu`); `project` is the nearest parent holding `.rupu/`."""

    home: Path
    project: Path | None
    cwd: Path

    @classmethod
    def discover(cls, env: Mapping[str, str], cwd: Path) -> Paths:
        raw = env.get("RUPU_HOME")
        home = Path(raw).expanduser() if raw else Path.home() / ".rupu"
        return cls(home=home.absolute(), project=find_project_root(cwd, home), cwd=cwd)

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

    def workflow_dirs(self) -> list[tuple[str, Path]]:
        dirs = [("global", self.home / "workflows")]
        if self.project_dir:
            dirs.append(("project", self.project_dir / "workflows"))
        return dirs


def find_project_root(start: Path, home: Path) -> Path | None:
    """The nearest directory at or above `start` that holds `.rupu/` (the home itself never counts)."""
    home_resolved = home.resolve()
    for directory in (start, *start.parents):
        candidate = directory / ".rupu"
        if candidate.is_dir() and candidate.resolve() != home_resolved:
            return directory
    return None
