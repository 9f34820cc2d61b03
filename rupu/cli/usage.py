"""`rupu usage`: tokens and cost, totalled from transcripts and workflow runs."""

# lazy imports: a command loads what it needs when it runs, so `rupu --help` stays fast
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from rupu.cli.context import AppContext

if TYPE_CHECKING:
    from rupu.catalog.usage_report import UsageReport

NUMBER_COLUMNS = ["RUNS", "CALLS", "INPUT", "CACHE READ", "CACHE WRITE", "OUTPUT", "COST"]


@click.command()
@click.option(
    "--since",
    help="Only usage after this: a duration back from now (7d, 24h, 30m, 2w) or a date (2026-01-31).",
)
@click.option(
    "--group-by",
    "group_by",
    type=click.Choice(["provider", "model", "agent", "workflow", "day", "tier"]),
    default="model",
    show_default=True,
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
)
@click.pass_obj
def usage(app: AppContext, since: str | None, group_by: str, fmt: str) -> None:
    """Token and cost totals from $RUPU_HOME/transcripts and $RUPU_HOME/runs.

    INPUT excludes cached tokens (CACHE READ / CACHE WRITE); OUTPUT includes reasoning tokens.
    RUNS counts runs (a workflow run once, however many steps and units it had); TIER is the service
    tier the provider said it served.
    """
    import time

    from rupu.catalog.catalog import ModelCatalog
    from rupu.catalog.usage_report import build_report, parse_since

    since_ts = parse_since(since, now=time.time()) if since else None
    report = build_report(
        app.paths,
        ModelCatalog(app.config, app.paths),
        group_by=group_by,  # type: ignore[arg-type]
        since=since_ts,
    )
    if fmt == "json":
        click.echo(_json(report))
    elif fmt == "csv":
        _csv(report)
    else:
        _table(report)


def _key_columns(report: UsageReport) -> list[str]:
    from rupu.catalog.usage_report import GROUP_COLUMNS

    return list(GROUP_COLUMNS[report.group_by])


def _table(report: UsageReport) -> None:
    from rupu.catalog.pricing import format_cost
    from rupu.cli.tables import print_table

    if not report.total.calls:
        click.echo("no usage recorded in this period", err=True)
        return
    keys = _key_columns(report)

    def cells(totals: Any) -> list[str]:
        cost = format_cost(totals.cost_usd) + ("*" if totals.unpriced_calls else "")
        return [
            str(len(totals.runs)),
            str(totals.calls),
            f"{totals.input_tokens:,}",
            f"{totals.cache_read_tokens:,}",
            f"{totals.cache_write_tokens:,}",
            f"{totals.output_tokens:,}",
            cost,
        ]

    rows = [[*key, *cells(totals)] for key, totals in report.rows()]
    rows.append(["TOTAL", *([""] * (len(keys) - 1)), *cells(report.total)])
    print_table([*keys, *NUMBER_COLUMNS], rows)
    if report.unpriced:
        missing = ", ".join(f'[pricing.{p}."{m}"]' for p, m in sorted(report.unpriced))
        click.echo(
            f"* some calls have no known price and count as $0: add {missing} to config.toml",
            err=True,
        )


def _json(report: UsageReport) -> str:
    import datetime as dt

    import orjson

    names = [c.lower() for c in _key_columns(report)]
    payload = {
        "kind": "usage_report",
        "version": 1,
        "group_by": report.group_by,
        "since": dt.datetime.fromtimestamp(report.since, dt.UTC).isoformat(timespec="seconds")
        if report.since is not None
        else None,
        "rows": [
            {**dict(zip(names, key, strict=True)), **totals.as_dict()}
            for key, totals in report.rows()
        ],
        "total": report.total.as_dict(),
        "unpriced": [{"provider": p, "model": m} for p, m in sorted(report.unpriced)],
    }
    return orjson.dumps(payload, option=orjson.OPT_INDENT_2).decode()


def _csv(report: UsageReport) -> None:
    import csv
    import sys

    names = [c.lower() for c in _key_columns(report)]
    fields = [
        "runs",
        "calls",
        "input_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "output_tokens",
        "reasoning_tokens",
        "cost_usd",
        "unpriced_calls",
    ]
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow([*names, *fields])
    for key, totals in report.rows():
        data = totals.as_dict()
        writer.writerow([*key, *(data[f] for f in fields)])
