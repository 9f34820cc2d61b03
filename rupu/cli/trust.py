"""`rupu trust [DIR]`, `rupu trust --list`, `rupu untrust [DIR]`."""

# lazy imports: a command loads what it needs when it runs, so `rupu --help` stays fast
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from rupu.cli.context import AppContext

if TYPE_CHECKING:
    from rupu.agents.trust_gate import Finding
    from rupu.trust import TrustStore


def _project(app: AppContext, directory: Path | None) -> Path:
    from rupu.errors import UsageError

    if directory is None:
        if app.paths.project is None:
            raise UsageError(
                f"no project here: no .rupu/ directory in {app.paths.cwd} or above it",
                hint="pass the project directory: rupu trust DIR",
            )
        return app.paths.project
    root = directory.expanduser().resolve()
    if not (root / ".rupu").is_dir():
        raise UsageError(
            f"{root} is not a rupu project (it has no .rupu/ directory)",
            hint="pass the directory that holds .rupu/",
        )
    return root


def _project_of(app: AppContext, file: Path) -> Path:
    from rupu.errors import UsageError
    from rupu.paths import find_project_root

    root = find_project_root(file.parent, app.paths.home)
    if root is None:
        raise UsageError(
            f"{file} is not inside a rupu project (no .rupu/ directory above it)",
            hint="files outside a project need no trust",
        )
    return root


@click.command()
@click.argument("directory", required=False, type=click.Path(path_type=Path), metavar="[DIR|FILE]")
@click.option("--list", "list_all", is_flag=True, help="List the trusted projects.")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@click.pass_obj
def trust(app: AppContext, directory: Path | None, list_all: bool, fmt: str) -> None:
    """Trust the project in DIR (default: the current project): its .rupu/ config, agents and
    workflows may then run programs, choose hosts for your credentials and widen tool permissions.
    Trust covers the files as they are now; changing a file's settings needs trust again. FILE
    trusts one agent file elsewhere in a project (one a workflow names by path)."""
    from rupu.trust import TrustStore

    store = TrustStore.load(app.paths.home)
    if list_all:
        _print_list(store, fmt)
        return
    extra: list[Path] = []
    if directory is not None and directory.is_file():
        extra = [directory.expanduser().resolve()]
        directory = _project_of(app, extra[0])
    root = _project(app, directory)
    allowed = _needing_trust(app, root, extra)
    names = store.trust(root, extra=extra)
    store.save()
    click.echo(f"trusted {root}")
    for name in names:
        click.echo(f"  {name}")
    if not names:
        click.echo("  (no settings files yet; files added later need trust again)")
    if allowed:
        click.echo("settings this allows:")
        for line in allowed:
            click.echo(f"  {line}")


def _needing_trust(app: AppContext, root: Path, extra: list[Path]) -> list[str]:
    """What the project's files do that needs trust (reported for the current project only)."""
    from rupu.agents.lookup import InstalledAgents
    from rupu.agents.spec import load_agent_file
    from rupu.errors import ConfigError

    if app.paths.project is None or app.paths.project.resolve() != root.resolve():
        return []
    agents = [s for s in InstalledAgents.scan(app.paths).agents.values() if s.scope == "project"]
    for path in extra:
        try:
            agents.append(load_agent_file(path, "path"))
        except ConfigError:
            continue
    try:
        return app.untrusted_lines(
            agents, include_trusted=True, extra=_workflow_findings(app, root)
        )
    except ConfigError:
        return []


def _workflow_findings(app: AppContext, root: Path) -> list[Finding]:
    """The `run` steps of the project's workflows (each runs a command)."""
    from rupu.errors import ConfigError
    from rupu.trust import WORKFLOW_GLOBS
    from rupu.workflows.kinds.run import command_findings
    from rupu.workflows.loader import load_workflow

    found: list[Finding] = []
    for pattern in WORKFLOW_GLOBS:
        for path in sorted(root.glob(pattern)):
            try:
                loaded = load_workflow(path, root=root)
            except ConfigError:
                continue
            steps = enumerate(loaded.workflow.steps)
            found.extend(command_findings(steps, loaded.doc, app.paths))
    return found


def _print_list(store: TrustStore, fmt: str) -> None:
    import orjson

    from rupu.cli.tables import print_table

    rows: list[dict[str, str | list[str]]] = []
    for key, entry in sorted(store.data.projects.items()):
        root = Path(key)
        if not (root / ".rupu").is_dir():
            status = "missing"
        else:
            changed = store.changed(root)
            status = f"changed: {', '.join(changed)}" if changed else "trusted"
        rows.append(
            {
                "directory": key,
                "trusted_at": entry.trusted_at,
                "files": sorted(entry.files),
                "status": status,
            }
        )
    if fmt == "json":
        click.echo(orjson.dumps({"projects": rows}, option=orjson.OPT_INDENT_2).decode())
        return
    if not rows:
        click.echo("no trusted projects (trust one with `rupu trust DIR`)", err=True)
        return
    print_table(
        ["DIRECTORY", "TRUSTED AT", "FILES", "STATUS"],
        [
            [str(r["directory"]), str(r["trusted_at"]), str(len(r["files"])), str(r["status"])]
            for r in rows
        ],
    )


@click.command()
@click.argument(
    "directory", required=False, type=click.Path(file_okay=False, path_type=Path), metavar="[DIR]"
)
@click.pass_obj
def untrust(app: AppContext, directory: Path | None) -> None:
    """Forget the trust given to the project in DIR (default: the current project)."""
    from rupu.errors import UsageError
    from rupu.trust import TrustStore

    root = app.paths.project if directory is None else directory.expanduser().resolve()
    if root is None:
        raise UsageError(
            f"no project here: no .rupu/ directory in {app.paths.cwd} or above it",
            hint="pass the project directory: rupu untrust DIR",
        )
    store = TrustStore.load(app.paths.home)
    if not store.forget(root):
        raise UsageError(f"{root} is not trusted", hint="see `rupu trust --list`")
    store.save()
    click.echo(f"untrusted {root}")
