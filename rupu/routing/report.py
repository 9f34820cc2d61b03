"""What `rupu models routes` shows: each tier's entries in the order a run would try them, with the
score of each and why it ranks where it does (`rupu.routing.score`), then the entries that cannot
serve now and why."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rupu.auth.resolver import CredentialResolver
from rupu.config import LoadedConfig
from rupu.config.routing import RoutingConfig
from rupu.routing.history import RouteHistory
from rupu.routing.plan import unavailable_reason
from rupu.routing.score import rank
from rupu.routing.target import catalog_default
from rupu.routing.tiers import builtin_tiers, parse_entry, tier_entries


@dataclass(frozen=True, slots=True)
class RouteRow:
    tier: str
    rank: int | None  # None: cannot serve now
    provider: str
    model: str
    score: float | None
    first_token_ms: float | None
    error_rate: float | None
    rate_limited_for: float
    why: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "tier": self.tier,
            "rank": self.rank,
            "provider": self.provider,
            "model": self.model,
            "score": self.score,
            "first_token_ms": self.first_token_ms,
            "error_rate": self.error_rate,
            "rate_limited_for": round(self.rate_limited_for, 3),
            "why": list(self.why),
        }


def tier_names(routing: RoutingConfig) -> list[str]:
    return list(dict.fromkeys([*builtin_tiers(), *routing.tiers]))


def tier_routes(
    tier: str,
    loaded: LoadedConfig,
    env: Mapping[str, str],
    *,
    resolver: CredentialResolver | None,
    history: RouteHistory,
) -> list[RouteRow]:
    """The rows of `tier`: the available entries ranked (1 is tried first), then the others."""
    available: list[tuple[str, str]] = []
    rows_out: list[RouteRow] = []
    for entry in tier_entries(tier, loaded.config.routing):
        name, model = parse_entry(entry)
        reason = unavailable_reason(name, model, loaded, env, resolver)
        chosen = model or loaded.provider(name).default_model or catalog_default(name) or ""
        if reason is None:
            available.append((name, chosen))
        else:
            rows_out.append(
                RouteRow(tier, None, name, chosen, None, None, None, 0.0, (f"skipped: {reason}",))
            )
    scored = rank(available, history.load(), history.clock.time())
    ranked = [
        RouteRow(
            tier=tier,
            rank=index + 1,
            provider=s.provider,
            model=s.model,
            score=s.score,
            first_token_ms=s.record.first_token_ms,
            error_rate=s.record.error_rate if s.record.calls else None,
            rate_limited_for=s.limited_for,
            why=s.reasons,
        )
        for index, s in enumerate(scored)
    ]
    return ranked + rows_out
