"""Spend limits checked before every provider call, not after the money is gone.

A `SpendGuard` is asked before each call with that call's worst case (`reserve`) and told afterwards
what the call really cost (`settle`). A call whose worst case would take the spend past a limit is
not sent: `reserve` raises `BudgetReached` (exit 5), naming the budget, the spend and the step.

The worst case of a call is its input, estimated as characters / 4 (rounded up) over the system
prompt, the messages and the tool definitions, plus its output allowance: the request's
`max_tokens`, else `DEFAULT_OUTPUT_ALLOWANCE` (what rupu sends Anthropic when an agent sets no
`maxTokens`). The input is priced at the dearer of the model's input and cache-write prices, the
output at its output price, at the service tier asked for. A call's reservation holds its worst case
until it is settled, so concurrent calls (the units of a fan-out) cannot all pass the same check:
the spend stays within a limit unless a call costs more than its worst case (an estimate that was
low), and then by at most that one call in flight per unit.

A model with no known price counts tokens only: a USD limit cannot be enforced for it, and the
guard says so once per model through `notify`.

The guard is a protocol with two async methods taking plain data, so a distributed executor can keep
one guard on its driver and let workers call it remotely; `LocalSpendGuard` is the in-process one.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import orjson

from rupu.catalog.pricing import Pricer, format_cost
from rupu.errors import BudgetReached
from rupu.messages import ModelRequest, TextPart, ThinkingPart, ToolCallPart, ToolResultPart, Usage

DEFAULT_OUTPUT_ALLOWANCE = 8192
CHARS_PER_TOKEN = 4


@dataclass(frozen=True, slots=True)
class SpendLimit:
    """`max_usd` and/or `max_tokens` (None: no limit of that kind)."""

    max_usd: float | None = None
    max_tokens: int | None = None

    @property
    def empty(self) -> bool:
        return self.max_usd is None and self.max_tokens is None

    def over(self, other: SpendLimit | None) -> SpendLimit:
        """This limit, with `other`'s values where this one sets none."""
        if other is None:
            return self
        return SpendLimit(
            self.max_usd if self.max_usd is not None else other.max_usd,
            self.max_tokens if self.max_tokens is not None else other.max_tokens,
        )


@dataclass(frozen=True, slots=True)
class Charge:
    """What one provider call costs: its worst case before it is sent, its usage after. `usd` is
    None when the model has no known price. `step` is the workflow step path the call belongs to
    (None for `rupu run`); `model` is `provider:model`, named in messages."""

    tokens: int
    usd: float | None
    step: str | None = None
    model: str = ""


class SpendGuard(Protocol):
    """Consulted by the agent loop around every provider call."""

    async def reserve(self, charge: Charge) -> int:
        """Holds `charge` (the call's worst case) and returns the hold's id; raises
        `BudgetReached` when the call could take the spend past a limit (nothing is held then)."""
        ...

    async def settle(self, hold: int, actual: Charge) -> None:
        """Replaces hold `hold` with what the call really cost (zero when it was never answered).
        Never raises: a spend that went past a limit (a call that cost more than its worst case)
        is remembered, and the next `reserve` refuses."""
        ...


def estimate_input_tokens(request: ModelRequest) -> int:
    """A cheap upper-ish estimate of the request's input tokens: characters / 4, rounded up."""
    chars = len(request.system)
    for message in request.messages:
        for part in message.parts:
            match part:
                case TextPart() | ThinkingPart():
                    chars += len(part.text)
                case ToolCallPart():
                    chars += len(part.name) + len(orjson.dumps(part.arguments))
                case ToolResultPart():
                    chars += len(part.content)
    for tool in request.tools:
        chars += len(tool.name) + len(tool.description) + len(orjson.dumps(tool.parameters))
    if request.output_schema is not None:
        chars += len(orjson.dumps(request.output_schema))
    return math.ceil(chars / CHARS_PER_TOKEN)


def worst_case(
    request: ModelRequest, pricing: Pricer | None, *, step: str | None, model: str
) -> Charge:
    """The most `request` can cost: estimated input plus its output allowance, priced."""
    input_tokens = estimate_input_tokens(request)
    output_tokens = request.max_tokens or DEFAULT_OUTPUT_ALLOWANCE
    usd: float | None = None
    if pricing is not None:
        plain = pricing(
            Usage(input_tokens=input_tokens, output_tokens=output_tokens, reported=True)
        )
        written = pricing(
            Usage(cache_write_tokens=input_tokens, output_tokens=output_tokens, reported=True)
        )
        if plain is not None and written is not None:
            usd = max(plain, written)
    return Charge(input_tokens + output_tokens, usd, step, model)


@dataclass(slots=True)
class Ledger:
    """One limit's account: what was spent and what calls in flight hold."""

    name: str  # how messages name it: "the run's budget", "step 'review' budget"
    # None: every call; else calls of this step path and the steps inside it. A `*` segment
    # matches any one segment: `fix.*.review` is step `review` in every iteration of loop `fix`.
    scope: str | None
    limit: SpendLimit
    usd: float = 0.0
    tokens: int = 0
    held_usd: float = 0.0
    held_tokens: int = 0

    def covers(self, step: str | None) -> bool:
        if self.scope is None:
            return True
        if step is None:
            return False
        if "*" not in self.scope:
            return step == self.scope or step.startswith(self.scope + ".")
        want, have = self.scope.split("."), step.split(".")
        if len(have) < len(want):
            return False
        return all(w in ("*", h) for w, h in zip(want, have[: len(want)], strict=True))


@dataclass(slots=True)
class _Hold:
    charge: Charge
    ledgers: list[Ledger]


@dataclass(slots=True)
class LocalSpendGuard:
    """The in-process guard: one ledger for the run and one per step that has a budget. Safe to call
    from many tasks and threads (each call takes a lock and never waits while holding it)."""

    ledgers: list[Ledger] = field(default_factory=list)
    notify: Callable[[str], None] | None = None
    tripped: BudgetReached | None = None
    _holds: dict[int, _Hold] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=itertools.count)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _noted: set[str] = field(default_factory=set)

    @classmethod
    def of(
        cls,
        run: SpendLimit | None,
        steps: Mapping[str, SpendLimit] | None = None,
        *,
        run_name: str = "the run's budget",
        notify: Callable[[str], None] | None = None,
    ) -> LocalSpendGuard:
        ledgers = [Ledger(run_name, None, run)] if run is not None and not run.empty else []
        for step, limit in (steps or {}).items():
            if not limit.empty:
                ledgers.append(Ledger(f"step '{step}' budget", step, limit))
        return cls(ledgers, notify)

    @property
    def active(self) -> bool:
        return bool(self.ledgers)

    def spent(self) -> tuple[float, int]:
        """USD and tokens settled on the run's ledger (0 when the run has none)."""
        run = next((ledger for ledger in self.ledgers if ledger.scope is None), None)
        return (round(run.usd, 12), run.tokens) if run is not None else (0.0, 0)

    def seed(self, step: str | None, usd: float, tokens: int) -> None:
        """Counts what the run spent before (an earlier attempt of a resumed run) on `step`."""
        with self._lock:
            for ledger in self.ledgers:
                if ledger.covers(step):
                    ledger.usd += usd
                    ledger.tokens += tokens

    async def reserve(self, charge: Charge) -> int:
        with self._lock:
            ledgers = [ledger for ledger in self.ledgers if ledger.covers(charge.step)]
            for ledger in ledgers:
                self._check(ledger, charge)
            for ledger in ledgers:
                ledger.held_tokens += charge.tokens
                ledger.held_usd += charge.usd or 0.0
            hold = next(self._ids)
            self._holds[hold] = _Hold(charge, ledgers)
            return hold

    async def settle(self, hold: int, actual: Charge) -> None:
        with self._lock:
            held = self._holds.pop(hold, None)
            if held is None:
                return
            for ledger in held.ledgers:
                ledger.held_tokens -= held.charge.tokens
                ledger.held_usd -= held.charge.usd or 0.0
                ledger.tokens += actual.tokens
                ledger.usd += actual.usd or 0.0
            for ledger in held.ledgers:
                with contextlib.suppress(BudgetReached):
                    self._check_settled(ledger, actual)

    def _check(self, ledger: Ledger, charge: Charge) -> None:
        limit = ledger.limit
        where = f" of step '{charge.step}'" if charge.step else ""
        if limit.max_tokens is not None:
            total = ledger.tokens + ledger.held_tokens + charge.tokens
            if total > limit.max_tokens:
                self._trip(
                    ledger,
                    "max_tokens",
                    charge.step,
                    f"{ledger.name} of {limit.max_tokens:,} tokens could be exceeded: "
                    f"{ledger.tokens:,} spent{_held(ledger.held_tokens, 'tokens')}, and the "
                    f"next call{where} may use up to {charge.tokens:,}; it was not sent",
                )
        if limit.max_usd is not None:
            if charge.usd is None:
                self._note_unpriced(charge.model, ledger)
                return
            total_usd = ledger.usd + ledger.held_usd + charge.usd
            if total_usd > limit.max_usd + 1e-12:
                self._trip(
                    ledger,
                    "max_usd",
                    charge.step,
                    f"{ledger.name} of {_usd(limit.max_usd)} could be exceeded: "
                    f"{_usd(ledger.usd)} spent{_held(ledger.held_usd, 'usd')}, and the next "
                    f"call{where} may cost up to {_usd(charge.usd)}; it was not sent",
                )

    def _check_settled(self, ledger: Ledger, actual: Charge) -> None:
        limit = ledger.limit
        if limit.max_tokens is not None and ledger.tokens > limit.max_tokens:
            self._trip(
                ledger,
                "max_tokens",
                actual.step,
                f"{ledger.name} of {limit.max_tokens:,} tokens was exceeded: "
                f"{ledger.tokens:,} spent (a call used more than its estimate)",
            )
        if limit.max_usd is not None and ledger.usd > limit.max_usd + 1e-12:
            self._trip(
                ledger,
                "max_usd",
                actual.step,
                f"{ledger.name} of {_usd(limit.max_usd)} was exceeded: {_usd(ledger.usd)} spent "
                "(a call cost more than its estimate)",
            )

    def _trip(self, ledger: Ledger, kind: str, step: str | None, message: str) -> None:
        error = BudgetReached(
            kind,
            f"budget reached: {message}",
            budget=ledger.name,
            step=step,
            spent_usd=round(ledger.usd, 12),
            spent_tokens=ledger.tokens,
            hint="raise the limit (--max-usd / --max-tokens, or `budget:` in the workflow) or "
            "lower the agent's maxTokens",
        )
        if self.tripped is None:
            self.tripped = error
        raise error

    def _note_unpriced(self, model: str, ledger: Ledger) -> None:
        if model in self._noted:
            return
        self._noted.add(model)
        if self.notify is not None:
            self.notify(
                f"{ledger.name} in USD cannot be enforced for {model or 'this model'}: its price "
                "is unknown, so only its tokens are counted (add a [pricing] entry to config.toml)"
            )


def _usd(value: float) -> str:
    return format_cost(value) if value >= 0.0001 or value == 0 else f"${value:.6f}"


def _held(amount: float, kind: str) -> str:
    if not amount:
        return ""
    shown = _usd(amount) if kind == "usd" else f"{int(amount):,}"
    return f" (+{shown} held by calls in flight)"
