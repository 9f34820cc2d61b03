"""Running one agent: resolve where it runs, stream turns, record the transcript.

A turn that ends in tool calls is handed to the tool box (when the agent has one) and the results go
back to the model; a turn without tool calls ends the run.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import anyio

from rupu.agents.budget import Charge, SpendGuard, worst_case
from rupu.agents.overflow import (
    MAX_TRIMS,
    drop_oldest_exchange,
    is_context_overflow,
    overflow_error,
)
from rupu.agents.spec import AgentSpec
from rupu.errors import Interrupted, LimitReached, ProviderError, RupuError
from rupu.messages import (
    AssistantTurn,
    Message,
    ModelRequest,
    ServedBy,
    StreamEvent,
    ThinkingPart,
    ToolSpec,
    Usage,
)
from rupu.providers.base import Provider, TurnBuilder
from rupu.routing.target import RunTarget
from rupu.transcripts import TranscriptWriter

if TYPE_CHECKING:
    from rupu.agents.tier_switch import TierSwitcher

DEFAULT_MAX_TURNS = 50

RunStatus = Literal["ok", "error", "aborted"]
EventSink = Callable[[StreamEvent], None]


class ToolBox(Protocol):
    """Runs the tool calls of one turn and returns the user message carrying their results."""

    specs: list[ToolSpec]

    async def run_calls(self, turn: AssistantTurn, transcript: TranscriptWriter) -> Message: ...

    def audit(self) -> dict[str, Any]:
        """What the run may do (mode, workspace, tool names), recorded as `tool_audit`."""
        ...


@dataclass(frozen=True, slots=True)
class FailedTurn:
    usage: Usage
    cost: float | None
    rate_limits: dict[str, str | int | float]


@dataclass(slots=True)
class AgentResult:
    run_id: str
    status: RunStatus
    text: str
    usage: Usage
    turns: list[AssistantTurn]
    duration_ms: int
    transcript: Path
    error: RupuError | None = None
    messages: list[Message] = field(default_factory=list)
    cost_usd: float | None = None
    # The latest quota headers: of the last turn, or of the failed attempt that ended the run.
    rate_limits: dict[str, str | int | float] = field(default_factory=dict)
    # Who served the turns, in order; a new entry each time another provider or model took over.
    served: list[ServedBy] = field(default_factory=list)


@dataclass(slots=True)
class AgentRun:
    """One run of one agent on one provider."""

    run_id: str
    spec: AgentSpec
    target: RunTarget
    provider: Provider
    transcript: TranscriptWriter
    credential: str
    tools: ToolBox | None = None
    on_event: EventSink | None = None
    on_turn: Callable[[AssistantTurn], Awaitable[None]] | None = None
    # Prices one call's usage in USD (None when unknown); see rupu.catalog.pricing.
    pricing: Callable[[Usage], float | None] | None = None
    # The pricer of another provider/model, for turns a fallback served (rupu.routing.checks).
    price_of: Callable[[str, str], Callable[[Usage], float | None]] | None = None
    # What a turn that failed mid-stream had already been billed for (usage, quota headers).
    failed_turn: FailedTurn | None = None
    # The tiers `set_model_tier` may move the rest of the run to (`tiers:` in the frontmatter).
    tier_switch: TierSwitcher | None = None
    _served: list[ServedBy] = field(default_factory=list, init=False)
    # Asked before every provider call with its worst case, told its cost after (rupu.agents.budget).
    guard: SpendGuard | None = None
    budget_step: str | None = None  # the workflow step path the guard charges calls to
    _noted: bool = False  # the provider's credential note is recorded once per run
    _scope: anyio.CancelScope | None = field(default=None, init=False)
    _stopped_by: Interrupted | None = field(default=None, init=False)

    def stop(self, reason: Interrupted) -> None:
        """Cancels the run from outside (a signal): it ends `aborted` with `reason` as its error."""
        self._stopped_by = reason
        if self._scope is not None:
            self._scope.cancel()

    async def run(self, prompt: str, *, history: list[Message] | None = None) -> AgentResult:
        started = time.monotonic()
        front = self.spec.frontmatter
        self.transcript.write(
            "run_start",
            run_id=self.run_id,
            agent=self.spec.name,
            provider=self.target.provider,
            model=self.target.model,
            credential=self.credential,
            agent_path=str(self.spec.path),
        )
        self.transcript.write("user_prompt", text=prompt)
        if self.tools is not None:
            self.transcript.write("tool_audit", **self.tools.audit())
        messages = [*(history or []), Message.user(prompt)]
        usage = Usage()
        cost: float | None = 0.0 if self.pricing is not None or self.price_of else None
        turns: list[AssistantTurn] = []
        status: RunStatus = "aborted"
        error: RupuError | None = None
        max_turns = front.max_turns or DEFAULT_MAX_TURNS
        self._scope = scope = anyio.CancelScope()
        if self._stopped_by is not None:
            scope.cancel()
        try:
            with scope:
                for turn_index in range(max_turns):
                    turn = await self._fitting_turn(turn_index, messages)
                    turns.append(turn)
                    usage = usage.add(turn.usage)
                    turn_cost = self._price(turn)
                    cost = (
                        None if cost is None or turn_cost is None else round(cost + turn_cost, 12)
                    )
                    messages.append(turn.message)
                    if not turn.message.tool_calls() or self.tools is None:
                        status = "ok"
                        break
                    messages.append(await self.tools.run_calls(turn, self.transcript))
                    self._switch_tier(turn_index)
                else:
                    raise LimitReached(
                        "maxTurns",
                        f"the agent reached maxTurns ({max_turns}) without finishing",
                        hint="raise maxTurns in the agent's frontmatter or narrow the task",
                    )
            if scope.cancelled_caught:
                raise self._stopped_by or Interrupted()
        except RupuError as exc:
            status, error = ("aborted" if isinstance(exc, Interrupted) else "error"), exc
            failed = self.failed_turn
            if failed is not None and failed.usage.reported:
                usage = usage.add(failed.usage)
                cost = (
                    None if cost is None or failed.cost is None else round(cost + failed.cost, 12)
                )
            self.transcript.write("error", message=exc.one_line(), **_error_fields(exc))
        finally:
            duration_ms = int((time.monotonic() - started) * 1000)
            self.transcript.write(
                "run_complete",
                run_id=self.run_id,
                status=status,
                total_tokens=usage.total_tokens,
                usage=usage.as_dict(),
                cost_usd=cost,
                duration_ms=duration_ms,
                error=error.one_line() if error else None,
            )
        text = turns[-1].message.text() if turns else ""
        rate_limits = turns[-1].rate_limits if turns else {}
        if self.failed_turn is not None and self.failed_turn.rate_limits:
            rate_limits = self.failed_turn.rate_limits
        return AgentResult(
            self.run_id,
            status,
            text,
            usage,
            turns,
            duration_ms,
            self.transcript.path,
            error,
            messages,
            cost,
            rate_limits,
            list(self._served),
        )

    def _switch_tier(self, index: int) -> None:
        """After a turn whose tools asked for another tier, the next turns go there."""
        move = self.tier_switch.take() if self.tier_switch is not None else None
        if move is None:
            return
        self.transcript.write(
            "tier_switch",
            turn_idx=index,
            from_tier=move.from_tier,
            to_tier=move.to_tier,
            from_provider=self.target.provider,
            from_model=self.target.model,
            to_provider=move.target.provider,
            to_model=move.target.model,
            credential=move.credential,
            reason=move.reason,
        )
        self.provider, self.target, self.credential = move.provider, move.target, move.credential
        if self.price_of is not None:
            self.pricing = self.price_of(move.target.provider, move.target.model)

    async def _fitting_turn(self, index: int, messages: list[Message]) -> AssistantTurn:
        """A turn; when the provider says the context is full, the oldest tool exchange is dropped
        (noted in the transcript) and the turn is tried again."""
        for _ in range(MAX_TRIMS):
            try:
                return await self._turn(index, messages)
            except ProviderError as exc:
                if not is_context_overflow(exc):
                    raise
                dropped = drop_oldest_exchange(messages)
                if not dropped:
                    raise overflow_error(exc) from None
                self.transcript.write(
                    "context_trimmed",
                    turn_idx=index,
                    dropped_messages=dropped,
                    note="the provider reported a context overflow; the oldest tool exchange was dropped",
                )
        return await self._turn(index, messages)

    async def _turn(self, index: int, messages: list[Message]) -> AssistantTurn:
        front = self.spec.frontmatter
        request = ModelRequest(
            model=self.target.model,
            system=self.spec.system_prompt,
            messages=messages,
            tools=self.tools.specs if self.tools else [],
            max_tokens=front.max_tokens,
            effort=front.effort,
            output_format=front.output_format or "text",
            output_schema=front.output_schema,
            service_tier=front.service_tier,
        )
        hold = await self._reserve(request)
        self.transcript.write("turn_start", turn_idx=index)
        builder = TurnBuilder(self.target.provider)
        self.failed_turn = None
        try:
            await self._stream(index, request, builder)
        except BaseException as exc:  # a failed or cancelled call still settles what it cost
            if isinstance(exc, ProviderError):
                self._record_failed(builder)
            if hold is not None:
                await self._settle(hold, builder)
            raise
        turn = builder.result()
        self._record(index, turn)
        if hold is not None:
            await self._settle(hold, builder)
        if self.on_turn is not None:
            await self.on_turn(turn)
        return turn

    async def _stream(self, index: int, request: ModelRequest, builder: TurnBuilder) -> None:
        sink = self.on_event
        async for event in self.provider.stream(request):
            builder.add(event)
            if sink is not None:
                sink(event)
            if event.kind == "response_started" and event.note and not self._noted:
                self._noted = True
                self.transcript.write("note", text=event.note)
            elif event.kind == "retry_scheduled":
                self.transcript.write(
                    "retry", attempt=event.attempt, delay=round(event.delay, 3), reason=event.reason
                )
            elif event.kind == "failover":
                self.transcript.write(
                    "failover",
                    turn_idx=index,
                    from_provider=event.from_provider,
                    from_model=event.from_model,
                    to_provider=event.to_provider,
                    to_model=event.to_model,
                    credential=event.to_credential,
                    error_class=event.error_class,
                    reason=event.reason,
                )

    async def _reserve(self, request: ModelRequest) -> int | None:
        """Holds the call's worst case with the guard (raises `BudgetReached` instead of sending a
        call that could cross a limit); None when there is no guard."""
        if self.guard is None:
            return None
        target = self.target
        pricing = self.pricing
        if pricing is None and self.price_of is not None:
            pricing = self.price_of(target.provider, target.model)
        model = f"{target.provider}:{target.model}"
        try:
            return await self.guard.reserve(
                worst_case(request, pricing, step=self.budget_step, model=model)
            )
        except LimitReached as exc:
            self.transcript.write("budget_reached", limit=exc.limit, message=exc.one_line())
            raise

    async def _settle(self, hold: int, builder: TurnBuilder) -> None:
        """Tells the guard what the call cost (also when it failed or was cancelled)."""
        assert self.guard is not None
        usage = builder.usage
        cost = self._price_usage(usage, builder.served_by) if usage.reported else 0.0
        served = builder.served_by
        where = served or self.target
        target = f"{where.provider}:{where.model}"
        with anyio.CancelScope(shield=True):
            await self.guard.settle(
                hold, Charge(usage.total_tokens, cost, self.budget_step, target)
            )

    def _price(self, turn: AssistantTurn) -> float | None:
        return self._price_usage(turn.usage, turn.served_by)

    def _price_usage(self, usage: Usage, served: ServedBy | None) -> float | None:
        """The price the provider reported (claude-code), else that of whoever served the turn."""
        if usage.cost_usd is not None:
            return usage.cost_usd
        if served is not None and self.price_of is not None:
            return self.price_of(served.provider, served.model)(usage)
        return self.pricing(usage) if self.pricing is not None else None

    def _record_failed(self, builder: TurnBuilder) -> None:
        """A turn that failed after the provider reported usage was still billed: its usage, cost
        and quota headers are recorded, though its partial answer is not."""
        served = builder.served_by
        usage = builder.usage
        cost = self._price_usage(usage, served) if usage.reported else None
        self.failed_turn = FailedTurn(usage, cost, dict(builder.rate_limits))
        provider = served.provider if served else self.target.provider
        if usage.reported:
            self.transcript.write(
                "usage",
                provider=provider,
                model=served.model if served else self.target.model,
                credential=served.credential if served else self.credential,
                served_model=None,
                **usage.as_dict(),
                **_tier(usage),
                cost_usd=cost,
                failed=True,
            )
        if builder.rate_limits:
            self.transcript.write("rate_limits", provider=provider, snapshot=builder.rate_limits)

    def _record(self, index: int, turn: AssistantTurn) -> None:
        thinking = [p.text for p in turn.message.parts if isinstance(p, ThinkingPart)]
        self.transcript.write(
            "assistant_message",
            content=turn.message.text(),
            thinking="\n".join(thinking) if thinking else None,
            tool_calls=[
                {"call_id": c.call_id, "tool": c.name, "input": c.arguments}
                for c in turn.message.tool_calls()
            ],
        )
        served = turn.served_by
        provider = served.provider if served else self.target.provider
        model = served.model if served else self.target.model
        credential = turn.credential or (served.credential if served else self.credential)
        previous = self._served[-1] if self._served else None
        if previous is None or (previous.provider, previous.model) != (provider, model):
            self._served.append(ServedBy(provider, model, credential))
        self.transcript.write(
            "usage",
            provider=provider,
            model=model,
            credential=credential,
            served_model=turn.served_model,
            **turn.usage.as_dict(),
            **_tier(turn.usage),
            cost_usd=self._price(turn),
        )
        if turn.rate_limits:
            self.transcript.write("rate_limits", provider=provider, snapshot=turn.rate_limits)
        self.transcript.write(
            "turn_end",
            turn_idx=index,
            stop_reason=turn.stop_reason,
            raw_reason=turn.raw_reason,
            request_id=turn.request_id,
        )


def _tier(usage: Usage) -> dict[str, str]:
    """`service_tier` for a usage event, when the provider said which tier served the call."""
    return {"service_tier": usage.service_tier} if usage.service_tier else {}


def _error_fields(exc: RupuError) -> dict[str, object]:
    if isinstance(exc, ProviderError):
        return {
            "provider": exc.provider,
            "status": exc.status,
            "error_type": exc.error_type,
            "request_id": exc.request_id,
        }
    if isinstance(exc, LimitReached):
        return {"kind": "LimitReached", "limit": exc.limit}
    return {"kind": type(exc).__name__}
