"""What an agent run writes to its transcript (rupu.agents.loop decides when).

Each function writes the records of one happening, in the order a reader of the transcript expects:
a finished turn (`assistant_message`, `usage`, `rate_limits`, `turn_end`), a turn that failed after
it was billed (`usage` marked `failed`, `rate_limits`), the router's notes while streaming (`retry`,
`failover`), a trimmed context, a tier switch, the sub-runs' totals, the error that ended a run and
how it ended (`run_complete`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rupu.errors import LimitReached, ProviderError, RupuError
from rupu.messages import AssistantTurn, ServedBy, StreamEvent, ThinkingPart, Usage
from rupu.routing.target import RunTarget
from rupu.tools.dispatch import SubRunLedger
from rupu.transcripts import TranscriptWriter

if TYPE_CHECKING:
    from rupu.agents.tier_switch import TierMove


def record_turn(
    transcript: TranscriptWriter,
    index: int,
    turn: AssistantTurn,
    who: ServedBy,
    *,
    cost: float | None,
) -> None:
    """A finished turn: its message, what it used (served by `who`, costing `cost`), the quota
    headers and why it stopped."""
    thinking = [p.text for p in turn.message.parts if isinstance(p, ThinkingPart)]
    transcript.write(
        "assistant_message",
        content=turn.message.text(),
        thinking="\n".join(thinking) if thinking else None,
        tool_calls=[
            {"call_id": c.call_id, "tool": c.name, "input": c.arguments}
            for c in turn.message.tool_calls()
        ],
    )
    _write_usage(transcript, turn.usage, who, served_model=turn.served_model, cost=cost)
    _write_rate_limits(transcript, turn.rate_limits, who)
    transcript.write(
        "turn_end",
        turn_idx=index,
        stop_reason=turn.stop_reason,
        raw_reason=turn.raw_reason,
        request_id=turn.request_id,
    )


def record_failed_turn(
    transcript: TranscriptWriter,
    usage: Usage,
    rate_limits: dict[str, str | int | float],
    who: ServedBy,
    *,
    cost: float | None,
) -> None:
    """A turn that failed after the provider reported usage was still billed: its usage, cost and
    quota headers are recorded, though its partial answer is not."""
    if usage.reported:
        _write_usage(transcript, usage, who, served_model=None, cost=cost, failed=True)
    _write_rate_limits(transcript, rate_limits, who)


def record_stream_event(transcript: TranscriptWriter, index: int, event: StreamEvent) -> None:
    """The router's notes among a turn's stream events: a retry scheduled, a failover taken."""
    if event.kind == "retry_scheduled":
        transcript.write(
            "retry", attempt=event.attempt, delay=round(event.delay, 3), reason=event.reason
        )
    elif event.kind == "failover":
        transcript.write(
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


def record_trim(transcript: TranscriptWriter, index: int, dropped: int) -> None:
    transcript.write(
        "context_trimmed",
        turn_idx=index,
        dropped_messages=dropped,
        note="the provider reported a context overflow; the oldest tool exchange was dropped",
    )


def record_tier_switch(
    transcript: TranscriptWriter, index: int, move: TierMove, before: RunTarget
) -> None:
    """The run moves from `before` to the tier `move` names, for the turns after `index`."""
    transcript.write(
        "tier_switch",
        turn_idx=index,
        from_tier=move.from_tier,
        to_tier=move.to_tier,
        from_provider=before.provider,
        from_model=before.model,
        to_provider=move.target.provider,
        to_model=move.target.model,
        credential=move.credential,
        reason=move.reason,
    )


def record_subruns_total(
    transcript: TranscriptWriter, children: SubRunLedger, *, own_cost: float | None
) -> None:
    """The sub-runs' totals (each sub-run's own `usage` records are in its own transcript)."""
    transcript.write(
        "subagents_total",
        runs=len(children.runs),
        usage=children.usage.as_dict(),
        cost_usd=children.cost_usd,
        own_cost_usd=own_cost,
    )


def record_error(transcript: TranscriptWriter, exc: RupuError) -> RupuError:
    """The error that ended the run (returned, for the run's result)."""
    transcript.write("error", message=exc.one_line(), **_error_fields(exc))
    return exc


def record_complete(
    transcript: TranscriptWriter,
    run_id: str,
    status: str,
    usage: Usage,
    cost: float | None,
    duration_ms: int,
    error: RupuError | None,
) -> None:
    """`run_complete`: how the run ended, and its totals (the sub-runs' included)."""
    transcript.write(
        "run_complete",
        run_id=run_id,
        status=status,
        total_tokens=usage.total_tokens,
        usage=usage.as_dict(),
        cost_usd=cost,
        duration_ms=duration_ms,
        error=error.one_line() if error else None,
    )


def _write_usage(
    transcript: TranscriptWriter,
    usage: Usage,
    who: ServedBy,
    *,
    served_model: str | None,
    cost: float | None,
    failed: bool = False,
) -> None:
    """A `usage` record; `service_tier` when the provider said which tier served the call."""
    transcript.write(
        "usage",
        provider=who.provider,
        model=who.model,
        credential=who.credential,
        served_model=served_model,
        **usage.as_dict(),
        **({"service_tier": usage.service_tier} if usage.service_tier else {}),
        cost_usd=cost,
        **({"failed": True} if failed else {}),
    )


def _write_rate_limits(
    transcript: TranscriptWriter, snapshot: dict[str, str | int | float], who: ServedBy
) -> None:
    if snapshot:
        transcript.write("rate_limits", provider=who.provider, snapshot=snapshot)


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
