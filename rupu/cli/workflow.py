"""`rupu workflow run|list|show|runs|show-run|resume|approve|reject`."""

# lazy imports: a command loads what it needs when it runs, so `rupu --help` stays fast
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from rupu.cli import complete

if TYPE_CHECKING:
    from rupu.cli.context import AppContext
    from rupu.workflows.engine import Engine

_FORMAT = click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json streams the run's events as JSON lines on stdout.",
)
_PLAIN = click.option("--plain", is_flag=True, help="One line per event instead of the live view.")
_MAX_USD = click.option(
    "--max-usd",
    type=click.FloatRange(min=0, min_open=True),
    help="Stop before a call that could take the run's cost past this many US dollars (exit 5); "
    "replaces the workflow's budget.max_usd.",
)
_MAX_TOKENS = click.option(
    "--max-tokens",
    type=click.IntRange(min=1),
    help="Stop before a call that could take the run past this many tokens (exit 5); replaces "
    "the workflow's budget.max_tokens.",
)
_CACHE = click.option(
    "--cache/--no-cache",
    "cache",
    default=None,
    help="--cache: every step reuses results of equal units from earlier runs (unless it says "
    "cache: false); --no-cache: no step does. Default: steps with cache: true.",
)


def _cache_mode(cache: bool | None) -> Any:
    return "auto" if cache is None else ("on" if cache else "off")


@click.group()
def workflow() -> None:
    """Run YAML workflows of agents (.rupu/workflows shadows ~/.rupu/workflows by name)."""


_MODE = click.option(
    "--mode",
    type=click.Choice(["ask", "bypass", "readonly"]),
    help="Tool permission mode for every step's tools and `run` commands (steps never prompt: ask "
    "denies writes, and commands not allowed in [tools.bash] allow).",
)


_EXECUTOR = click.option(
    "--executor",
    type=click.Choice(["local", "ray"]),
    help="Where units run: local (this process) or ray (a Ray cluster: [executor] address or "
    "RAY_ADDRESS; pip install 'rupu[ray]'). Default: [executor] kind, else local.",
)


def _engine(app: AppContext, mode: str | None, executor: str | None) -> Engine:
    """The engine of a run: on a Ray cluster when the executor (the flag, else `[executor] kind`)
    is ray."""
    from rupu.api.executor import executor_kind, on_cluster, open_cluster
    from rupu.api.workflow_agents import workflow_engine

    engine = workflow_engine(app, mode=mode)
    if executor_kind(app, executor) == "ray":
        # The actors end with this process (they belong to its Ray job).
        engine = on_cluster(engine, open_cluster(app, mode=mode), app.paths.cwd)
    return engine


@workflow.command("run")
@click.argument("reference", metavar="NAME|PATH", shell_complete=complete.workflow_names)
@click.option(
    "--input", "-i", "inputs", multiple=True, metavar="KEY=VALUE", help="A workflow input."
)
@click.option(
    "--provider",
    help="Run every step on this provider (e.g. mock for a dry run).",
    shell_complete=complete.provider_names,
)
@click.option("--model", help="Run every step on this model.", shell_complete=complete.model_ids)
@click.option(
    "--fallback",
    "fallbacks",
    multiple=True,
    metavar="PROVIDER:MODEL",
    shell_complete=complete.fallback_targets,
    help="Fail over to this provider:model when a step's provider is rate limited or overloaded "
    "(repeatable, tried in order; replaces step and agent fallback lists).",
)
@_MODE
@_EXECUTOR
@click.option(
    "--fast",
    is_flag=True,
    help="OpenAI's priority tier for every step on the openai provider; other providers run at "
    "their usual tier, with a note. Fan-outs multiply priority pricing.",
)
@_MAX_USD
@_MAX_TOKENS
@_CACHE
@_PLAIN
@_FORMAT
@click.pass_obj
def run_workflow(
    app: AppContext,
    reference: str,
    inputs: tuple[str, ...],
    provider: str | None,
    model: str | None,
    fallbacks: tuple[str, ...],
    mode: str | None,
    executor: str | None,
    fast: bool,
    max_usd: float | None,
    max_tokens: int | None,
    cache: bool | None,
    plain: bool,
    fmt: str,
) -> None:
    """Run a workflow by name or path. Everything is checked before the first request."""
    from rupu.api.agents import spend_limit
    from rupu.cli.workflow_exec import execute
    from rupu.workflows.agent_calls import Overrides
    from rupu.workflows.inputs import parse_assignments
    from rupu.workflows.lookup import load_reference

    loaded = load_reference(reference, app.paths)
    given = parse_assignments(inputs)
    overrides = Overrides(provider, model, fallbacks, fast)
    execution = _engine(app, mode, executor).start(
        loaded,
        given,
        overrides,
        limit=spend_limit(max_usd, max_tokens),
        cache_mode=_cache_mode(cache),
    )
    execute(execution, fmt=fmt, plain=plain)


@workflow.command("resume")
@click.argument("run_id", metavar="RUN", shell_complete=complete.run_ids)
@_MODE
@_EXECUTOR
@_MAX_USD
@_MAX_TOKENS
@_CACHE
@_PLAIN
@_FORMAT
@click.pass_obj
def resume_workflow(
    app: AppContext,
    run_id: str,
    mode: str | None,
    executor: str | None,
    max_usd: float | None,
    max_tokens: int | None,
    cache: bool | None,
    plain: bool,
    fmt: str,
) -> None:
    """Continue a run: only failed, interrupted and unstarted units run again (on either
    executor, whichever the run started on). A budget counts what the run spent before."""
    from rupu.api.agents import spend_limit
    from rupu.cli.workflow_exec import execute

    execution = _engine(app, mode, executor).reopen(
        run_id, limit=spend_limit(max_usd, max_tokens), cache_mode=_cache_mode(cache)
    )
    execute(execution, fmt=fmt, plain=plain)


@workflow.command("approve")
@click.argument("run_id", metavar="RUN", shell_complete=complete.run_ids)
@click.option("--step", help="The step to approve (needed when several wait).")
@_PLAIN
@_FORMAT
@click.pass_obj
def approve_workflow(app: AppContext, run_id: str, step: str | None, plain: bool, fmt: str) -> None:
    """Approve a parked step and continue the run."""
    from rupu.cli.workflow_exec import execute

    execute(
        _engine(app, None, None).reopen(run_id, decide=(step, "approved", None)),
        fmt=fmt,
        plain=plain,
    )


@workflow.command("reject")
@click.argument("run_id", metavar="RUN", shell_complete=complete.run_ids)
@click.option("--step", help="The step to reject (needed when several wait).")
@click.option("--reason", help="Why; recorded in the run.")
@_PLAIN
@_FORMAT
@click.pass_obj
def reject_workflow(
    app: AppContext, run_id: str, step: str | None, reason: str | None, plain: bool, fmt: str
) -> None:
    """Reject a parked step: it and the steps after it do not run."""
    from rupu.cli.workflow_exec import execute

    decision = (step, "rejected", reason)
    execute(_engine(app, None, None).reopen(run_id, decide=decision), fmt=fmt, plain=plain)


@workflow.command("list")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.pass_obj
def list_workflows_cmd(app: AppContext, fmt: str) -> None:
    """Every workflow with its scope and step count; broken files are listed as errors."""
    import orjson

    from rupu.cli.tables import print_table
    from rupu.workflows.lookup import list_workflows

    entries = list_workflows(app.paths)
    rows = [
        {
            "name": e.name,
            "scope": e.scope,
            "steps": len(e.loaded.workflow.steps) if e.loaded else None,
            "description": (e.loaded.workflow.description or "") if e.loaded else "",
            "path": str(e.path),
            "error": e.error.one_line() if e.error else None,
        }
        for e in entries
    ]
    if fmt == "json":
        click.echo(orjson.dumps({"workflows": rows}, option=orjson.OPT_INDENT_2).decode())
        return
    good = [r for r in rows if r["error"] is None]
    if not rows:
        click.echo(
            "no workflows found: add NAME.yaml to .rupu/workflows/ or ~/.rupu/workflows/", err=True
        )
        return
    print_table(
        ["NAME", "SCOPE", "STEPS", "DESCRIPTION"],
        [[str(r["name"]), str(r["scope"]), str(r["steps"]), str(r["description"])] for r in good],
    )
    for row in rows:
        if row["error"]:
            click.echo(f"error: {row['error']}", err=True)


@workflow.command("show")
@click.argument("reference", metavar="NAME|PATH", shell_complete=complete.workflow_names)
@click.option(
    "--provider",
    help="Show the plan as it would run on this provider.",
    shell_complete=complete.provider_names,
)
@click.option(
    "--model",
    help="Show the plan as it would run on this model.",
    shell_complete=complete.model_ids,
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.pass_obj
def show_workflow(
    app: AppContext, reference: str, provider: str | None, model: str | None, fmt: str
) -> None:
    """A workflow's inputs, steps and graph, with each step's resolved provider and model."""
    from rupu.cli.workflow_show import describe_plan, print_plan
    from rupu.workflows.agent_calls import Overrides
    from rupu.workflows.engine import plan_workflow
    from rupu.workflows.lookup import load_reference
    from rupu.workflows.plan import trust_findings
    from rupu.workflows.provenance import Provenance, workflow_origins

    loaded = load_reference(reference, app.paths)
    plan = plan_workflow(
        loaded, app.paths, app.config, inputs=None, overrides=Overrides(provider, model)
    )
    for warning in loaded.warnings:
        click.echo(f"rupu: warning: {warning}", err=True)
    origins = workflow_origins(Provenance(app.paths), plan)
    agents = [call.agent for call in plan.all_calls()]
    needs_trust = app.untrusted_lines(agents, extra=trust_findings(plan, app.paths))
    if fmt == "json":
        import orjson

        described = describe_plan(plan, origins, needs_trust)
        click.echo(orjson.dumps(described, option=orjson.OPT_INDENT_2).decode())
    else:
        print_plan(plan, origins, needs_trust)


@workflow.command("runs")
@click.option("--limit", default=50, show_default=True, help="Show at most this many runs.")
@click.option("--workflow", "name", help="Only runs of this workflow.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.pass_obj
def list_runs(app: AppContext, limit: int, name: str | None, fmt: str) -> None:
    """Recent workflow runs, newest first."""
    import datetime as dt

    import orjson

    from rupu.catalog.pricing import format_cost
    from rupu.cli.tables import print_table
    from rupu.workflows.progress import read_progress
    from rupu.workflows.store import RunLock

    rows = app_store(app).index.recent(limit=limit, workflow=name)
    items: list[dict[str, Any]] = []
    for row in rows:
        status, tokens, steps_done = row.status, row.tokens, row.steps_done
        units_done, units_total = row.units_done, row.units_total
        directory = app.paths.runs / row.run_id
        if status == "running" and not RunLock(directory / "lock").held_elsewhere():
            # Its process died without writing a final state (SIGKILL, power loss): the run
            # folder still says how far it got.
            progress = read_progress(directory)
            status, tokens = "interrupted", progress.tokens
            units_done, units_total = progress.units_done, progress.units_total
            steps_done = max(progress.steps_done, len(list((directory / "steps").glob("*.json"))))
        items.append(
            {
                "run_id": row.run_id,
                "workflow": row.workflow,
                "status": status,
                "steps": f"{steps_done}/{row.steps_total}",
                "units_done": units_done,
                "units_total": units_total,
                "tokens": tokens,
                "cost_usd": row.cost_usd,
                "started": dt.datetime.fromtimestamp(row.created).strftime("%Y-%m-%d %H:%M:%S"),
                "failed": row.failed,
                "error": row.error,
            }
        )
    if fmt == "json":
        click.echo(orjson.dumps({"runs": items}, option=orjson.OPT_INDENT_2).decode())
        return
    if not items:
        click.echo("no workflow runs yet: start one with `rupu workflow run NAME`", err=True)
        return
    print_table(
        ["RUN ID", "WORKFLOW", "STATUS", "STEPS", "UNITS", "TOKENS", "COST", "STARTED"],
        [
            [
                i["run_id"],
                i["workflow"],
                i["status"],
                i["steps"],
                f"{i['units_done']}/{i['units_total']}",
                str(i["tokens"]),
                format_cost(i["cost_usd"]) if i["cost_usd"] is not None else "unknown",
                i["started"],
            ]
            for i in items
        ],
    )


@workflow.command("show-run")
@click.argument("run_id", metavar="RUN", shell_complete=complete.run_ids)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.pass_obj
def show_run(app: AppContext, run_id: str, fmt: str) -> None:
    """One run: its status, inputs, each step and unit, errors and where the transcripts are."""
    from rupu.cli.workflow_show import describe_run, print_run

    record = app_store(app).open(run_id)
    summary = describe_run(record)
    if fmt == "json":
        import orjson

        click.echo(orjson.dumps(summary, option=orjson.OPT_INDENT_2, default=str).decode())
    else:
        print_run(summary)


def app_store(app: AppContext) -> Any:
    from rupu.workflows.store import RunStore

    return RunStore(app.paths.runs)


@workflow.command("graph")
@click.argument("reference", metavar="NAME|PATH", shell_complete=complete.workflow_names)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["mermaid", "dot", "svg"]),
    default="mermaid",
    show_default=True,
)
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Write to FILE."
)
@click.option(
    "--provider",
    help="Draw the steps as they would run on this provider.",
    shell_complete=complete.provider_names,
)
@click.option(
    "--model",
    help="Draw the steps as they would run on this model.",
    shell_complete=complete.model_ids,
)
@click.pass_obj
def graph_workflow(
    app: AppContext,
    reference: str,
    fmt: str,
    output: Path | None,
    provider: str | None,
    model: str | None,
) -> None:
    """Draw a workflow: one node per step (kind, agent, provider:model after overrides, fan-out
    size, approval), one edge per dependency. SVG is drawn by rupu itself."""
    from rupu.atomicfile import replace_file
    from rupu.pictures.graph import to_dot, to_mermaid
    from rupu.pictures.plan_graph import plan_graph
    from rupu.pictures.svg import to_svg
    from rupu.workflows.agent_calls import Overrides
    from rupu.workflows.engine import plan_workflow
    from rupu.workflows.lookup import load_reference

    loaded = load_reference(reference, app.paths)
    plan = plan_workflow(
        loaded, app.paths, app.config, inputs=None, overrides=Overrides(provider, model)
    )
    graph = plan_graph(plan)
    text = {"mermaid": to_mermaid, "dot": to_dot, "svg": to_svg}[fmt](graph)
    if output is None:
        click.echo(text, nl=False)
        return
    replace_file(output, text.encode())
    click.echo(f"wrote {output}")


@workflow.command("report")
@click.argument("run_id", metavar="RUN", shell_complete=complete.run_ids)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the page here (default: RUN.html in the current directory).",
)
@click.option("--open", "open_it", is_flag=True, help="Open the page in your browser.")
@click.pass_obj
def report_workflow(app: AppContext, run_id: str, output: Path | None, open_it: bool) -> None:
    """Write a run's report: one self-contained HTML page (no network) with the run's status, cost
    and tokens, its graph coloured by step status, a timeline of every unit, a table of steps and
    units, and each unit's transcript."""
    from rupu.cli.reports import write_report
    from rupu.pictures.run_data import workflow_run_data
    from rupu.workflows.store import RunStore

    record = RunStore(app.paths.runs).open(run_id)
    write_report(workflow_run_data(record), output or Path(f"{record.run_id}.html"), open_it)
