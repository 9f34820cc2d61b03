"""`rupu executor check`: where a workflow's units would run, and whether they can."""

# lazy imports: a command loads what it needs when it runs, so `rupu --help` stays fast
from __future__ import annotations

import click

from rupu.cli.context import AppContext


@click.group()
def executor() -> None:
    """Check where workflow units run: this process (local) or a Ray cluster (ray)."""


@executor.command("check")
@click.option(
    "--executor",
    "kind",
    type=click.Choice(["local", "ray"]),
    help="The executor to check (default: [executor] kind, else local).",
)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.pass_obj
def check(app: AppContext, kind: str | None, fmt: str) -> None:
    """Connect, list the nodes with their CPUs and in-flight capacity, and whether each sees the
    workspace (the current directory). Exits 2 when a node cannot see it."""
    import orjson

    from rupu.api.executor import executor_kind, open_cluster
    from rupu.errors import ConfigError

    workspace = str(app.paths.cwd)
    if executor_kind(app, kind) == "local":
        if fmt == "json":
            click.echo(orjson.dumps({"executor": "local", "workspace": workspace}).decode())
        else:
            click.echo(f"executor local: units run in this process; workspace {workspace}")
        return
    fleet = open_cluster(app)
    try:
        nodes = fleet.describe(workspace)
    finally:
        fleet.close()
    blind = [n.node for n in nodes if n.workspace is False]
    if fmt == "json":
        rows = [
            {
                "node": n.node,
                "cpus": n.cpus,
                "workers": n.workers,
                "capacity": n.capacity,
                "workspace": n.workspace,
            }
            for n in nodes
        ]
        click.echo(
            orjson.dumps({"executor": "ray", "workspace": workspace, "nodes": rows}).decode()
        )
    else:
        click.echo(f"executor ray: {len(nodes)} node(s); workspace {workspace}")
        for n in nodes:
            sees = "sees the workspace" if n.workspace else "CANNOT SEE the workspace"
            click.echo(
                f"  {n.node}  {n.cpus:g} CPU  {n.workers} worker(s)  {n.capacity} units in "
                f"flight  {sees}"
            )
    if blind:
        raise ConfigError(
            f"node {blind[0]} cannot see the workspace {workspace}",
            field="executor",
            hint="put the workspace on shared storage at the same path on every node",
        )
