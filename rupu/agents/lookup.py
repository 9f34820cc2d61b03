"""Finding agents: `<project>/.rupu/agents/*.md` shadows `$RUPU_HOME/agents/*.md` by `name`; a path to
a `.md` file works too. A broken file is reported and never stops the others from loading."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rupu.agents.spec import AgentSpec, load_agent_file
from rupu.errors import ConfigError, did_you_mean
from rupu.filemodes import check_private
from rupu.paths import Paths


@dataclass(frozen=True, slots=True)
class BrokenAgent:
    path: Path
    scope: str
    error: ConfigError


@dataclass(slots=True)
class InstalledAgents:
    """The agents of the global and project directories (project shadows global by name)."""

    agents: dict[str, AgentSpec] = field(default_factory=dict)
    shadowed: list[AgentSpec] = field(default_factory=list)
    broken: list[BrokenAgent] = field(default_factory=list)

    @classmethod
    def scan(cls, paths: Paths) -> InstalledAgents:
        found = cls()
        for scope, directory in paths.agent_dirs():
            if not directory.is_dir():
                continue
            check_private(directory)
            seen_here: dict[str, Path] = {}
            for file in sorted(directory.glob("*.md")):
                try:
                    check_private(file)
                    spec = load_agent_file(file, "project" if scope == "project" else "global")
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


def resolve_agent(reference: str, paths: Paths) -> AgentSpec:
    """A name from the installed agents, or a path to an agent file."""
    candidate = Path(reference).expanduser()
    if reference.endswith(".md") or "/" in reference or candidate.is_file():
        if not candidate.is_absolute():
            candidate = paths.cwd / candidate
        if not candidate.is_file():
            raise ConfigError(f"agent file not found: {reference}", field="agent")
        if candidate.parent.resolve() in {d.resolve() for _, d in paths.agent_dirs()}:
            check_private(candidate.parent)
            check_private(candidate)
        return load_agent_file(candidate, "path")
    return InstalledAgents.scan(paths).find(reference)
