"""Where a run goes: the agent's provider and model (or a `tier:`), then its fallbacks, then the local
zero-cost fallback, each resolved to a `Candidate` with its credential before any token is spent."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rupu.auth.adc import LOGIN_HINT, AdcSource, AuthChoice, find_adc_file
from rupu.auth.credentials import CredentialSource
from rupu.auth.resolver import CredentialResolver
from rupu.config import LoadedConfig, ProviderConfig
from rupu.config.presets import expand_base_url
from rupu.errors import ConfigError, CredentialError
from rupu.providers.base import Provider, ProviderSetup
from rupu.providers.claude_code import find_command
from rupu.providers.claude_code_stream import CLI_LOGIN
from rupu.providers.registry import (
    build_provider,
    factory_for,
    is_buildable,
    needs_credential,
    provider_kind,
)
from rupu.providers.retry import RetryPolicy, Sleep
from rupu.routing.cooldown import COOLDOWNS, CooldownRegistry
from rupu.routing.fallback import Candidate, FallbackProvider
from rupu.routing.history import RouteHistory
from rupu.routing.score import rank
from rupu.routing.target import RoutedAgent, RunTarget, catalog_default, resolve_target
from rupu.routing.tiers import TIER_PREFIX, is_tier, parse_entry, tier_entries

# Service tiers per wire kind; openai-compatible endpoints declare theirs in `compat.service_tiers`.
SERVICE_TIERS: dict[str, frozenset[str]] = {
    "openai": frozenset({"priority", "flex"}),
    "openai-responses": frozenset({"priority", "flex"}),
}


@dataclass(frozen=True, slots=True)
class Route:
    """`primary` is what the agent asked for (a tier already resolved); `candidates[0]` serves it and
    the rest are tried in order. `service_tier` is the tier the primary will be sent, if any;
    `fast` says it is the priority tier of fast mode (`routing.fast`)."""

    primary: RunTarget
    candidates: tuple[Candidate, ...]
    requested_model: str | None = None
    service_tier: str | None = None
    fast: bool = False


def service_tiers(kind: str, config: ProviderConfig) -> frozenset[str]:
    if kind == "openai-compatible":
        return frozenset(config.compat.service_tiers) if config.compat else frozenset()
    return SERVICE_TIERS.get(kind, frozenset())


def make_candidate(
    name: str,
    model: str | None,
    loaded: LoadedConfig,
    env: Mapping[str, str],
    *,
    auth: AuthChoice | None = None,
    resolver: CredentialResolver | None = None,
) -> Candidate:
    """A provider ready to build: kind, effective config (base_url filled from the environment),
    model and credential. Raises `ConfigError`/`CredentialError` when it cannot be used. Without a
    `resolver`, only the environment is looked at (tests); commands pass the store-backed one."""
    kind = provider_kind(name, loaded)
    config = loaded.provider(name)
    if config.base_url:
        config = config.model_copy(update={"base_url": expand_base_url(name, config.base_url, env)})
    chosen = model or config.default_model or catalog_default(name)
    if not chosen:
        raise ConfigError(
            f"no model for provider '{name}'",
            field="model",
            hint=f"write it as {name}:MODEL, or set [providers.{name}] default_model",
        )
    credentials: CredentialSource | None = None
    described = CLI_LOGIN if kind == "claude-code" else "none (no key needed)"
    if needs_credential(kind, config):
        credentials = _credentials(name, kind, config, env, auth, resolver)
        credential = getattr(credentials, "credential", None)
        if isinstance(credentials, AdcSource):
            described = credentials.describe()
        elif credential is not None:
            described = credential.describe()
        else:
            described = "resolved at request time"
    return Candidate(
        provider=name,
        kind=kind,
        model=chosen,
        config=config,
        credentials=credentials,
        credential=described,
        auth=auth,
        service_tiers=service_tiers(kind, config),
    )


def _credentials(
    name: str,
    kind: str,
    config: ProviderConfig,
    env: Mapping[str, str],
    auth: AuthChoice | None,
    resolver: CredentialResolver | None,
) -> CredentialSource:
    """The stored or environment credential; on the Vertex route of a gemini provider, Application
    Default Credentials when asked for (`auth: adc`) or when nothing stronger is configured."""
    vertex = kind == "gemini" and bool(config.region)
    adc = find_adc_file(env) if kind == "gemini" and (auth == "adc" or vertex) else None
    if auth == "adc":
        if kind != "gemini":
            raise ConfigError(
                f"auth: adc (Google Application Default Credentials) is for Vertex AI; '{name}' "
                f"is a {kind} provider",
                field="auth",
                hint="drop `auth: adc`, or run on a gemini provider with region and project set",
            )
        if adc is None:
            raise CredentialError(
                name,
                "auth: adc, but no Application Default Credentials were found",
                hint=LOGIN_HINT,
            )
        return AdcSource(name, adc, token_url=_token_url(config))
    try:
        return (resolver or CredentialResolver(env)).source(name, mode=auth)
    except CredentialError:
        if adc is None or auth is not None or config.api_key:
            raise
        return AdcSource(name, adc, token_url=_token_url(config))


def _token_url(config: ProviderConfig) -> str | None:
    return config.oauth.token_url if config.oauth is not None else None


def unavailable_reason(
    name: str,
    model: str | None,
    loaded: LoadedConfig,
    env: Mapping[str, str],
    resolver: CredentialResolver | None = None,
) -> str | None:
    """Why `name` cannot serve right now (no credential, unknown, not built in), or None."""
    try:
        candidate = make_candidate(name, model, loaded, env, resolver=resolver)
    except (ConfigError, CredentialError) as exc:
        return exc.one_line()
    if not is_buildable(candidate.kind):
        return f"provider kind '{candidate.kind}' is not available in this build"
    if candidate.kind == "claude-code" and find_command(candidate.config) is None:
        return "the claude CLI is not installed"
    return None


def resolve_route(
    spec: RoutedAgent,
    loaded: LoadedConfig,
    env: Mapping[str, str],
    *,
    provider: str | None = None,
    model: str | None = None,
    auth: AuthChoice | None = None,
    fallbacks: Sequence[str] = (),
    resolver: CredentialResolver | None = None,
    history: RouteHistory | None = None,
) -> Route:
    """The route of a run: the agent's target (or its `tier:`, its entries ordered by their score
    in `history` when there is one), then `fallbacks` (from --fallback; they replace the agent's
    `fallback:` list), then `[routing] local_fallback`."""
    front = spec.frontmatter
    requested = model or (front.model if not provider or provider == front.provider else None)
    if is_tier(requested):
        assert requested is not None
        tier = requested.removeprefix(TIER_PREFIX)
        found = _tier_candidates(tier, provider or front.provider, loaded, env, resolver)
        if history is not None:
            found = ranked_candidates(found, history)
        first = found[0]
        target = RunTarget(first.provider, first.kind, first.model, auth or front.auth)
        candidates = [
            make_candidate(
                first.provider, first.model, loaded, env, auth=target.auth, resolver=resolver
            )
        ]
        candidates += found[1:]
    else:
        target = resolve_target(spec, loaded, provider=provider, model=model, auth=auth)
        candidates = [
            make_candidate(
                target.provider, target.model, loaded, env, auth=target.auth, resolver=resolver
            )
        ]
    route = route_for_target(
        target,
        loaded,
        env,
        fallbacks=list(fallbacks) or list(front.fallback or ()),
        head=candidates,
        service_tier=front.service_tier,
        resolver=resolver,
    )
    return dataclasses.replace(route, requested_model=requested if is_tier(requested) else None)


def route_for_target(
    target: RunTarget,
    loaded: LoadedConfig,
    env: Mapping[str, str],
    *,
    fallbacks: Sequence[str] = (),
    head: Sequence[Candidate] = (),
    service_tier: str | None = None,
    resolver: CredentialResolver | None = None,
) -> Route:
    """`target` (or the prepared `head` candidates), then each fallback entry, then the local
    fallback. A fallback without a credential is an error before anything is sent."""
    candidates = list(head) or [
        make_candidate(
            target.provider, target.model, loaded, env, auth=target.auth, resolver=resolver
        )
    ]
    for entry in fallbacks:
        name, entry_model = parse_entry(entry)
        try:
            candidates.append(make_candidate(name, entry_model, loaded, env, resolver=resolver))
        except CredentialError as exc:
            exc.hint = f"{exc.hint}; or remove '{entry}' from the fallback list"
            raise
    local = loaded.config.routing.local_fallback
    if local:
        name, entry_model = parse_entry(local)
        if unavailable_reason(name, entry_model, loaded, env, resolver) is None:
            candidates.append(make_candidate(name, entry_model, loaded, env, resolver=resolver))
    for candidate in candidates[1:]:
        factory_for(candidate.kind, candidate.provider)  # unknown kinds fail before the run
    return Route(
        primary=target,
        candidates=_unique(candidates),
        service_tier=_service_tier(service_tier, candidates[0]),
    )


def _tier_candidates(
    tier: str,
    only: str | None,
    loaded: LoadedConfig,
    env: Mapping[str, str],
    resolver: CredentialResolver | None,
) -> list[Candidate]:
    entries = [parse_entry(e) for e in tier_entries(tier, loaded.config.routing)]
    if only:
        entries = [e for e in entries if e[0] == only]
    found: list[Candidate] = []
    skipped: list[str] = []
    for name, model in entries:
        reason = unavailable_reason(name, model, loaded, env, resolver)
        if reason is None:
            found.append(make_candidate(name, model, loaded, env, resolver=resolver))
        else:
            skipped.append(f"{name}:{model or ''} ({reason})")
    if not found:
        scope = f" for provider '{only}'" if only else ""
        raise ConfigError(
            f"no model of tier '{tier}'{scope} is available: {'; '.join(skipped) or 'the list is empty'}",
            field="model",
            hint=f"set a key for one of them, or edit [routing.tiers] {tier} in config.toml",
        )
    return found


def ranked_candidates(found: Sequence[Candidate], history: RouteHistory) -> list[Candidate]:
    """`found` (in the tier's order) sorted by score: see `rupu.routing.score`."""
    by_label = {c.label: c for c in found}
    order = rank([(c.provider, c.model) for c in found], history.load(), history.clock.time())
    return [by_label[s.label] for s in order]


def _service_tier(requested: str | None, candidate: Candidate) -> str | None:
    tier = requested or candidate.config.service_tier
    if tier is None:
        return None
    if tier not in candidate.service_tiers:
        offered = ", ".join(sorted(candidate.service_tiers)) or "none"
        raise ConfigError(
            f"provider '{candidate.provider}' does not offer service tier '{tier}' (it offers: {offered})",
            field="serviceTier",
            hint="remove serviceTier from the agent (or service_tier from the provider's table), "
            "or run on a provider that offers it",
        )
    return tier


def _unique(candidates: list[Candidate]) -> tuple[Candidate, ...]:
    seen: set[tuple[str, str]] = set()
    out: list[Candidate] = []
    for candidate in candidates:
        if (candidate.provider, candidate.model) not in seen:
            seen.add((candidate.provider, candidate.model))
            out.append(candidate)
    return tuple(out)


def build_route_provider(
    route: Route,
    loaded: LoadedConfig,
    *,
    cooldowns: CooldownRegistry = COOLDOWNS,
    sleep: Sleep | None = None,
    history: RouteHistory | None = None,
) -> FallbackProvider:
    """The route as one `Provider`. Candidates are built on first use, each with its own retries.
    With `history`, what each call shows (latency, errors, rate limits) is recorded there."""

    def build(candidate: Candidate, policy: RetryPolicy) -> Provider:
        return build_provider(
            ProviderSetup(
                name=candidate.provider,
                kind=candidate.kind,
                config=candidate.config,
                credentials=candidate.credentials,
                retry=policy,
                sleep=sleep,
            )
        )

    return FallbackProvider(
        route.candidates,
        build=lambda c, p: build(c, _with_retries(p, c.config)),
        settings=loaded.config.routing,
        cooldowns=cooldowns,
        sleep=sleep,
        history=history,
    )


def _with_retries(policy: RetryPolicy, config: ProviderConfig) -> RetryPolicy:
    retries = config.max_retries if config.max_retries is not None else 2
    return dataclasses.replace(policy, max_retries=retries)
