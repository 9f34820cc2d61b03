"""A route against the model catalog: every entry's model id is checked before any request, and each
entry gets its own pricer (a fallback's turns cost what the fallback charges; a service tier scales
the price where the vendor prices it differently: see `rupu.catalog.pricing.tier_factor`)."""

from __future__ import annotations

from collections.abc import Callable

from rupu.agents.spec import AgentSpec
from rupu.catalog.catalog import ModelCatalog
from rupu.catalog.pricing import Pricer, pricer, tiered
from rupu.catalog.validate import check_model, check_target, unknown_models_allowed
from rupu.config import LoadedConfig
from rupu.paths import Paths
from rupu.routing.plan import Route

PriceOf = Callable[[str, str], Pricer]


def check_route_models(
    route: Route,
    spec: AgentSpec,
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
