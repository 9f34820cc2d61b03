"""Running one unit of a step (a single agent call, one `for_each` item, or one `parallel` entry):
timeout, retries, the JSON contract with its one corrective re-prompt, the transcript and the
atomically written result that resume reuses.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import anyio
import orjson

from rupu.agents.budget import SpendGuard
from rupu.agents.loop import AgentResult, AgentRun, ToolBox
from rupu.agents.spec import AgentSpec
from rupu.catalog.pricing import Pricer
from rupu.errors import (
    AuthRejected,
    BadRequest,
    ConfigError,
    CredentialError,
    LimitReached,
    QuotaExhausted,
    RupuError,
)
from rupu.messages import StreamEvent, Usage
from rupu.providers.base import Provider
from rupu.routing.checks import PriceOf
from rupu.routing.target import RunTarget
from rupu.tools.base import one_line
from rupu.tools.setup import ToolSetup
from rupu.transcripts import TranscriptWriter
from rupu.workflows.agent_calls import AgentCall
from rupu.workflows.contracts import check_output, corrective_prompt
from rupu.workflows.events import (
    ContractRetried,
    RunEvent,
    UnitProgress,
    UnitRetried,
    UnitStarted,
    add_costs,
)
from rupu.workflows.kinds.run import CommandCall, failure_of, result_of
from rupu.workflows.kinds.run_command import CommandRefused, execute

UnitStatus = Literal["succeeded", "failed", "cancelled", "interrupted"]
Sleep = Callable[[float], Awaitable[None]]
# Opens the tools of one agent run (the CLI's seam for `tools:` in agent files); None: no tools.
ToolboxOpener = Callable[[AgentSpec], AbstractAsyncContextManager[ToolBox | None]]


class TranscriptSink(Protocol):
    """Where a unit's transcript goes: the run record on the driver, a buffer on a remote worker."""

    def transcript(self, step: str, unit: int) -> TranscriptWriter: ...


class ProviderSource(Protocol):
    """The built provider (and its credential's description) of a target."""

    def get(self, target: RunTarget) -> tuple[Provider, str]: ...


class UnitFailure(Exception):
    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable


@dataclass(slots=True)
class Unit:
    """One unit of work of a step, as plain data (a dispatcher may ship it to another process):
    the step's path, the unit's index, and what to execute; `prompt` is already rendered."""

    step: str
    index: int
    call: AgentCall | CommandCall
    prompt: str
    item: Any = None
    input_hash: str = ""

    @property
    def provider(self) -> str | None:
        """The provider the unit calls (its concurrency limit), None for a command."""
        return self.call.target.provider if isinstance(self.call, AgentCall) else None

    @property
    def label(self) -> str:
        if self.call.sub is not None:
            return f"step '{self.step}' entry '{self.call.sub}'"
        return (
            f"step '{self.step}' unit {self.index}"
            if self.item is not None
            else f"step '{self.step}'"
        )


@dataclass(slots=True)
class UnitOutcome:
    index: int
    status: UnitStatus
    output: str = ""
    json: Any = None
    error: str | None = None
    tokens: int = 0
    cost_usd: float | None = None
    duration_ms: int = 0
    attempts: int = 0
    reused: bool = False
    record: dict[str, Any] = field(default_factory=dict)
    service_tier: str | None = None  # the tier the provider said served its last call
    cached: bool = False  # taken from the step cache: no tokens, no cost in this run
    command: dict[str, Any] | None = None  # a `run` unit's stdout, stderr and exit_code

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> UnitOutcome:
        return cls(
            index=int(record["unit"]),
            status=record["status"],
            output=record.get("output", ""),
            json=record.get("json"),
            error=record.get("error"),
            tokens=int(record.get("tokens") or 0),
            cost_usd=_cost(record.get("cost_usd")),
            duration_ms=int(record.get("duration_ms") or 0),
            attempts=int(record.get("attempts") or 0),
            reused=True,
            record=record,
            service_tier=record.get("service_tier"),
            cached=bool(record.get("cached")),
            command=record.get("command"),
        )


class UnitReport(Protocol):
    """The driver's side (`rupu.workflows.dispatch`): where a dispatcher reports what its units
    do."""

    @property
    def stopping(self) -> bool:
        """True once the run fails fast or is interrupted: start nothing new."""
        ...

    def interrupted(self) -> str | None:
        """Why the run was interrupted (recorded on the units it cancels), or None."""
        ...

    def event(self, event: RunEvent) -> None:
        """A unit's event (started, retried, progress, ...), to log and show."""
        ...

    def finished(self, unit: Unit, outcome: UnitOutcome) -> None:
        """A unit that started is done (succeeded, failed, cancelled or interrupted); called
        exactly once per started unit, also when it is cancelled."""
        ...


def input_hash(call: AgentCall | CommandCall, prompt: str) -> str:
    """What a completed unit's result depends on; resume reuses a result only when this matches."""
    if isinstance(call, CommandCall):
        return _digest(call.material())
    material = [
        call.agent.name,
        call.agent.frontmatter.model_dump(mode="json", exclude_none=True),
        call.agent.system_prompt,
        call.target.provider,
        call.target.model,
        call.target.auth,
        prompt,
        call.output,
        call.schema,
    ]
    return _digest(material)


def _digest(material: list[Any]) -> str:
    return hashlib.sha256(orjson.dumps(material, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]


def retry_delay(attempt: int) -> float:
    return float(min(2 ** (attempt - 1), 30))


@dataclass(slots=True)
class UnitRunner:
    """Executes agent units in this process (the `UnitExecutor` of `LocalDispatcher`); each
    unit's transcript goes to the run record."""

    run_id: str
    record: TranscriptSink
    pool: ProviderSource
    sleep: Sleep
    toolbox: ToolboxOpener | None = None
    price_of: PriceOf | None = None  # the price of each (provider, model) a call is served by
    guard: SpendGuard | None = None  # the run's budgets, asked before every call
    # How `run` steps' commands run (the bash tool's mode, workspace and environment); None: refused.
    commands: ToolSetup | None = None

    async def run(self, unit: Unit, outcome: UnitOutcome, report: UnitReport) -> None:
        """Fills `outcome`. Never raises except for cancellation; a cancelled unit's outcome says
        so before it re-raises."""
        call = unit.call
        started = time.monotonic()
        transcript = self.record.transcript(unit.step, unit.index)
        if isinstance(call, AgentCall):
            started_event = UnitStarted(
                step=unit.step,
                unit=unit.index,
                sub=call.sub,
                item=unit.item,
                agent=call.agent.name,
                provider=call.target.provider,
                model=call.target.model,
                fast=call.fast,
            )
        else:
            started_event = UnitStarted(
                step=unit.step, unit=unit.index, command=one_line(call.spec.command, 80)
            )
        report.event(started_event)
        try:
            await self._attempts(unit, outcome, transcript, report)
        except anyio.get_cancelled_exc_class():
            reason = report.interrupted()
            outcome.status = "interrupted" if reason else "cancelled"
            outcome.error = reason or "cancelled"
            raise
        finally:
            transcript.close()
            outcome.duration_ms = int((time.monotonic() - started) * 1000)

    async def _attempts(
        self, unit: Unit, outcome: UnitOutcome, transcript: TranscriptWriter, report: UnitReport
    ) -> None:
        call = unit.call
        while True:
            outcome.attempts += 1
            try:
                scope = anyio.fail_after(call.timeout) if call.timeout else nullcontext()
                with scope:
                    outcome.output, outcome.json = await self._attempt(
                        unit, outcome, transcript, report
                    )
                outcome.status, outcome.error = "succeeded", None
                return
            except TimeoutError:
                failure = UnitFailure(f"timed out after {call.timeout:g}s")
            except UnitFailure as exc:
                failure = exc
            outcome.error = failure.message
            if not failure.retryable or outcome.attempts > call.retries:
                outcome.status = "failed"
                return
            delay = retry_delay(outcome.attempts)
            report.event(
                UnitRetried(
                    step=unit.step,
                    unit=unit.index,
                    attempt=outcome.attempts + 1,
                    delay=delay,
                    error=failure.message,
                )
            )
            await self.sleep(delay)

    async def _attempt(
        self, unit: Unit, outcome: UnitOutcome, transcript: TranscriptWriter, report: UnitReport
    ) -> tuple[str, Any]:
        call = unit.call
        if isinstance(call, CommandCall):
            return await self._command(unit, call, outcome, transcript)
        opener = self.toolbox
        async with opener(call.agent) if opener is not None else nullcontext() as tools:
            return await self._converse(unit, outcome, transcript, tools, report)

    async def _command(
        self, unit: Unit, call: CommandCall, outcome: UnitOutcome, transcript: TranscriptWriter
    ) -> tuple[str, Any]:
        if self.commands is None:
            raise UnitFailure("this engine runs no commands (no tool setup)", retryable=False)
        try:
            ran = await execute(call.spec, self.commands, label=unit.label, transcript=transcript)
        except CommandRefused as exc:
            raise UnitFailure(exc.message, retryable=False) from None
        outcome.command = result_of(ran)
        failure = failure_of(ran, allow_failure=call.spec.allow_failure)
        if failure is not None:
            raise UnitFailure(failure)
        return ran.stdout, None

    async def _converse(
        self,
        unit: Unit,
        outcome: UnitOutcome,
        transcript: TranscriptWriter,
        tools: ToolBox | None,
        report: UnitReport,
    ) -> tuple[str, Any]:
        call = unit.call
        assert isinstance(call, AgentCall)
        provider, credential = self.pool.get(call.target)
        price_of = self.price_of
        pricing = price_of(call.target.provider, call.target.model) if price_of else None
        agent_run = AgentRun(
            run_id=f"{self.run_id}/{unit.step}/{unit.index}",
            spec=call.agent,
            target=call.target,
            provider=provider,
            transcript=transcript,
            credential=credential,
            tools=tools,
            on_event=_usage_sink(unit, report, pricing),
            pricing=pricing,
            price_of=price_of,
            guard=self.guard,
            budget_step=unit.step,
        )
        result = await agent_run.run(unit.prompt)
        _charge(outcome, result)
        if result.error is not None:
            raise UnitFailure(result.error.one_line(), retryable=_retryable(result.error))
        if call.output != "json":
            return result.text, None
        checked = check_output(result.text, call.schema)
        if not checked.ok:
            report.event(ContractRetried(step=unit.step, unit=unit.index, errors=checked.errors))
            result = await agent_run.run(
                corrective_prompt(checked.errors, call.schema), history=result.messages
            )
            _charge(outcome, result)
            if result.error is not None:
                raise UnitFailure(result.error.one_line(), retryable=_retryable(result.error))
            checked = check_output(result.text, call.schema)
            if not checked.ok:
                raise UnitFailure(
                    "the output does not match its JSON contract after one corrective re-prompt: "
                    + "; ".join(checked.errors)
                )
        return orjson.dumps(checked.value).decode(), checked.value


def _charge(outcome: UnitOutcome, result: AgentResult) -> None:
    """Adds one agent run's tokens and cost (tries and corrective re-prompts all count)."""
    outcome.tokens += result.usage.total_tokens
    if result.usage.reported:  # a run refused before its first call spent nothing, priced or not
        outcome.cost_usd = add_costs([outcome.cost_usd, result.cost_usd])
    served = [turn.usage.service_tier for turn in result.turns if turn.usage.service_tier]
    outcome.service_tier = served[-1] if served else outcome.service_tier


def _usage_sink(
    unit: Unit, report: UnitReport, pricing: Pricer | None = None
) -> Callable[[StreamEvent], None]:
    """Reports the unit's running token count (and cost, priced at the unit's model) as its
    responses report usage."""
    done, current = Usage(), Usage()

    def on_event(event: StreamEvent) -> None:
        # A response may report its usage more than once (Anthropic: at the start and the end),
        # each report the response's total so far.
        nonlocal done, current
        if event.kind == "response_started":
            done, current = done.add(current), Usage()
        elif event.kind == "usage_reported":
            current = event.usage
            total = done.add(current)
            cost = pricing(total) if pricing is not None else None
            report.event(
                UnitProgress(
                    step=unit.step, unit=unit.index, tokens=total.total_tokens, cost_usd=cost
                )
            )

    return on_event


def unit_record(unit: Unit, outcome: UnitOutcome, transcript: str) -> dict[str, Any]:
    """A finished unit's line in `units.jsonl` (what resume reuses)."""
    call = unit.call
    agent = call if isinstance(call, AgentCall) else None
    record = {
        "step": unit.step,
        "unit": unit.index,
        "sub": call.sub,
        "item": unit.item,
        "status": outcome.status,
        "output": outcome.output,
        "json": outcome.json,
        "error": outcome.error,
        "input_hash": unit.input_hash,
        "agent": agent.agent.name if agent else None,
        "provider": agent.target.provider if agent else None,
        "model": agent.target.model if agent else None,
        "tokens": outcome.tokens,
        "cost_usd": outcome.cost_usd,
        **({"service_tier": outcome.service_tier} if outcome.service_tier else {}),
        "duration_ms": outcome.duration_ms,
        "attempts": outcome.attempts,
        "transcript": transcript,
    }
    if outcome.command is not None:
        record["command"] = outcome.command
    return record


def _cost(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _retryable(error: RupuError) -> bool:
    """A step retry helps with flaky providers (and failures nobody classified), not with bad
    credentials, exhausted quota, a bad request or a limit: the classes the router surfaces."""
    return not isinstance(
        error,
        ConfigError | CredentialError | LimitReached | AuthRejected | BadRequest | QuotaExhausted,
    )
