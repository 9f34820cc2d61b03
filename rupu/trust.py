"""Project trust: which project directories the user trusted, and the content they trusted.

`$RUPU_HOME/trust.json` (0600) maps a project's resolved path to a sha256 of each of its files'
*security-relevant* content: config.toml's parsed TOML, an agent file's parsed frontmatter (not the
prompt body), a workflow's agent and provider choices. A file whose fingerprint differs from the one
recorded (or that was not there when the user trusted the project) is untrusted again; editing a prompt
keeps trust. What a project may do only once trusted is decided in `rupu.agents.trust_gate`.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from pydantic import Field, ValidationError

from rupu.atomicfile import replace_file
from rupu.errors import ConfigError, Location
from rupu.strict import StrictModel
from rupu.yamldoc import parse_yaml, split_frontmatter

TRUST_FILE = "trust.json"
AGENT_GLOBS = (".rupu/agents/*.md", "agents/*.md")
WORKFLOW_GLOBS = (
    ".rupu/workflows/*.yaml",
    ".rupu/workflows/*.yml",
    "workflows/*.yaml",
    "workflows/*.yml",
)
# What a workflow step chooses that trust covers: its agent and where it runs, and what it executes.
_STEP_CHOICES = (
    "id",
    "agent",
    "provider",
    "model",
    "auth",
    "fallback",
    "run",
    "shell",
    "env",
    "cwd",
    "matrix",
)


class TrustedProject(StrictModel):
    trusted_at: str
    files: dict[str, str] = Field(default_factory=dict)


class TrustFile(StrictModel):
    version: int = 1
    projects: dict[str, TrustedProject] = Field(default_factory=dict)


def project_key(directory: Path) -> str:
    return str(directory.resolve())


def project_files(root: Path) -> list[Path]:
    """The files of a project whose settings trust covers."""
    found = [root / ".rupu" / "config.toml"]
    for pattern in (*AGENT_GLOBS, *WORKFLOW_GLOBS):
        found.extend(sorted(root.glob(pattern)))
    return [path for path in found if path.is_file()]


def relative_name(root: Path, path: Path) -> str:
    resolved = path.resolve()
    base = root.resolve()
    return str(resolved.relative_to(base)) if resolved.is_relative_to(base) else str(resolved)


def fingerprint(path: Path) -> str:
    """sha256 of the file's security-relevant content; of its bytes when it does not parse."""
    raw = path.read_bytes()
    try:
        relevant = _relevant(path, raw.decode("utf-8-sig"))
    except (ValueError, ConfigError, RecursionError):
        relevant = None
    if relevant is None:
        return "raw:" + hashlib.sha256(raw).hexdigest()
    blob = orjson.dumps(relevant, option=orjson.OPT_SORT_KEYS, default=str)
    return hashlib.sha256(blob).hexdigest()


def _relevant(path: Path, text: str) -> Any:
    if path.suffix == ".toml":
        return {"config": tomllib.loads(text)}
    if path.suffix == ".md":
        header, _body = split_frontmatter(text, str(path))
        data, _doc = parse_yaml(path, header, first_line=2)
        return {"agent": data}
    data, _doc = parse_yaml(path, text)
    if not isinstance(data, dict):
        return None
    steps: list[dict[str, Any]] = []
    for step in data.get("steps") or []:
        if not isinstance(step, dict):
            continue
        entries = [step, *(p for p in step.get("parallel") or [] if isinstance(p, dict))]
        steps.extend({k: e[k] for k in _STEP_CHOICES if k in e} for e in entries)
    return {"workflow": data.get("name"), "steps": steps}


@dataclass(slots=True)
class TrustStore:
    """`$RUPU_HOME/trust.json`, read once; `save()` writes it atomically (0600)."""

    path: Path
    data: TrustFile

    @classmethod
    def load(cls, home: Path) -> TrustStore:
        path = home / TRUST_FILE
        if not path.is_file():
            return cls(path, TrustFile())
        try:
            data = TrustFile.model_validate(orjson.loads(path.read_bytes()))
        except (orjson.JSONDecodeError, ValidationError, UnicodeDecodeError):
            raise ConfigError(
                "the trust file is not valid",
                location=Location(str(path)),
                hint="delete it and trust your projects again with `rupu trust DIR`",
            ) from None
        return cls(path, data)

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        replace_file(self.path, orjson.dumps(self.data.model_dump(), option=orjson.OPT_INDENT_2))

    def entry(self, root: Path) -> TrustedProject | None:
        return self.data.projects.get(project_key(root))

    def trusts(self, root: Path, path: Path) -> bool:
        """Whether `path` (a file of the project at `root`) holds the content the user trusted."""
        entry = self.entry(root)
        if entry is None:
            return False
        recorded = entry.files.get(relative_name(root, path))
        return recorded is not None and path.is_file() and recorded == fingerprint(path)

    def trust(self, root: Path, extra: Iterable[Path] = ()) -> list[str]:
        """Records `root` with the fingerprints of its files (and of `extra` files, e.g. an agent
        file a workflow names by path); returns the names recorded. Call `save()` after."""
        files = {*project_files(root), *(p for p in extra if p.is_file())}
        before = self.entry(root)
        entry = TrustedProject(
            trusted_at=datetime.now(UTC).isoformat(timespec="seconds"),
            files={
                **(before.files if before else {}),
                **{relative_name(root, p): fingerprint(p) for p in files},
            },
        )
        self.data.projects[project_key(root)] = entry
        return sorted(entry.files)

    def forget(self, root: Path) -> bool:
        return self.data.projects.pop(project_key(root), None) is not None

    def changed(self, root: Path) -> list[str]:
        """Files of a trusted project that are new or differ from what was trusted."""
        entry = self.entry(root)
        if entry is None:
            return []
        out = []
        for path in project_files(root):
            name = relative_name(root, path)
            if entry.files.get(name) != fingerprint(path):
                out.append(name)
        return out
