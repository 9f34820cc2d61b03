"""Agents that call agents: the tree an agent's `agents:` list spans, checked when the agent loads.

Each entry of `agents:` is an installed agent's name or a path to its `.md` file (relative to the
listing agent's own file). The whole tree is loaded before anything runs: an agent that (directly or
through others) lists itself is a cycle and refused, and so is a tree deeper than
`[subagents] max_depth` (default 3; the top agent is depth 0).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from rupu.agents.lookup import resolve_agent
from rupu.agents.spec import AgentSpec
from rupu.config import PermissionMode
from rupu.errors import ConfigError
from rupu.paths import Paths

DEFAULT_MAX_DEPTH = 3
# Wider modes allow more: a sub-agent never runs in a wider mode than the agent that called it.
MODE_WIDTH: dict[PermissionMode, int] = {"readonly": 0, "ask": 1, "bypass": 2}


@dataclass(frozen=True, slots=True)
class AgentTree:
    """An agent and the agents it may call (by name), each with theirs; `depth` 0 is the top."""

    spec: AgentSpec
    depth: int = 0
    children: dict[str, AgentTree] = field(default_factory=dict)

    def walk(self) -> Iterator[AgentTree]:
        yield self
        for child in self.children.values():
            yield from child.walk()

    def specs(self) -> list[AgentSpec]:
        """Every agent of the tree once (the top one first)."""
        seen: dict[Path | str, AgentSpec] = {}
        for node in self.walk():
            seen.setdefault(_identity(node.spec), node.spec)
        return list(seen.values())


def _identity(spec: AgentSpec) -> Path | str:
    return spec.path.resolve() if spec.path.is_file() else spec.name


def _reference_paths(reference: str, parent: AgentSpec, paths: Paths) -> Paths:
    """A path entry is read relative to the listing agent's file (names are looked up as usual)."""
    if ("/" in reference or reference.endswith(".md")) and parent.path.is_file():
        return Paths(paths.home, paths.project, parent.path.parent)
    return paths


def load_tree(spec: AgentSpec, paths: Paths, *, max_depth: int = DEFAULT_MAX_DEPTH) -> AgentTree:
    """The tree below `spec`, every file loaded and checked; a ConfigError for a cycle, a tree
    deeper than `max_depth`, or an entry that names no agent."""
    return _load(spec, paths, max_depth, 0, [spec])


def _load(
    spec: AgentSpec, paths: Paths, max_depth: int, depth: int, chain: list[AgentSpec]
) -> AgentTree:
    children: dict[str, AgentTree] = {}
    for reference in spec.frontmatter.agents or ():
        try:
            child = resolve_agent(reference, _reference_paths(reference, spec, paths))
        except ConfigError as exc:
            raise ConfigError(
                f"agent '{spec.name}' lists '{reference}' in agents: {exc.message}",
                location=exc.location,
                field="agents",
                hint=exc.hint,
            ) from None
        if any(_identity(child) == _identity(above) for above in chain):
            names = " → ".join([*(a.name for a in chain), child.name])
            raise ConfigError(
                f"agent '{spec.name}' lists '{reference}', which makes a cycle: {names}",
                field="agents",
                hint="an agent may not call itself, directly or through the agents it calls",
            )
        if depth + 1 > max_depth:
            names = " → ".join([*(a.name for a in chain), child.name])
            raise ConfigError(
                f"sub-agents nest deeper than {max_depth} levels: {names}",
                field="agents",
                hint="flatten the tree, or raise [subagents] max_depth in config.toml",
            )
        if child.name in children:
            raise ConfigError(
                f"agent '{spec.name}' lists two agents named '{child.name}'",
                field="agents",
                hint="each agent it calls needs its own name",
            )
        children[child.name] = _load(child, paths, max_depth, depth + 1, [*chain, child])
    return AgentTree(spec, depth, children)


def narrower_mode(own: PermissionMode, parent: PermissionMode) -> PermissionMode:
    """The mode a sub-agent runs in: its own, unless the caller's is narrower."""
    return own if MODE_WIDTH[own] <= MODE_WIDTH[parent] else parent
