"""`rupu cache stats|clear`: the step cache of workflow units ($RUPU_HOME/cache/steps.sqlite)."""

# lazy imports: a command loads what it needs when it runs, so `rupu --help` stays fast
from __future__ import annotations

import click

from rupu.cli.context import AppContext


@click.group()
def cache() -> None:
    """The step cache: workflow unit results reused by `cache: true` steps and `--cache` runs."""


@cache.command("stats")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.pass_obj
def stats(app: AppContext, fmt: str) -> None:
    """How many unit results are cached, how often they were reused and what that saved."""
    import orjson

    from rupu.catalog.pricing import format_cost
    from rupu.workflows.cache import StepCache, cache_path

    found = StepCache(cache_path(app.paths.home)).stats()
    if fmt == "json":
        payload = {
            "path": str(found.path),
            "entries": found.entries,
            "hits": found.hits,
            "tokens_saved": found.tokens_saved,
            "usd_saved": found.usd_saved,
            "size_bytes": found.size_bytes,
        }
        click.echo(orjson.dumps(payload, option=orjson.OPT_INDENT_2).decode())
        return
    click.echo(f"step cache: {found.path}")
    click.echo(f"  entries: {found.entries:,} ({found.size_bytes / 1024:,.1f} KiB)")
    click.echo(f"  reused:  {found.hits:,} times")
    click.echo(f"  saved:   {found.tokens_saved:,} tokens · {format_cost(found.usd_saved)}")


@cache.command("clear")
@click.option("--step", help="Only the results of steps with this id.")
@click.option(
    "--older-than",
    metavar="AGE",
    help="Only results cached longer ago than this: 7d, 24h, 30m, 2w.",
)
@click.pass_obj
def clear(app: AppContext, step: str | None, older_than: str | None) -> None:
    """Forget cached unit results (all of them unless --step or --older-than narrow it)."""
    import time

    from rupu.catalog.usage_report import parse_since
    from rupu.workflows.cache import StepCache, cache_path

    before = parse_since(older_than, now=time.time(), flag="--older-than") if older_than else None
    removed = StepCache(cache_path(app.paths.home)).clear(workflow_step=step, older_than=before)
    click.echo(f"removed {removed:,} cached unit result{'s' * (removed != 1)}", err=True)
