"""Finding workflows and the agents they name.

Workflows: by path, or by name from `<project>/.rupu/workflows/` then `$RUPU_HOME/workflows/` (the
file stem first, then the `name:` inside each file). Agents: by name from the `agents/` directory
beside the workflow's directory (so `.rupu/workflows` uses `.rupu/agents`, and a checkout's
`workflows/` uses its `agents/`), then the installed agents; or a relative `.md` path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rupu.agents.lookup import InstalledAgents
from rupu.agents.spec import AgentSpec, load_agent_file
from rupu.errors import ConfigError, did_you_mean
from rupu.filemodes import check_private
from rupu.paths import Paths
from rupu.workflows.loader import LoadedWorkflow, load_workflow

SUFFIXES = (".yaml", ".yml")


@dataclass(slots=True)
class WorkflowEntry:
    name: str
    path: Path
    scope: str
    loaded: LoadedWorkflow | None = None
    error: ConfigError | None = None


def root_for(path: Path, paths: Paths) -> Path:
    """The directory a workflow's file references (schemas, agent paths) must stay inside."""
    resolved = path.resolve()
    for candidate in (paths.project, paths.home):
        if candidate is not None and resolved.is_relative_to(candidate.resolve()):
            return candidate
    return resolved.parent


def load_reference(reference: str, paths: Paths) -> LoadedWorkflow:
    """A workflow by path (anything ending in .yaml/.yml or containing '/') or by name."""
    candidate = Path(reference).expanduser()
    if reference.endswith(SUFFIXES) or "/" in reference:
        if not candidate.is_absolute():
            candidate = paths.cwd / candidate
        if not candidate.is_file():
            raise ConfigError(
                f"workflow file not found: {reference}",
                hint="pass a path to a .yaml file or a workflow name (see `rupu workflow list`)",
            )
        if candidate.parent.resolve() in {d.resolve() for _, d in paths.workflow_dirs()}:
            check_private(candidate.parent)
            check_private(candidate)
        return load_workflow(candidate, root=root_for(candidate, paths))
    return _by_name(reference, paths)


def _dirs(paths: Paths) -> list[tuple[str, Path]]:
    """Workflow directories, highest precedence first."""
    return list(reversed(paths.workflow_dirs()))


def _by_name(name: str, paths: Paths) -> LoadedWorkflow:
    for _, directory in _dirs(paths):
        check_private(directory)
        for suffix in SUFFIXES:
            path = directory / f"{name}{suffix}"
            if path.is_file():
                check_private(path)
                return load_workflow(path, root=root_for(path, paths))
    entries = list_workflows(paths)
    for entry in entries:
        if entry.name == name:
            if entry.error is not None:
                raise entry.error
            assert entry.loaded is not None
            return entry.loaded
    known = sorted({e.name for e in entries})
    raise ConfigError(
        f"no workflow named '{name}'{did_you_mean(name, known)}",
        hint=(f"known workflows: {', '.join(known)}; " if known else "")
        + "put NAME.yaml in .rupu/workflows/ or ~/.rupu/workflows/, or pass a path",
    )


def list_workflows(paths: Paths) -> list[WorkflowEntry]:
    """Every workflow file; a project file shadows a global one with the same name. Broken files
    are listed with their error."""
    entries: dict[str, WorkflowEntry] = {}
    broken: list[WorkflowEntry] = []
    for scope, directory in _dirs(paths):
        if not directory.is_dir():
            continue
        check_private(directory)
        for path in sorted(p for p in directory.iterdir() if p.suffix in SUFFIXES):
            try:
                check_private(path)
                loaded = load_workflow(path, root=root_for(path, paths))
            except ConfigError as exc:
                broken.append(WorkflowEntry(path.stem, path, scope, error=exc))
                continue
            entries.setdefault(loaded.name, WorkflowEntry(loaded.name, path, scope, loaded))
    return sorted(entries.values(), key=lambda e: e.name) + broken


@dataclass(slots=True)
class WorkflowAgents:
    """Agents for one workflow, loaded once."""

    paths: Paths
    workflow_dir: Path
    root: Path
    _installed: InstalledAgents | None = None
    _beside: dict[str, AgentSpec] = field(default_factory=dict)
    _broken: dict[str, ConfigError] = field(default_factory=dict)
    _scanned: bool = False

    def find(self, reference: str) -> AgentSpec:
        if reference.endswith(".md"):
            return self._by_path(reference)
        self._scan_beside()
        if reference in self._beside:
            return self._beside[reference]
        if reference in self._broken:
            raise self._broken[reference]
        if self._installed is None:
            self._installed = InstalledAgents.scan(self.paths)
        if reference in self._installed.agents or not self._beside:
            return self._installed.find(reference)
        known = sorted({*self._beside, *self._installed.agents})
        raise ConfigError(
            f"no agent named '{reference}'{did_you_mean(reference, known)}",
            field="agent",
            hint=f"known agents: {', '.join(known)}",
        )

    def _by_path(self, reference: str) -> AgentSpec:
        candidate = Path(reference)
        resolved = (self.workflow_dir / candidate).resolve()
        if candidate.is_absolute() or not resolved.is_relative_to(self.root.resolve()):
            raise ConfigError(
                f"agent path '{reference}' leaves {self.root}",
                field="agent",
                hint="name the agent, or give a path inside the project relative to the workflow",
            )
        if not resolved.is_file():
            raise ConfigError(f"agent file not found: {reference}", field="agent")
        return load_agent_file(resolved, "path")

    def _scan_beside(self) -> None:
        if self._scanned:
            return
        self._scanned = True
        directory = self.workflow_dir.parent / "agents"
        known_dirs = {d.resolve() for _, d in self.paths.agent_dirs()}
        if not directory.is_dir() or directory.resolve() in known_dirs:
            return
        for file in sorted(directory.glob("*.md")):
            try:
                spec = load_agent_file(file, "path")
            except ConfigError as exc:
                self._broken.setdefault(file.stem, exc)
                continue
            self._beside.setdefault(spec.name, spec)
