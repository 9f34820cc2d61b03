"""Running one agent: resolve where it runs, stream turns, record the transcript.

A turn that ends in tool calls is handed to the tool box (when the agent has one) and the results go
back to the model; a turn without tool calls ends the run.
The records it writes on the way are shaped in rupu.agents.run_records.
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
from rupu.agents.run_records import (
    record_complete,
    record_error,
    record_failed_turn,
    record_stream_event,
    record_subruns_total,
    record_tier_switch,
    record_trim,
    record_turn,
)
from rupu.agents.spec import AgentSpec
from rupu.errors import Interrupted, LimitReached, ProviderError, RupuError
from rupu.messages import (
    AssistantTurn,
    Message,
    ModelRequest,
    ServedBy,
    StreamEvent,
    ToolSpec,
    Usage,
)
from rupu.providers.base import Provider, TurnBuilder
from rupu.routing.target import RunTarget
from rupu.sessions.codec import encode_message
from rupu.tools.dispatch import SubRun, SubRunLedger
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
    # The sub-agents it dispatched (their tokens and cost are part of `usage` and `cost_usd`).
    subruns: list[SubRun] = field(default_factory=list)


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
    # The session this run belongs to (recorded in `run_start`; see rupu.sessions).
    session_id: str | None = None
    parent_run: str | None = None  # the run that dispatched this one, recorded in `run_start`
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
        messages = self._start(prompt, history or [])
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
                    self._keep(turn.message)
                    if not turn.message.tool_calls() or self.tools is None:
                        status = "ok"
                        break
                    messages.append(await self.tools.run_calls(turn, self.transcript))
                    self._keep(messages[-1])
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
            record_error(self.transcript, exc)
        finally:
            # Stopped while an enclosing scope was cancelled too (a sub-run whose caller stopped):
            # the cancellation is not caught here, but the reason is still recorded.
            if error is None and self._stopped_by is not None:
                error = record_error(self.transcript, self._stopped_by)
            duration_ms = int((time.monotonic() - started) * 1000)
            children, usage, cost = self._with_subruns(usage, cost)
            record_complete(self.transcript, self.run_id, status, usage, cost, duration_ms, error)
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
            children.runs,
        )

    def _start(self, prompt: str, history: list[Message]) -> list[Message]:
        """Records the start of the run; the conversation it begins with (`history` + `prompt`)."""
        self.transcript.write(
            "run_start",
            run_id=self.run_id,
            agent=self.spec.name,
            provider=self.target.provider,
            model=self.target.model,
            credential=self.credential,
            agent_path=str(self.spec.path),
            **({"session_id": self.session_id} if self.session_id else {}),
            **({"parent_run_id": self.parent_run} if self.parent_run else {}),
        )
        self.transcript.write("user_prompt", text=prompt)
        if self.tools is not None:
            self.transcript.write("tool_audit", **self.tools.audit())
        if history:
            self.transcript.write("history", messages=len(history))
        messages = [*history, Message.user(prompt)]
        self._keep(messages[-1])
        self._brief_subruns()
        return messages

    def _keep(self, message: Message) -> None:
        """Records a message of the conversation whole (`message`), for a session to replay."""
        self.transcript.write("message", **encode_message(message))

    def _brief_subruns(self) -> None:
        """Tells the tool box's dispatch tools (if any) who calls them: sub-runs link to this run,
        and share its spend guard and budget step."""
        ledger = getattr(self.tools, "subruns", None)
        if isinstance(ledger, SubRunLedger):
            ledger.caller_run, ledger.guard, ledger.budget_step = (
                self.run_id,
                self.guard,
                self.budget_step,
            )

    def _with_subruns(
        self, usage: Usage, cost: float | None
    ) -> tuple[SubRunLedger, Usage, float | None]:
        """The sub-runs since the last run and the run's totals with theirs added (recorded as
        `subagents_total`; each sub-run's own `usage` records are in its own transcript)."""
        ledger = getattr(self.tools, "subruns", None)  # a tool box with dispatch tools has one
        children = ledger.take() if isinstance(ledger, SubRunLedger) else SubRunLedger()
        if not children.runs:
            return children, usage, cost
        own_cost = cost
        if cost is not None:
            cost = None if children.cost_usd is None else round(cost + children.cost_usd, 12)
        record_subruns_total(self.transcript, children, own_cost=own_cost)
        return children, usage.add(children.usage), cost

    def _switch_tier(self, index: int) -> None:
        """After a turn whose tools asked for another tier, the next turns go there."""
        move = self.tier_switch.take() if self.tier_switch is not None else None
        if move is None:
            return
        record_tier_switch(self.transcript, index, move, self.target)
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
                record_trim(self.transcript, index, dropped)
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
            else:
                record_stream_event(self.transcript, index, event)

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
        """A turn that failed after the provider reported usage was still billed (`failed_turn`)."""
        served = builder.served_by
        usage = builder.usage
        cost = self._price_usage(usage, served) if usage.reported else None
        self.failed_turn = FailedTurn(usage, cost, dict(builder.rate_limits))
        who = served or ServedBy(self.target.provider, self.target.model, self.credential)
        record_failed_turn(self.transcript, usage, builder.rate_limits, who, cost=cost)

    def _record(self, index: int, turn: AssistantTurn) -> None:
        """Records the turn; a new entry in `served` when another provider or model answered it."""
        served = turn.served_by
        who = ServedBy(
            served.provider if served else self.target.provider,
            served.model if served else self.target.model,
            turn.credential or (served.credential if served else self.credential),
        )
        previous = self._served[-1] if self._served else None
        if previous is None or (previous.provider, previous.model) != (who.provider, who.model):
            self._served.append(who)
        record_turn(self.transcript, index, turn, who, cost=self._price(turn))
