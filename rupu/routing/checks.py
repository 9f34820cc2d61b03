"""A route against the model catalog: every entry's model id is checked before any request, and each
entry gets its own pricer (a fallback's turns cost what the fallback charges; a service tier scales
the price where the vendor prices it differently: see `rupu.catalog.pricing.tier_factor`)."""

from __future__ import annotations

from collections.abc import Callable

from rupu.catalog.catalog import ModelCatalog
from rupu.catalog.pricing import Pricer, pricer, tiered
from rupu.catalog.validate import check_model, unknown_models_allowed
from rupu.config import LoadedConfig
from rupu.errors import ConfigError, Location
from rupu.paths import Paths
from rupu.routing.plan import Route
from rupu.routing.target import RoutedAgent, RunTarget
from rupu.yamldoc import line_finder, split_frontmatter

PriceOf = Callable[[str, str], Pricer]


def check_route_models(
    route: Route,
    spec: RoutedAgent,
    loaded: LoadedConfig,
    paths: Paths,
    catalog: ModelCatalog,
    *,
    model_flag: str | None = None,
    allow_unknown: bool = False,
) -> None:
    """A `ConfigError` (with did-you-mean) for the first model id a catalog does not know."""
    primary = route.primary
    if route.requested_model is None:
        check_target(
            paths,
            loaded,
            spec,
            primary,
            model_flag=model_flag,
            allow_unknown_flag=allow_unknown,
            catalog=catalog,
        )
    for index, candidate in enumerate(route.candidates):
        if index == 0 and route.requested_model is None:
            continue
        origin = route.requested_model if route.requested_model else "the fallback list"
        check_model(
            catalog,
            candidate.provider,
            candidate.model,
            allow_unknown=unknown_models_allowed(loaded, candidate.provider, flag=allow_unknown),
            origin=origin,
        )


def route_prices(catalog: ModelCatalog, route: Route) -> PriceOf:
    """The pricer of each (provider, model) of the route: at the service tier the provider says it
    served, else at the tier the entry is sent, where the vendor prices tiers differently."""
    kinds = {(c.provider, c.model): c for c in route.candidates}
    cache: dict[tuple[str, str], Pricer] = {}

    def price_of(provider: str, model: str) -> Pricer:
        key = (provider, model)
        if key not in cache:
            base = pricer(catalog.price(provider, model))
            candidate = kinds.get(key)
            kind = candidate.kind if candidate is not None else catalog.kind(provider)
            tier = route.service_tier
            if candidate is None or tier not in candidate.service_tiers:
                tier = None
            cache[key] = tiered(base, kind, tier)
        return cache[key]

    return price_of


def catalog_prices(catalog: ModelCatalog) -> PriceOf:
    """The pricer of any (provider, model) from the catalog and `[pricing]`, at the service tier
    the provider says served each call (for runs that have no `Route`: workflow units)."""
    cache: dict[tuple[str, str], Pricer] = {}

    def price_of(provider: str, model: str) -> Pricer:
        key = (provider, model)
        if key not in cache:
            cache[key] = tiered(pricer(catalog.price(provider, model)), catalog.kind(provider))
        return cache[key]

    return price_of


def check_target(
    paths: Paths,
    loaded: LoadedConfig,
    spec: RoutedAgent,
    target: RunTarget,
    *,
    model_flag: str | None = None,
    allow_unknown_flag: bool = False,
    catalog: ModelCatalog | None = None,
) -> None:
    """Checks the model a run is about to use, naming the agent file and line when it came from
    there."""
    allowed = unknown_models_allowed(loaded, target.provider, flag=allow_unknown_flag)
    if allowed:
        return
    location: Location | None = None
    origin: str | None = None
    if model_flag:
        origin = "--model"
    elif target.model == spec.frontmatter.model:
        location = Location(str(spec.path), _model_line(spec))
    else:
        origin = "the default_model in config.toml"
    check_model(
        catalog or ModelCatalog(loaded, paths),
        target.provider,
        target.model,
        location=location,
        origin=origin,
    )


def _model_line(spec: RoutedAgent) -> int | None:
    try:
        text = spec.path.read_text(encoding="utf-8")
        header, _ = split_frontmatter(text, str(spec.path))
    except (OSError, UnicodeDecodeError, ConfigError):
        return None
    return line_finder(header, first_line=2)(["model"])
