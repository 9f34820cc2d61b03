"""`model: tier:<name>`: capability tiers resolved by a preference list and the credentials present
(after Omegon's capability routing, wire-formats §6.1, without its scoring: the list order is the
preference). Built-in lists live in `tiers.toml`; `[routing.tiers]` replaces or adds lists."""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path

from rupu.config.routing import RoutingConfig
from rupu.errors import ConfigError, did_you_mean

TIERS_FILE = Path(__file__).with_name("tiers.toml")
TIER_PREFIX = "tier:"


@cache
def builtin_tiers() -> dict[str, list[str]]:
    data = tomllib.loads(TIERS_FILE.read_text(encoding="utf-8"))
    return {name: [str(entry) for entry in entries] for name, entries in data.items()}


def is_tier(model: str | None) -> bool:
    return bool(model) and str(model).startswith(TIER_PREFIX)


def tier_entries(tier: str, routing: RoutingConfig) -> list[str]:
    """The preference list of `tier` (config first, then built in), or a `ConfigError`."""
    tiers = {**builtin_tiers(), **routing.tiers}
    if tier not in tiers:
        known = sorted(tiers)
        raise ConfigError(
            f"unknown tier '{tier}'{did_you_mean(tier, known)}",
            field="model",
            hint=f"known tiers: {', '.join(known)}; add others under [routing.tiers] in config.toml",
        )
    if not tiers[tier]:
        raise ConfigError(
            f"tier '{tier}' lists no models",
            field=f"routing.tiers.{tier}",
            hint='add entries such as "groq:llama-3.3-70b-versatile"',
        )
    return tiers[tier]


def parse_entry(entry: str) -> tuple[str, str | None]:
    """`provider:model` (the model may hold colons, as in `ollama:qwen3:8b`) or just `provider`."""
    provider, _, model = entry.strip().partition(":")
    if not provider:
        raise ConfigError(
            f"'{entry}' names no provider", field="fallback", hint="write it as provider:model"
        )
    return provider, (model or None)
