"""`rupu agent list|show`."""

# lazy imports: a command loads what it needs when it runs, so `rupu --help` stays fast
from __future__ import annotations

from typing import TYPE_CHECKING

import click

from rupu.cli import complete

if TYPE_CHECKING:
    from rupu.agents.spec import AgentSpec
    from rupu.cli.context import AppContext


@click.group()
def agent() -> None:
    """List and show agents (project .rupu/agents shadows ~/.rupu/agents, which shadows Claude Code's
    .claude/agents and ~/.claude/agents, by name)."""


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

    catalog = InstalledAgents.scan(app.paths, claude_code=app.config.config.agents.claude_code)
    specs = sorted(catalog.agents.values(), key=lambda s: s.name)
    rows: list[dict[str, object]] = [
        {
            "name": spec.name,
            "scope": spec.scope,
            "provider": _provider_of(app, spec),
            "model": spec.frontmatter.model or "-",
            "description": spec.frontmatter.description or "",
            "path": str(spec.path),
            "notes": spec.notes,
        }
        for spec in specs
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
        [
            [*(str(r[k]) for k in ("name", "scope", "provider", "model")), _short(r["description"])]
            for r in rows
        ],
    )
    for spec in specs:
        for note in spec.notes:
            click.echo(f"note: {spec.path}: {note}", err=True)
    for broken in errors:
        click.echo(f"error: {broken['error']}", err=True)


def _provider_of(app: AppContext, spec: AgentSpec) -> str:
    """The provider a run would use: an alias in `model:` names it, then the agent, then config."""
    from rupu.config.aliases import expand_alias

    config = app.config.config
    alias = expand_alias(spec.frontmatter.model, config.aliases)
    if alias is not None:
        return alias[0]
    return spec.frontmatter.provider or config.default_provider or "-"


def _short(description: object, width: int = 80) -> str:
    """A description on one table line (a Claude Code one often holds whole examples)."""
    text = " ".join(str(description).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _nothing_found(app: AppContext) -> str:
    """Where `agent list` looked and how to start."""
    from rupu.agents.lookup import agent_dirs

    looked = [
        f"  {directory} ({scope})"
        for scope, directory in reversed(
            agent_dirs(app.paths, claude_code=app.config.config.agents.claude_code)
        )
    ]
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
    from rupu.config.aliases import expand_alias
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
    alias = expand_alias(spec.frontmatter.model, app.config.config.aliases)
    if alias is not None:
        source = "[aliases]" if spec.frontmatter.model in app.config.config.aliases else "built in"
        click.echo(f"alias: {spec.frontmatter.model} = {alias[0]}:{alias[1]}  ({source})")
    for note in spec.notes:
        click.echo(f"note: {note}")
    _show_subagents(app, spec)
    click.echo("---")
    click.echo(spec.system_prompt)


def _show_subagents(app: AppContext, spec: AgentSpec) -> None:
    """The tree `agents:` spans, one line per sub-agent, or why it cannot load."""
    from rupu.agents.subagents import load_tree
    from rupu.errors import ConfigError

    if not spec.frontmatter.agents:
        return
    try:
        tree = load_tree(spec, app.paths, max_depth=app.config.config.subagents.max_depth)
    except ConfigError as exc:
        click.echo(f"sub-agents: error: {exc.one_line()}")
        return
    click.echo("sub-agents:")
    for node in list(tree.walk())[1:]:
        front = node.spec.frontmatter
        where = " · ".join(v for v in (front.provider, front.model) if v) or "default provider"
        click.echo(f"  {'  ' * (node.depth - 1)}{node.spec.name}  {where}  ({node.spec.path})")
