"""`FallbackProvider`: one `Provider` that walks a route of candidates.

Each turn starts at the first candidate that is not cooling down. A failure whose class says
`failover` (rate limited, overloaded) moves the turn to the next candidate at once; a `retry` class
(5xx, timeouts, network, truncated streams) is first retried by the candidate's own transport and
moves on only when those retries are used up. `reauthenticate` and `surface` classes never move: the
error goes to the user with what to do. Nothing moves once any output of the turn was emitted. Every
move is announced as a `FailedOver` event (the agent loop writes it to the transcript as `failover`),
naming the provider, model and credential that takes over, and why.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

from rupu.auth.adc import AuthChoice
from rupu.auth.credentials import CredentialSource
from rupu.clock import SYSTEM_CLOCK
from rupu.config import ProviderConfig
from rupu.config.routing import RoutingConfig
from rupu.errors import ConfigError, ProviderError, RateLimited
from rupu.messages import FailedOver, ModelRequest, RetryScheduled, StreamEvent
from rupu.providers.base import Provider
from rupu.providers.retry import RetryPolicy, Sleep
from rupu.routing.classify import ErrorClass, action_for, advice, classify, describe
from rupu.routing.cooldown import COOLDOWNS, CooldownRegistry
from rupu.routing.history import RouteHistory

NOT_FAILED_OVER: dict[str, str] = {
    "quota": "quota and billing need your action",
    "auth_invalid": "rupu never switches to another credential by itself",
    "auth_expired": "rupu never switches to another credential by itself",
}
NOT_OUTPUT = frozenset(
    {"response_started", "usage_reported", "rate_limit_observed", "retry_scheduled", "failover"}
)


@dataclass(frozen=True, slots=True)
class Candidate:
    """One place a turn can run: a provider (with its effective config), a model and a credential.
    `credential` describes the credential class and source, never the secret."""

    provider: str
    kind: str
    model: str
    config: ProviderConfig
    credentials: CredentialSource | None
    credential: str
    auth: AuthChoice | None = None
    service_tiers: frozenset[str] = frozenset()

    @property
    def key(self) -> str:
        """What a rate limit cools down: this model on this endpoint (providers limit per model,
        so a route from one model to another of the same provider stays open)."""
        return f"{self.provider}@{self.config.base_url or self.kind}/{self.model}"

    @property
    def label(self) -> str:
        return f"{self.provider}:{self.model}"


CandidateBuilder = Callable[[Candidate, RetryPolicy], Provider]


def fails_over(exc: ProviderError) -> bool:
    return action_for(classify(exc)) == "failover"


class FallbackProvider:
    def __init__(
        self,
        candidates: Sequence[Candidate],
        *,
        build: CandidateBuilder,
        retry: RetryPolicy | None = None,
        settings: RoutingConfig | None = None,
        cooldowns: CooldownRegistry = COOLDOWNS,
        sleep: Sleep | None = None,
        history: RouteHistory | None = None,
    ) -> None:
        if not candidates:
            raise ValueError("a route needs at least one candidate")
        self.candidates = tuple(candidates)
        self.name = self.candidates[0].provider
        self._build = build
        self._retry = retry or RetryPolicy()
        self._settings = settings or RoutingConfig()
        self._cooldowns = cooldowns
        self._sleep = sleep or SYSTEM_CLOCK.sleep
        self._providers: dict[int, Provider] = {}
        self._history = history

    def _provider(self, index: int) -> Provider:
        if index not in self._providers:

            def give_up(exc: ProviderError) -> bool:
                """Rather than wait out a rate limit in place, move on, if anything later can
                take the turn right now."""
                return fails_over(exc) and self._usable_after(index)

            policy = dataclasses.replace(self._retry, give_up=give_up)
            self._providers[index] = self._build(self.candidates[index], policy)
        return self._providers[index]

    def _usable_after(self, index: int) -> bool:
        later = self.candidates[index + 1 :]
        return any(self._cooldowns.remaining(c.key) <= 0 for c in later)

    async def _usable(self) -> AsyncIterator[StreamEvent | list[int]]:
        """Yields a wait notice if every candidate is cooling, then the indices worth trying."""
        keys = [c.key for c in self.candidates]
        usable = [i for i, key in enumerate(keys) if self._cooldowns.remaining(key) <= 0]
        if not usable:
            soonest = min(range(len(keys)), key=lambda i: self._cooldowns.remaining(keys[i]))
            wait = self._cooldowns.remaining(keys[soonest])
            if wait > self._settings.max_wait_secs:
                raise self._all_cooling(wait)
            yield RetryScheduled(attempt=1, delay=wait, reason="every provider is cooling down")
            await self._sleep(wait)
            usable = [soonest]
        yield usable

    def _all_cooling(self, wait: float) -> ProviderError:
        names = ", ".join(c.label for c in self.candidates)
        return RateLimited(
            self.name,
            f"every provider of this route is cooling down after a rate limit ({names}); the "
            f"first resets in {wait:.0f} s",
            error_type="rate_limited",
            retry_after=wait,
            hint="retry after the reset, or add a fallback (`fallback:` in the agent, --fallback, "
            "or [routing] local_fallback)",
        )

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        usable: list[int] = []
        async for item in self._usable():
            if isinstance(item, list):
                usable = item
            else:
                yield item
        pending: tuple[Candidate, ErrorClass | str, str] | None = None
        tried: list[str] = []
        for index, candidate in enumerate(self.candidates):
            if index not in usable:
                if pending is None:
                    cooling = self._cooldowns.entry(candidate.key)
                    left = self._cooldowns.remaining(candidate.key)
                    why = cooling.reason if cooling else "rate limited"
                    pending = (candidate, "cooling_down", f"cooling down {left:.0f} s more ({why})")
                continue
            if pending is not None:
                source, error_class, reason = pending
                yield FailedOver(
                    from_provider=source.provider,
                    from_model=source.model,
                    to_provider=candidate.provider,
                    to_model=candidate.model,
                    to_credential=candidate.credential,
                    error_class=error_class,
                    reason=reason,
                )
            emitted = False
            started = self._history.clock.time() if self._history else 0.0
            try:
                async for event in self._provider(index).stream(self._for(candidate, request)):
                    if not emitted and event.kind not in NOT_OUTPUT:
                        emitted = True
                        self._first_token(candidate, started)
                    yield event
                self._outcome(candidate, None)
                return
            except ProviderError as exc:
                error_class = classify(exc)
                self._outcome(candidate, error_class)
                if isinstance(exc, RateLimited):
                    self._cool(candidate, exc)
                later = any(i > index for i in usable)
                moves = action_for(error_class) in ("failover", "retry")
                if emitted or not later or not moves:
                    raise self._explain(exc, error_class, candidate, tried) from None
                tried.append(f"{candidate.label} ({describe(error_class)})")
                pending = (candidate, error_class, f"{describe(error_class)}: {_short(exc)}")

    def _for(self, candidate: Candidate, request: ModelRequest) -> ModelRequest:
        tier = request.service_tier
        if tier is not None and tier not in candidate.service_tiers:
            tier = None
        if candidate.model == request.model and tier == request.service_tier:
            return request
        return dataclasses.replace(request, model=candidate.model, service_tier=tier)

    def _cool(self, candidate: Candidate, exc: ProviderError) -> None:
        seconds = exc.retry_after or exc.reset_after or self._settings.cooldown_secs
        self._cooldowns.cool_down(candidate.key, seconds, f"HTTP {exc.status or 429} rate limit")
        if self._history is not None:
            self._history.record_rate_limit(candidate.provider, candidate.model, seconds)

    def _first_token(self, candidate: Candidate, started: float) -> None:
        if self._history is not None:
            elapsed = self._history.clock.time() - started
            self._history.record_first_token(candidate.provider, candidate.model, elapsed)

    def _outcome(self, candidate: Candidate, error_class: ErrorClass | None) -> None:
        if self._history is not None and error_class != "rate_limited":
            self._history.record_outcome(candidate.provider, candidate.model, error_class)

    def _explain(
        self, exc: ProviderError, error_class: ErrorClass, candidate: Candidate, tried: list[str]
    ) -> ProviderError:
        """The dialect's own hint stays; the router adds what to do when there is none, why it did
        not fail over when it could have, and what else it tried."""
        if exc.hint is None:
            exc.hint = advice(error_class, candidate.provider)
        action = action_for(error_class)
        if len(self.candidates) > 1 and action in ("surface", "reauthenticate"):
            why = NOT_FAILED_OVER.get(error_class, "another provider would not fix it")
            exc.hint = (
                f"{exc.hint}; not failed over: {why}" if exc.hint else f"not failed over: {why}"
            )
        if tried:
            also = "also tried: " + ", ".join(tried)
            exc.hint = f"{exc.hint}; {also}" if exc.hint else also
        if exc.model is None:
            exc.model = candidate.model
        return exc

    async def aclose(self) -> None:
        providers, self._providers = list(self._providers.values()), {}
        for provider in providers:
            await provider.aclose()
        if self._history is not None:
            import anyio.to_thread  # lazy: only routes that keep a history write one

            # The run is over: a history that cannot be written costs its update, not the run.
            with contextlib.suppress(ConfigError):
                await anyio.to_thread.run_sync(self._history.save)


def _short(exc: ProviderError) -> str:
    text = " ".join(exc.detail.split())
    return text if len(text) <= 120 else text[:119] + "…"
