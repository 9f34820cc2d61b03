"""`rupu agent list|show`."""

# lazy imports: a command loads what it needs when it runs, so `rupu --help` stays fast
from __future__ import annotations

from typing import TYPE_CHECKING

import click

from rupu.cli import complete

if TYPE_CHECKING:
    from rupu.cli.context import AppContext


@click.group()
def agent() -> None:
    """List and show agents (project .rupu/agents shadows ~/.rupu/agents by name)."""


@agent.command("list")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@click.pass_obj
def list_agents(app: AppContext, fmt: str) -> None:
    """Every agent with its scope, provider and model; broken files are listed as errors."""
    import orjson

    from rupu.agents.lookup import InstalledAgents
    from rupu.cli.tables import print_table

    catalog = InstalledAgents.scan(app.paths)
    rows = [
        {
            "name": spec.name,
            "scope": spec.scope,
            "provider": spec.frontmatter.provider or app.config.config.default_provider or "-",
            "model": spec.frontmatter.model or "-",
            "description": spec.frontmatter.description or "",
            "path": str(spec.path),
        }
        for spec in sorted(catalog.agents.values(), key=lambda s: s.name)
    ]
    errors = [
        {"path": str(b.path), "scope": b.scope, "error": b.error.one_line()} for b in catalog.broken
    ]
    if fmt == "json":
        click.echo(
            orjson.dumps({"agents": rows, "errors": errors}, option=orjson.OPT_INDENT_2).decode()
        )
        return
    if not rows and not errors:
        click.echo(_nothing_found(app), err=True)
        return
    print_table(
        ["NAME", "SCOPE", "PROVIDER", "MODEL", "DESCRIPTION"],
        [[r["name"], r["scope"], r["provider"], r["model"], r["description"]] for r in rows],
    )
    for broken in errors:
        click.echo(f"error: {broken['error']}", err=True)


def _nothing_found(app: AppContext) -> str:
    """Where `agent list` looked and how to start."""
    looked = [f"  {directory} ({scope})" for scope, directory in app.paths.agent_dirs()]
    if app.paths.project is None:
        looked.append(f"  no project: no .rupu/ directory in {app.paths.cwd} or above it")
    return "\n".join(
        [
            "no agents found; looked in:",
            *looked,
            "to start a project here with sample agents and a workflow: rupu init",
            "or write one, e.g. .rupu/agents/hello.md:",
            "  ---",
            "  name: hello",
            "  provider: mock",
            "  ---",
            "  You say hello back.",
            'then run: rupu run --agent hello "Hello"  (every key: docs/agents.md)',
        ]
    )


@agent.command("show")
@click.argument("name", shell_complete=complete.agent_names)
@click.pass_obj
def show_agent(app: AppContext, name: str) -> None:
    """An agent's settings (each with where it came from and whether that scope is trusted) and its
    system prompt."""
    from rupu.agents.lookup import resolve_agent
    from rupu.workflows.provenance import Provenance

    spec = resolve_agent(name, app.paths)
    provenance = Provenance(app.paths)
    home = provenance.file(spec.path, None, spec.scope)
    click.echo(f"# {spec.name}  ({home.describe()})")
    rows = provenance.agent_settings(spec)
    width = max((len(f"{key}: {value}") for key, value, _ in rows), default=0)
    for key, value, origin in rows:
        click.echo(f"{f'{key}: {value}'.ljust(width)}  ({origin.describe()})")
    for line in app.untrusted_lines([spec]):
        click.echo(f"needs trust: {line}")
    click.echo("---")
    click.echo(spec.system_prompt)
