"""Shared resources of a run: one provider instance per (provider, auth mode), so every step on a
provider shares its connection pool, and the concurrency limits (per step, per workflow, per
provider).

Limits are acquired in one fixed order (step, workflow, provider, descriptors) before a unit is
started, and running units never wait for anything else, so the limits cannot deadlock. The
descriptor limit keeps a fan-out within the open files the process may have (`rupu.openfiles`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import anyio

from rupu.config import LoadedConfig
from rupu.openfiles import raise_soft_limit, unit_budget
from rupu.providers.base import Provider
from rupu.routing.target import RunTarget

# Default in-flight requests per provider when config.toml sets no `max_concurrency`: generous
# enough that a fan-out is concurrent by default, modest enough to stay under typical rate limits.
DEFAULT_PROVIDER_CONCURRENCY: dict[str, int | None] = {
    "anthropic": 8,
    "openai": 16,
    "gemini": 8,
    "copilot": 4,
    "mock": None,
}
DEFAULT_CUSTOM_CONCURRENCY = 16

ProviderBuilder = Callable[[RunTarget], tuple[Provider, str]]


def provider_limit(name: str, config: LoadedConfig) -> int | None:
    declared = config.provider(name).max_concurrency
    if declared is not None:
        return declared
    if name in DEFAULT_PROVIDER_CONCURRENCY:
        return DEFAULT_PROVIDER_CONCURRENCY[name]
    return DEFAULT_CUSTOM_CONCURRENCY


@dataclass(slots=True)
class ProviderPool:
    """Builds each provider once, up front (`prepare`), so a missing credential fails the run before
    any request is sent."""

    build: ProviderBuilder
    config: LoadedConfig
    # Keyed by model too: a routed provider sends the model of its route, not the request's.
    _instances: dict[tuple[str, str, str | None, tuple[str, ...]], tuple[Provider, str]] = field(
        default_factory=dict
    )
    _limits: dict[str, anyio.Semaphore | None] = field(default_factory=dict)

    def prepare(self, targets: list[RunTarget]) -> None:
        for target in targets:
            self.get(target)

    def get(self, target: RunTarget) -> tuple[Provider, str]:
        key = (target.provider, target.model, target.auth, target.fallbacks)
        found = self._instances.get(key)
        if found is None:
            found = self.build(target)
            self._instances[key] = found
        return found

    def limit(self, provider: str) -> anyio.Semaphore | None:
        if provider not in self._limits:
            value = provider_limit(provider, self.config)
            self._limits[provider] = anyio.Semaphore(value) if value else None
        return self._limits[provider]

    def limit_value(self, provider: str) -> int | None:
        return provider_limit(provider, self.config)

    async def aclose(self) -> None:
        for provider, _ in self._instances.values():
            with anyio.CancelScope(shield=True):
                await provider.aclose()
        self._instances.clear()


def descriptor_limit() -> anyio.Semaphore | None:
    """The units a run may have in flight within its open-file budget (None: unlimited). The soft
    limit is raised first, for runs started from Python rather than the CLI."""
    raise_soft_limit()
    budget = unit_budget()
    return anyio.Semaphore(budget) if budget is not None else None


class Slots:
    """The limits one unit must hold while it runs."""

    __slots__ = ("_held",)

    def __init__(self) -> None:
        self._held: list[anyio.Semaphore] = []

    async def acquire(self, *limits: anyio.Semaphore | None) -> None:
        """Takes every limit, in order; a free one is taken without yielding to the event loop, so
        a large fan-out starts all its units in one pass."""
        try:
            for limit in limits:
                if limit is None:
                    continue
                try:
                    limit.acquire_nowait()
                except anyio.WouldBlock:
                    await limit.acquire()
                self._held.append(limit)
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        while self._held:
            self._held.pop().release()
