"""Providers as data a worker can rebuild: a route's candidates (kind, model, endpoint config) with
each credential source replaced by a `BrokeredCredential`, so no secret travels with them.

A provider that is not a route (a test double built in code) is shipped as it is: it holds no
credential source.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from rupu.auth.credentials import CredentialSource
from rupu.catalog.pricing import Pricer, pricer
from rupu.config.routing import RoutingConfig
from rupu.providers.base import Provider, ProviderSetup
from rupu.providers.registry import build_provider
from rupu.providers.retry import RetryPolicy
from rupu.routing.checks import PriceOf
from rupu.routing.fallback import Candidate, FallbackProvider
from rupu.routing.target import RunTarget

ProviderKey = tuple[str, str, str | None, tuple[str, ...]]
# Registers a driver-side credential source with the broker; returns what workers hold instead.
Register = Callable[[str, CredentialSource], CredentialSource]


def key_of(target: RunTarget) -> ProviderKey:
    """The same key as `ProviderPool.get`: a routed provider sends the model of its route."""
    return (target.provider, target.model, target.auth, target.fallbacks)


@dataclass(frozen=True, slots=True)
class ShippedRoute:
    candidates: tuple[Candidate, ...]
    routing: RoutingConfig
    credential: str  # the description of the primary's credential (never the secret)


@dataclass(frozen=True, slots=True)
class ShippedProvider:
    provider: Provider
    credential: str


Shipped = ShippedRoute | ShippedProvider


def ship(
    provider: Provider, credential: str, routing: RoutingConfig, register: Register
) -> Shipped:
    if not isinstance(provider, FallbackProvider):
        return ShippedProvider(provider, credential)
    candidates = tuple(_candidate(c, register) for c in provider.candidates)
    return ShippedRoute(candidates, routing, credential)


def _candidate(candidate: Candidate, register: Register) -> Candidate:
    # A key written in config.toml was resolved into the source already; it stays on the driver.
    config = candidate.config.model_copy(update={"api_key": None})
    source = candidate.credentials
    brokered = register(candidate.provider, source) if source is not None else None
    return dataclasses.replace(candidate, config=config, credentials=brokered)


@dataclass(frozen=True, slots=True)
class PriceTable:
    """The pricer of every (provider, model) a run's routes may serve a call with, priced on the
    driver (the catalog and config stay there); a `PriceOf`."""

    prices: dict[tuple[str, str], Pricer]

    def __call__(self, provider: str, model: str) -> Pricer:
        return self.prices.get((provider, model)) or pricer(None)


def price_table(price_of: PriceOf | None, shipped: dict[ProviderKey, Shipped]) -> PriceTable | None:
    if price_of is None:
        return None
    pairs: set[tuple[str, str]] = set()
    for key, value in shipped.items():
        pairs.add((key[0], key[1]))
        if isinstance(value, ShippedRoute):
            pairs.update((c.provider, c.model) for c in value.candidates)
    return PriceTable({pair: price_of(*pair) for pair in pairs})


def rebuild(shipped: Shipped) -> Provider:
    """The provider on the worker (each candidate built on first use, as on the driver)."""
    if isinstance(shipped, ShippedProvider):
        return shipped.provider

    def build(candidate: Candidate, policy: RetryPolicy) -> Provider:
        retries = candidate.config.max_retries
        policy = dataclasses.replace(policy, max_retries=retries if retries is not None else 2)
        return build_provider(
            ProviderSetup(
                name=candidate.provider,
                kind=candidate.kind,
                config=candidate.config,
                credentials=candidate.credentials,
                retry=policy,
            )
        )

    return FallbackProvider(shipped.candidates, build=build, settings=shipped.routing)
