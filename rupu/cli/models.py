"""`rupu models list|refresh|routes`."""

# lazy imports: a command loads what it needs when it runs, so `rupu --help` stays fast
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from rupu.cli import complete

if TYPE_CHECKING:
    from rupu.catalog.catalog import CatalogEntry, ModelCatalog
    from rupu.cli.context import AppContext
    from rupu.routing.report import RouteRow

ROUTE_HEADERS = ["TIER", "RANK", "ENTRY", "SCORE", "FIRST TOKEN", "ERRORS", "WHY"]
HEADERS = ["PROVIDER", "MODEL", "SOURCE", "CONTEXT", "MAX OUT", "PRICE", "DEFAULT"]
CSV_HEADERS = [
    "provider",
    "model",
    "source",
    "context",
    "max_output",
    "input_price",
    "output_price",
    "cache_read_price",
    "cache_write_price",
    "default",
]


@click.group()
def models() -> None:
    """List each provider's models (custom > live > baked-in), refresh the live lists, and show how
    each tier's models are ranked."""


@models.command("list")
@click.option(
    "--provider",
    "-p",
    help="Only this provider (built-in or declared in config).",
    shell_complete=complete.provider_names,
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
    help="PRICE in the table is input/output USD per million tokens.",
)
@click.pass_obj
def list_models(app: AppContext, provider: str | None, fmt: str) -> None:
    """Models from config (custom), the live cache (live) and rupu's own list (baked-in)."""
    from rupu.catalog.catalog import ModelCatalog
    from rupu.providers.registry import provider_kind

    catalog = ModelCatalog(app.config, app.paths)
    if provider is not None:
        provider_kind(provider, app.config)
    names = [provider] if provider else catalog.providers()
    entries = [entry for name in names for entry in catalog.entries(name)]
    if fmt == "json":
        click.echo(_json(catalog, names, entries))
    elif fmt == "csv":
        _csv(entries)
    else:
        from rupu.cli.tables import print_table

        print_table(HEADERS, [_table_row(e) for e in entries])
        if provider and catalog.is_open(provider):
            click.echo(f"{provider} accepts any model id (no list to check against)", err=True)


def _table_row(entry: CatalogEntry) -> list[str]:
    from rupu.catalog.pricing import format_price

    price = "-"
    if entry.prices is not None:
        price = f"{format_price(entry.prices.input)}/{format_price(entry.prices.output)}"
    return [
        entry.provider,
        entry.model,
        entry.source,
        _tokens(entry.context_window),
        _tokens(entry.max_output),
        price,
        "default" if entry.default else "",
    ]


def _tokens(value: int | None) -> str:
    if value is None:
        return "-"
    if value >= 1_000_000:
        return f"{value / 1_000_000:.3g}M"
    if value >= 1000:
        return f"{value / 1000:.3g}K"
    return str(value)


def _json(catalog: ModelCatalog, names: list[str], entries: list[CatalogEntry]) -> str:
    import orjson

    rows: list[dict[str, Any]] = [
        {
            "provider": e.provider,
            "model": e.model,
            "source": e.source,
            "name": e.name,
            "aliases": e.aliases,
            "context": e.context_window,
            "max_output": e.max_output,
            "prices": e.prices.model_dump() if e.prices is not None else None,
            "capabilities": e.capabilities.model_dump() if e.capabilities is not None else None,
            "default": e.default,
        }
        for e in entries
    ]
    live = {}
    for name in names:
        cache = catalog.live(name)
        if cache is not None:
            live[name] = cache.fetched_at
    payload = {"kind": "model_list", "version": 1, "live_fetched_at": live, "rows": rows}
    return orjson.dumps(payload, option=orjson.OPT_INDENT_2).decode()


def _csv(entries: list[CatalogEntry]) -> None:
    import csv
    import sys

    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(CSV_HEADERS)
    for e in entries:
        p = e.prices
        writer.writerow(
            [
                e.provider,
                e.model,
                e.source,
                e.context_window or "",
                e.max_output or "",
                *(
                    [p.input, p.output, p.cache_read, p.cache_write]
                    if p is not None
                    else ["", "", "", ""]
                ),
                "true" if e.default else "false",
            ]
        )


@models.command("refresh")
@click.option(
    "--provider",
    "-p",
    "providers",
    multiple=True,
    help="Only this provider (repeatable). Default: every provider that has a credential.",
)
@click.pass_obj
def refresh_models(app: AppContext, providers: tuple[str, ...]) -> None:
    """Fetch each provider's model list into $RUPU_HOME/cache/models/."""
    import anyio

    from rupu.catalog.refresh import refresh_all, refreshable_providers
    from rupu.errors import RupuError
    from rupu.providers.registry import provider_kind

    for name in providers:
        provider_kind(name, app.config)
    app.require_trust()
    names = list(dict.fromkeys(providers)) or refreshable_providers(app.config)
    resolver = app.credential_resolver()

    async def go() -> list[Any]:
        return await refresh_all(
            names,
            loaded=app.config,
            paths=app.paths,
            credentials=resolver.source,
            skip_without_credential=not providers,
            env=app.env,
        )

    results = anyio.run(go)
    for result in results:
        click.echo(result.line(), err=result.status == "failed")
    failed = [r for r in results if r.status == "failed"]
    if failed:
        error = RupuError(
            f"{len(failed)} of {len(results)} providers failed to refresh: "
            + ", ".join(r.provider for r in failed),
            hint="see the reason on each provider's line above",
        )
        error.exit_code = max(r.exit_code for r in failed) or 1
        raise error


@models.command("routes")
@click.option("--tier", "-t", "tiers", multiple=True, help="Only this tier (repeatable).")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@click.pass_obj
def routes(app: AppContext, tiers: tuple[str, ...], fmt: str) -> None:
    """Each tier's models in the order a run tries them: the score (seconds, lower first) from the
    tier's list, the latency to the first token and error rate seen so far, and rate limits; then
    the models that cannot serve now and why."""
    from rupu.routing.report import tier_names, tier_routes

    app.require_trust()
    routing = app.config.config.routing
    resolver = app.credential_resolver()
    history = app.route_history()
    rows = [
        row
        for tier in (tiers or tier_names(routing))
        for row in tier_routes(tier, app.config, app.env, resolver=resolver, history=history)
    ]
    if fmt == "json":
        import orjson

        payload = {"kind": "model_routes", "version": 1, "rows": [r.as_dict() for r in rows]}
        click.echo(orjson.dumps(payload, option=orjson.OPT_INDENT_2).decode())
        return
    from rupu.cli.tables import print_table

    print_table(ROUTE_HEADERS, [_route_row(r) for r in rows])


def _route_row(row: RouteRow) -> list[str]:
    latency = "-" if row.first_token_ms is None else f"{row.first_token_ms:.0f} ms"
    errors = "-" if row.error_rate is None else f"{row.error_rate:.0%}"
    return [
        row.tier,
        "-" if row.rank is None else str(row.rank),
        f"{row.provider}:{row.model}",
        "-" if row.score is None else f"{row.score:.2f}",
        latency,
        errors,
        "; ".join(row.why),
    ]
