"""Starting a project: `init_project` writes a `.rupu/` directory with sample agents (one per
built-in provider family, each runnable offline on `--provider mock`), a sample fan-out workflow and
a commented `config.toml`, then trusts the project, unless it holds other settings files nobody
trusted yet (a cloned repository's own agents): those the user reviews and trusts with `rupu trust`.

Nothing is overwritten unless asked: when any file it would write exists with other content, it
writes nothing and names the files. A file that already holds exactly the starter's content is left
as it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from rupu.atomicfile import replace_file
from rupu.errors import UsageError
from rupu.trust import TrustStore, project_files

STARTER = "starter"


@dataclass(frozen=True, slots=True)
class InitResult:
    root: Path
    created: list[Path] = field(default_factory=list)
    replaced: list[Path] = field(default_factory=list)
    unchanged: list[Path] = field(default_factory=list)
    trusted: bool = False
    # Project files init did not write and nobody trusted: the project is left untrusted.
    untrusted: list[Path] = field(default_factory=list)

    @property
    def written(self) -> list[Path]:
        return [*self.created, *self.replaced]


def starter_files() -> dict[str, bytes]:
    """Every starter file by its path under `.rupu/` (e.g. `agents/hello.md`)."""
    base = resources.files("rupu.api").joinpath(STARTER)
    found: dict[str, bytes] = {}
    pending = [(base, "")]
    while pending:
        node, prefix = pending.pop()
        for child in node.iterdir():
            name = f"{prefix}{child.name}"
            if child.is_dir():
                pending.append((child, f"{name}/"))
            elif not child.name.startswith("."):
                found[name] = child.read_bytes()
    return dict(sorted(found.items()))


def init_project(directory: Path, *, home: Path, force: bool = False) -> InitResult:
    """Writes the starter into `directory/.rupu/` and trusts the project (trust lives in
    `home/trust.json`). Raises `UsageError` (exit 2), writing nothing, when a file exists with other
    content and `force` is not set."""
    root = directory.expanduser().resolve()
    if root.exists() and not root.is_dir():
        raise UsageError(f"{root} is not a directory", hint="pass a directory: rupu init DIR")
    dot = root / ".rupu"
    plan = {dot / name: data for name, data in starter_files().items()}
    differing = [p for p, data in plan.items() if p.exists() and _content(p) != data]
    if differing and not force:
        listed = ", ".join(str(p.relative_to(root)) for p in differing)
        raise UsageError(
            f"{root} already has {listed} with other content; nothing was written",
            hint="keep your files, or pass --force to replace them with the starter's",
        )
    created: list[Path] = []
    replaced: list[Path] = []
    unchanged: list[Path] = []
    for path, data in plan.items():
        if path.exists() and _content(path) == data:
            unchanged.append(path)
            continue
        (replaced if path.exists() else created).append(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        replace_file(path, data)
    store = TrustStore.load(home)
    others = [p for p in project_files(root) if p not in plan and not store.trusts(root, p)]
    if others:  # files someone else wrote: the user reviews them and runs `rupu trust`
        return InitResult(root, created, replaced, unchanged, untrusted=others)
    store.trust(root)
    store.save()
    return InitResult(root, created, replaced, unchanged, trusted=True)


def _content(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except (IsADirectoryError, PermissionError):
        return None
