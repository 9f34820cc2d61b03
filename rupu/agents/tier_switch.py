"""Moving the rest of a run to another tier (`tiers:` in the frontmatter, the `set_model_tier` tool).

Every allowed tier's route is resolved before the run (credentials, model ids, scores), like the
agent's own route: a tier without an available model is offered to the model as unavailable, with
why, and an unknown tier name is an error before any token is spent. A move builds the tier's
route on first use; the loop swaps it in after the turn's tool calls and records `tier_switch`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from rupu.agents.spec import AgentSpec
from rupu.auth.adc import AuthChoice
from rupu.auth.resolver import CredentialResolver
from rupu.catalog.catalog import ModelCatalog
from rupu.config import LoadedConfig
from rupu.errors import ConfigError, CredentialError
from rupu.paths import Paths
from rupu.providers.base import Provider
from rupu.routing.checks import check_route_models
from rupu.routing.history import RouteHistory
from rupu.routing.plan import Route, resolve_route
from rupu.routing.target import RunTarget
from rupu.routing.tiers import TIER_PREFIX, is_tier, tier_entries
from rupu.tools.base import BuiltinTool
from rupu.tools.model_tier import TierChoice, model_tier_tool

RouteBuilder = Callable[[Route], Provider]


@dataclass(frozen=True, slots=True)
class TierMove:
    from_tier: str | None
    to_tier: str
    provider: Provider
    target: RunTarget
    credential: str
    reason: str


@dataclass(slots=True)
class TierSwitcher:
    """The tiers one run may move to. `take()` hands the loop the move the tool asked for, if any;
    `aclose()` closes the providers moves built."""

    choice: TierChoice
    routes: Mapping[str, Route]
    build: RouteBuilder
    _built: list[Provider] = field(default_factory=list, init=False)

    def tool(self) -> BuiltinTool:
        return model_tier_tool(self.choice)

    def take(self) -> TierMove | None:
        tier = self.choice.requested
        if tier is None or tier == self.choice.current:
            return None
        route = self.routes[tier]
        provider = self.build(route)
        self._built.append(provider)
        move = TierMove(
            from_tier=self.choice.current,
            to_tier=tier,
            provider=provider,
            target=route.primary,
            credential=route.candidates[0].credential,
            reason=self.choice.reason,
        )
        self.choice.current, self.choice.requested, self.choice.reason = tier, None, ""
        return move

    async def aclose(self) -> None:
        built, self._built = self._built, []
        for provider in built:
            await provider.aclose()


def prepare_tiers(
    spec: AgentSpec,
    loaded: LoadedConfig,
    env: Mapping[str, str],
    paths: Paths,
    *,
    build: RouteBuilder,
    auth: AuthChoice | None = None,
    resolver: CredentialResolver | None = None,
    history: RouteHistory | None = None,
    catalog: ModelCatalog | None = None,
    allow_unknown_model: bool = False,
) -> TierSwitcher | None:
    """The switcher of an agent with `tiers:` (None without). Blocks (credential store)."""
    tiers = spec.frontmatter.tiers
    if not tiers:
        return None
    routes: dict[str, Route] = {}
    models: dict[str, str] = {}
    unavailable: dict[str, str] = {}
    for tier in tiers:
        tier_entries(tier, loaded.config.routing)  # an unknown name fails here, with did-you-mean
        try:
            route = resolve_route(
                spec,
                loaded,
                env,
                model=TIER_PREFIX + tier,
                auth=auth,
                resolver=resolver,
                history=history,
            )
        except (ConfigError, CredentialError) as exc:
            unavailable[tier] = exc.message
            continue
        check_route_models(
            route,
            spec,
            loaded,
            paths,
            catalog or ModelCatalog(loaded, paths),
            allow_unknown=allow_unknown_model,
        )
        routes[tier] = route
        models[tier] = route.candidates[0].label
    model = spec.frontmatter.model
    current = model.removeprefix(TIER_PREFIX) if is_tier(model) and model else None
    choice = TierChoice(current if current in tiers else None, models, unavailable)
    return TierSwitcher(choice, routes, build)
