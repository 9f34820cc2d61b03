"""Cost arithmetic. Every provider's usage arrives normalised (`rupu.messages.Usage`): `input_tokens`
excludes cache reads and writes, which are counted apart, and reasoning tokens are inside
`output_tokens`. So one formula prices every provider without double counting:

    cost = (input·p_in + output·p_out + cache_read·p_cache_read + cache_write·p_cache_write) / 1e6

with prices in USD per million tokens. A service tier scales it where the vendor prices the tier
differently (`tier_factor`).
"""

from __future__ import annotations

from collections.abc import Callable

from rupu.config import ModelPrice
from rupu.messages import Usage
from rupu.modeldata.schema import Prices

PER_TOKENS = 1_000_000
ZERO = Prices(input=0, output=0, cache_read=0, cache_write=0)

Pricer = Callable[[Usage], float | None]

# OpenAI bills Flex at the Batch price (half) and Priority at about twice the standard price; other
# vendors' tiers (Groq's flex) cost the same as their default.
SERVICE_TIER_PRICE: dict[tuple[str, str], float] = {
    ("openai", "flex"): 0.5,
    ("openai", "priority"): 2.0,
    ("openai-responses", "flex"): 0.5,
    ("openai-responses", "priority"): 2.0,
}


def tier_factor(kind: str, service_tier: str | None) -> float:
    """The price of `service_tier` on a provider of wire `kind`, relative to its list price."""
    return SERVICE_TIER_PRICE.get((kind, service_tier or ""), 1.0)


def tiered(base: Pricer, kind: str, requested: str | None = None) -> Pricer:
    """`base` scaled by the tier that served each call: the one the provider reported, else the one
    requested (a provider that does not say which tier it served)."""

    def price(usage: Usage) -> float | None:
        cost = base(usage)
        if cost is None:
            return None
        factor = tier_factor(kind, usage.service_tier or requested)
        return cost if factor == 1.0 else round(cost * factor, 12)

    return price


def usage_cost(usage: Usage, prices: Prices) -> float:
    """USD for one call's usage."""
    total = (
        usage.input_tokens * prices.input
        + usage.output_tokens * prices.output
        + usage.cache_read_tokens * prices.cache_read
        + usage.cache_write_tokens * prices.cache_write
    )
    return round(total / PER_TOKENS, 12)


def apply_override(base: Prices | None, override: ModelPrice) -> Prices:
    """The user's `[pricing...]` entry on top of the catalog's price: input and output always come
    from the override; a cache price it leaves out comes from the catalog, else the input price."""
    cache_read = override.cache_read
    if cache_read is None:
        cache_read = base.cache_read if base is not None else override.input
    cache_write = override.cache_write
    if cache_write is None:
        cache_write = base.cache_write if base is not None else override.input
    return Prices(
        input=override.input,
        output=override.output,
        cache_read=cache_read,
        cache_write=cache_write,
    )


def pricer(prices: Prices | None) -> Pricer:
    """A function pricing one call's usage; None when the price, or the usage, is unknown."""

    def price(usage: Usage) -> float | None:
        if prices is None or not usage.reported:
            return None
        return usage_cost(usage, prices)

    return price


def add_costs(total: float | None, cost: float | None) -> float | None:
    """Sum of costs where an unknown part makes the total unknown."""
    if total is None or cost is None:
        return None
    return round(total + cost, 12)


def format_cost(value: float | None) -> str:
    if value is None:
        return "-"
    if value == 0:
        return "$0.00"
    return f"${value:.4f}" if value < 1 else f"${value:,.2f}"


def format_price(value: float) -> str:
    """A per-million price without trailing zeros: 3 -> `$3`, 0.075 -> `$0.075`."""
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return f"${text}"
