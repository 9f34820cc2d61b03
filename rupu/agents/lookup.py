"""Finding agents: `<project>/.rupu/agents/*.md` shadows `$RUPU_HOME/agents/*.md`, which shadows
Claude Code's `<project>/.claude/agents/*.md`, which shadows `~/.claude/agents/*.md`, by `name` (the
Claude Code scopes are read unless `[agents] claude_code = false`); a path to a `.md` file works too.
A broken file is reported and never stops the others from loading."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rupu.agents.spec import AgentScope, AgentSpec, load_agent_file
from rupu.config import load_config
from rupu.errors import ConfigError, did_you_mean
from rupu.filemodes import check_private
from rupu.paths import Paths

CLAUDE_SCOPES = ("claude-user", "claude-project")


@dataclass(frozen=True, slots=True)
class BrokenAgent:
    path: Path
    scope: str
    error: ConfigError


@dataclass(slots=True)
class InstalledAgents:
    """The agents of every scope (a higher scope shadows a lower one by name)."""

    agents: dict[str, AgentSpec] = field(default_factory=dict)
    shadowed: list[AgentSpec] = field(default_factory=list)
    broken: list[BrokenAgent] = field(default_factory=list)

    @classmethod
    def scan(cls, paths: Paths, *, claude_code: bool | None = None) -> InstalledAgents:
        """`claude_code` (default: `[agents] claude_code` in config.toml) reads Claude Code's
        agent directories too."""
        found = cls()
        for scope, directory in agent_dirs(paths, claude_code=claude_code):
            if not directory.is_dir():
                continue
            try:
                check_private(directory)
            except ConfigError as exc:
                if scope not in CLAUDE_SCOPES:
                    raise
                # A directory Claude Code made: reported, and rupu's own agents still load.
                found.broken.append(BrokenAgent(directory, scope, exc))
                continue
            seen_here: dict[str, Path] = {}
            for file in sorted(directory.glob("*.md")):
                try:
                    check_private(file)
                    spec = load_agent_file(file, scope)
                except ConfigError as exc:
                    found.broken.append(BrokenAgent(file, scope, exc))
                    continue
                if spec.name in seen_here:
                    found.broken.append(
                        BrokenAgent(
                            file,
                            scope,
                            ConfigError(
                                f"duplicate agent name '{spec.name}' (also in {seen_here[spec.name].name})",
                                hint="give each agent in a directory its own name",
                            ),
                        )
                    )
                    continue
                seen_here[spec.name] = file
                previous = found.agents.get(spec.name)
                if previous is not None:
                    found.shadowed.append(previous)
                found.agents[spec.name] = spec
        return found

    def find(self, name: str) -> AgentSpec:
        spec = self.agents.get(name)
        if spec is not None:
            return spec
        broken = [b for b in self.broken if b.path.stem == name]
        if broken:
            raise broken[0].error
        known = sorted(self.agents)
        raise ConfigError(
            f"no agent named '{name}'{did_you_mean(name, known)}",
            field="agent",
            hint=(f"known agents: {', '.join(known)}" if known else "no agents found")
            + "; put NAME.md in .rupu/agents/ or ~/.rupu/agents/, or pass a path to a .md file",
        )


def agent_dirs(paths: Paths, *, claude_code: bool | None = None) -> list[tuple[AgentScope, Path]]:
    """Every agent directory, lowest precedence first: Claude Code's (unless turned off), then
    rupu's."""
    if claude_code is None:
        claude_code = load_config(paths).config.agents.claude_code
    dirs: list[tuple[AgentScope, Path]] = []
    if claude_code:
        for scope, directory in paths.claude_agent_dirs():
            dirs.append(
                ("claude-project" if scope == "claude-project" else "claude-user", directory)
            )
    for scope, directory in paths.agent_dirs():
        dirs.append(("project" if scope == "project" else "global", directory))
    return dirs


def resolve_agent(reference: str, paths: Paths) -> AgentSpec:
    """A name from the installed agents, or a path to an agent file."""
    candidate = Path(reference).expanduser()
    if reference.endswith(".md") or "/" in reference or candidate.is_file():
        if not candidate.is_absolute():
            candidate = paths.cwd / candidate
        if not candidate.is_file():
            raise ConfigError(f"agent file not found: {reference}", field="agent")
        claude = {d.resolve(): scope for scope, d in paths.claude_agent_dirs()}
        parent = candidate.parent.resolve()
        if parent in claude or parent in {d.resolve() for _, d in paths.agent_dirs()}:
            check_private(candidate.parent)
            check_private(candidate)
        scope: AgentScope = "claude-user" if claude.get(parent) == "claude-user" else "path"
        return load_agent_file(candidate, scope)
    return InstalledAgents.scan(paths).find(reference)
