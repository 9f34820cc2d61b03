"""Where a setting came from (a file and line in the global or project scope, a flag, or the built-in
default) and whether that scope is trusted, for `rupu agent show` and `rupu workflow show`."""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from rupu.agents.spec import AgentSpec
from rupu.agents.trust_gate import in_project
from rupu.config import toml_line_finder
from rupu.errors import ConfigError
from rupu.paths import Paths
from rupu.trust import TrustStore
from rupu.workflows.kinds.agent import AgentStep, AgentTargetKeys
from rupu.workflows.kinds.matrix import MatrixStep
from rupu.yamldoc import parse_yaml, split_frontmatter

if TYPE_CHECKING:
    from rupu.workflows.kinds.agent import ParallelStep
    from rupu.workflows.plan import Plan

Scope = Literal["global", "project", "path", "flag", "default"]


@dataclass(frozen=True, slots=True)
class Origin:
    scope: Scope
    where: str = ""  # file:line, or the flag
    trusted: bool | None = None  # None: not a project file (the user's own, a flag, a default)

    def describe(self) -> str:
        if self.scope == "default":
            return "built-in default"
        if self.scope == "flag":
            return self.where
        trust = "" if self.trusted is None else " · trusted" if self.trusted else " · not trusted"
        return f"{self.scope} {self.where}{trust}"

    def as_dict(self) -> dict[str, Any]:
        return {"scope": self.scope, "where": self.where or None, "trusted": self.trusted}


DEFAULT = Origin("default")


@dataclass(slots=True)
class Provenance:
    """Answers "where did this come from" for one invocation (the trust file is read once)."""

    paths: Paths
    _store: TrustStore | None = None

    def _trusted(self, path: Path) -> bool | None:
        if self.paths.project is None or not in_project(self.paths, path):
            return None
        if self._store is None:
            self._store = TrustStore.load(self.paths.home)
        return self._store.trusts(self.paths.project, path)

    def file(self, path: Path, line: int | None, scope: Scope) -> Origin:
        trusted = self._trusted(path)
        if trusted is not None and scope == "path":
            scope = "project"
        return Origin(scope, f"{path}:{line}" if line else str(path), trusted)

    def config(self, key: Sequence[str]) -> Origin | None:
        """The config file (project first, it is layered on top) that sets `key`, or None."""
        layers = [("project", self.paths.project_config), ("global", self.paths.global_config)]
        for scope, path in layers:
            if path is None or not path.is_file():
                continue
            try:
                text = path.read_text(encoding="utf-8-sig")
                data: Any = tomllib.loads(text)
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
                continue
            for part in key:
                data = data.get(part) if isinstance(data, dict) else None
            if data is not None:
                line = toml_line_finder(text)(list(key))
                return self.file(path, line, "project" if scope == "project" else "global")
        return None

    def agent_key(self, spec: AgentSpec, key: str) -> Origin:
        return self.file(spec.path, front_line(spec.path, key), spec.scope)

    def agent_settings(self, spec: AgentSpec) -> list[tuple[str, str, Origin]]:
        """(key, value, origin) for each frontmatter key set, then the defaults that apply."""
        front = spec.frontmatter
        rows = [
            (key, _shown(value), self.agent_key(spec, key))
            for key, value in front.model_dump(by_alias=True, exclude_none=True).items()
            if key != "name"
        ]
        if front.provider is None:
            origin = self.config(["default_provider"])
            if origin is not None:
                rows.append(("provider", _config_value(self.paths, "default_provider"), origin))
        if front.permission_mode is None:
            origin = self.config(["permission_mode"])
            value = _config_value(self.paths, "permission_mode") if origin else "ask"
            rows.append(("permissionMode", value, origin or DEFAULT))
        if front.tools is None:
            rows.append(("tools", "all built-in tools", DEFAULT))
        return rows


def front_line(path: Path, key: str) -> int | None:
    try:
        header, _ = split_frontmatter(path.read_text(encoding="utf-8-sig"), str(path))
        _, doc = parse_yaml(path, header, first_line=2)
    except (OSError, UnicodeDecodeError, ConfigError):
        return None
    return doc.line([key])


def _config_value(paths: Paths, key: str) -> str:
    for path in (paths.project_config, paths.global_config):
        if path is not None and path.is_file():
            try:
                value = tomllib.loads(path.read_text(encoding="utf-8-sig")).get(key)
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
                continue
            if value is not None:
                return _shown(value)
    return "-"


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(map(str, value)) if value else "(none)"
    return str(value)


def workflow_origins(
    provenance: Provenance, plan: Plan
) -> dict[tuple[str, str | None], dict[str, Origin]]:
    """For each call of a workflow plan, keyed (step id, sub): where its agent, provider and model
    came from."""
    loaded = plan.loaded
    home = provenance.paths.home.resolve()
    scope: Scope = "global" if loaded.path.resolve().is_relative_to(home) else "path"
    out: dict[tuple[str, str | None], dict[str, Origin]] = {}

    def at(loc: list[str | int], key: str) -> Origin:
        return provenance.file(loaded.path, loaded.doc.line([*loc, key]), scope)

    for planned in plan.steps.values():
        step = planned.step
        for call in planned.calls:
            loc: list[str | int] = ["steps", planned.index]
            assert isinstance(step, AgentTargetKeys)  # only agent-calling kinds plan calls
            if isinstance(step, MatrixStep) and "model" in step.matrix:
                continue  # each combination picks its own; `show` lists them
            entry: AgentTargetKeys | ParallelStep = step
            if isinstance(step, AgentStep) and step.parallel is not None:
                index = next(i for i, p in enumerate(step.parallel) if p.id == call.sub)
                loc, entry = [*loc, "parallel", index], step.parallel[index]
            front = call.agent.frontmatter
            overrides = plan.overrides
            if overrides.provider:
                provider = Origin("flag", "--provider")
            elif entry.provider:
                provider = at(loc, "provider")
            elif front.provider:
                provider = provenance.agent_key(call.agent, "provider")
            else:
                provider = provenance.config(["default_provider"]) or DEFAULT
            switched = overrides.provider is not None and overrides.provider != (
                entry.provider or front.provider
            )
            chosen = overrides.provider or entry.provider
            if overrides.model:
                model = Origin("flag", "--model")
            elif entry.model and not switched:
                model = at(loc, "model")
            elif front.model and (not chosen or chosen == front.provider):
                model = provenance.agent_key(call.agent, "model")
            else:
                name = call.target.provider
                model = (
                    provenance.config(["providers", name, "default_model"])
                    or provenance.config(["providers", name, "model"])
                    or provenance.config(["default_model"])
                    or DEFAULT
                )
            agent = provenance.file(call.agent.path, None, call.agent.scope)
            out[(step.id, call.sub)] = {"agent": agent, "provider": provider, "model": model}
    return out
