"""Credentials on a cluster: the driver keeps the resolver and every credential source; a broker
actor pinned to the driver's node hands workers the current access token or key on request.

Workers never receive a refresh token or a stored key reference: a unit's provider holds a
`BrokeredCredential` (the source's number and a description) and asks the broker when it needs the
value. The broker keeps each answer until shortly before it expires and coalesces concurrent asks,
so a refresh happens once per expiry for the whole cluster; the refresh itself runs on the driver
(`CredentialPump` answers the broker's queued asks with the driver's own sources, whose refresh is
single-flight). The value goes from the driver to the broker on the same node, and from the broker
to a worker only as the return value of the worker's ask: it is never part of a unit or of the
arguments of a call to a worker, and `Secret` hides it from every repr and log line.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import anyio

from rupu.agents.budget import Charge, SpendGuard
from rupu.auth.credentials import Credential, CredentialSource
from rupu.errors import BudgetReached, CredentialError, RupuError

# An answer is reused until this long before its expiry (the driver's source refreshes in its own
# window, which is wider, so the broker never serves a token the driver would already replace).
REUSE_MARGIN = 60.0
# A request taken by a driver poll that never answered (the poll was cancelled) is offered again.
LEASE_SECONDS = 3.0
POLL_SECONDS = 0.5


@dataclass(frozen=True, slots=True)
class Ask:
    """One queued ask: which source, and whether the worker's provider rejected the last value;
    or, with `spend`, a budget operation for the driver's spend guard."""

    number: int
    source: int
    force: bool
    spend: tuple[str, int, Charge] | None = None  # ("reserve" | "settle", hold, charge)


@dataclass(frozen=True, slots=True)
class Stopped:
    """The driver's spend guard refused a call: `BudgetReached`, as the worker raises it."""

    limit: str
    message: str
    budget: str
    step: str | None
    spent_usd: float
    spent_tokens: int
    hint: str | None

    def error(self) -> BudgetReached:
        return BudgetReached(
            self.limit,
            self.message,
            budget=self.budget,
            step=self.step,
            spent_usd=self.spent_usd,
            spent_tokens=self.spent_tokens,
            hint=self.hint,
        )


@dataclass(frozen=True, slots=True)
class Refused:
    """The driver's source could not give a credential: the error, as the worker raises it."""

    provider: str
    message: str
    hint: str | None = None


class CredentialBroker:
    """The broker actor's body (wrapped with `ray.remote` by the fleet)."""

    def __init__(self) -> None:
        self._numbers = itertools.count(1)
        self._queue: deque[tuple[Ask, float]] = deque()
        self._answers: dict[int, asyncio.Future[Any]] = {}
        self._inflight: dict[tuple[int, bool], asyncio.Future[Credential | Refused]] = {}
        self._kept: dict[int, Credential] = {}
        self._arrived: asyncio.Event | None = None
        self.asked = 0  # asks forwarded to the driver (for `stats`)

    def _event(self) -> asyncio.Event:
        if self._arrived is None:
            self._arrived = asyncio.Event()
        return self._arrived

    async def get(self, source: int, force: bool) -> Credential | Refused:
        """A worker's ask (an actor call: the answer is its return value)."""
        kept = self._kept.get(source)
        if kept is not None and not force and _fresh(kept):
            return kept
        key = (source, force)
        future = self._inflight.get(key)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            self._inflight[key] = future
            ask = Ask(next(self._numbers), source, force)
            self._answers[ask.number] = future
            self._queue.append((ask, 0.0))
            self.asked += 1
            self._event().set()
        try:
            return await asyncio.shield(future)
        finally:
            if future.done() and self._inflight.get(key) is future:
                del self._inflight[key]

    async def spend(self, operation: str, hold: int, charge: Charge) -> int | Stopped:
        """A worker's budget operation, answered by the driver's spend guard (never coalesced)."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        ask = Ask(next(self._numbers), 0, False, (operation, hold, charge))
        self._answers[ask.number] = future
        self._queue.append((ask, 0.0))
        self._event().set()
        answer: int | Stopped = await future
        return answer

    async def take(self, wait: float = POLL_SECONDS) -> list[Ask]:
        """The driver's poll: every ask not yet answered (nor taken in the last few seconds)."""
        deadline = time.monotonic() + wait
        while True:
            now = time.monotonic()
            taken = [ask for ask, at in self._queue if now - at >= LEASE_SECONDS]
            if taken:
                numbers = {ask.number for ask in taken}
                self._queue = deque(
                    (ask, now if ask.number in numbers else at) for ask, at in self._queue
                )
                return taken
            if now >= deadline:
                return []
            self._event().clear()
            try:
                await asyncio.wait_for(self._event().wait(), deadline - now)
            except TimeoutError:
                return []

    def answer(self, number: int, value: Credential | Refused | Stopped | int) -> None:
        future = self._answers.pop(number, None)
        self._queue = deque((ask, at) for ask, at in self._queue if ask.number != number)
        if future is None or future.done():
            return
        if isinstance(value, Credential):
            for (source, _), waiting in list(self._inflight.items()):
                if waiting is future:
                    self._kept[source] = value
        future.set_result(value)

    def stats(self) -> dict[str, int]:
        return {"asked": self.asked}


def _fresh(credential: Credential) -> bool:
    expires = credential.expires_at
    return expires is None or time.time() < expires - REUSE_MARGIN


@dataclass(frozen=True, slots=True)
class BrokeredCredential:
    """A worker's credential source: asks the broker (an actor handle) for source `number`."""

    broker: Any
    number: int
    provider: str

    async def get(self, *, force_refresh: bool = False) -> Credential:
        value = await self.broker.get.remote(self.number, force_refresh)
        if isinstance(value, Refused):
            raise CredentialError(
                value.provider, value.message.removeprefix(f"{value.provider}: "), hint=value.hint
            )
        assert isinstance(value, Credential)
        return value


@dataclass(frozen=True, slots=True)
class BrokeredGuard:
    """A worker's spend guard: every reserve and settle is the driver's guard's decision, so a
    budget holds across the cluster."""

    broker: Any

    async def reserve(self, charge: Charge) -> int:
        answer = await self.broker.spend.remote("reserve", 0, charge)
        if isinstance(answer, Stopped):
            raise answer.error()
        return int(answer)

    async def settle(self, hold: int, actual: Charge) -> None:
        await self.broker.spend.remote("settle", hold, actual)


class CredentialPump:
    """The driver's side: answers the broker's asks with the driver's own credential sources and
    spend guard, for as long as `serve` runs (the Ray dispatcher runs it while units are in
    flight)."""

    def __init__(
        self,
        broker: Any,
        sources: Mapping[int, tuple[str, CredentialSource]],
        guard: SpendGuard | None = None,
    ) -> None:
        self.broker = broker
        self.sources = sources
        self.guard = guard

    async def serve(self) -> None:
        async with anyio.create_task_group() as group:
            while True:
                for ask in await self.broker.take.remote(POLL_SECONDS):
                    group.start_soon(self._answer, ask)

    async def _answer(self, ask: Ask) -> None:
        # An ask taken is answered even when the pump stops: a reserve must not run twice.
        with anyio.CancelScope(shield=True):
            await self._reply(ask)

    async def _reply(self, ask: Ask) -> None:
        if ask.spend is not None:
            await self.broker.answer.remote(ask.number, await self._spend(*ask.spend))
            return
        provider, source = self.sources[ask.source]
        value: Credential | Refused
        try:
            value = await source.get(force_refresh=ask.force)
        except RupuError as exc:
            value = Refused(provider, exc.message, exc.hint)
        await self.broker.answer.remote(ask.number, value)

    async def _spend(self, operation: str, hold: int, charge: Charge) -> int | Stopped:
        guard = self.guard
        if guard is None:
            return 0
        if operation == "settle":
            await guard.settle(hold, charge)
            return 0
        try:
            return await guard.reserve(charge)
        except BudgetReached as exc:
            return Stopped(
                exc.limit,
                exc.message,
                exc.budget,
                exc.step,
                exc.spent_usd,
                exc.spent_tokens,
                exc.hint,
            )
