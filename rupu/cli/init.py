"""`rupu init [DIR]`: a project with sample agents, a sample workflow and a commented config."""

# lazy imports: a command loads what it needs when it runs, so `rupu --help` stays fast
from __future__ import annotations

import os
from pathlib import Path

import click

from rupu.cli.context import AppContext

NEXT_STEPS = (
    ("rupu agent list", "the agents rupu now finds"),
    ('rupu run --agent hello "Hello"', "one agent, offline on the mock provider"),
    ("rupu workflow run sample --provider mock", "the sample fan-out, offline"),
)


@click.command()
@click.argument(
    "directory", required=False, type=click.Path(file_okay=False, path_type=Path), metavar="[DIR]"
)
@click.option("--force", is_flag=True, help="Replace starter files that exist with other content.")
@click.pass_obj
def init(app: AppContext, directory: Path | None, force: bool) -> None:
    """Create a project in DIR (default: the current directory): .rupu/agents/ with a sample agent
    per provider family, .rupu/workflows/sample.yaml and a commented .rupu/config.toml. The project
    is trusted, since you made its files. Existing files are never replaced without --force.
    """
    from rupu.api.project import init_project

    target = directory if directory is not None else app.paths.cwd
    result = init_project(target, home=app.paths.home, force=force)
    if not result.written:
        click.echo(f"{result.root / '.rupu'} already holds the starter files; nothing to do")
    else:
        click.echo(f"created {result.root / '.rupu'}:")
        for path in result.created:
            click.echo(f"  {path.relative_to(result.root)}")
        for path in result.replaced:
            click.echo(f"  {path.relative_to(result.root)} (replaced)")
    if result.trusted:
        click.echo("trusted the project (you made its files; `rupu untrust` undoes it)")
    else:
        click.echo("not trusted: these project files were not made by init; review them, then run")
        click.echo(f"`rupu trust {result.root}`:")
        for path in result.untrusted:
            click.echo(f"  {path.relative_to(result.root)}")
    click.echo("next:")
    moved = result.root != app.paths.cwd.resolve()
    prefix = f"cd {_shown(result.root)} && " if moved else ""
    width = max(len(prefix + command) for command, _ in NEXT_STEPS)
    for command, why in NEXT_STEPS:
        click.echo(f"  {(prefix + command).ljust(width)}  # {why}")


def _shown(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)
