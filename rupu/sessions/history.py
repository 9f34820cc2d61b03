"""A session's conversation, rebuilt from its runs' transcripts (the `message` records, in order),
and made fit to replay: a tool call that never got its result (the run was stopped) gets an error
result, and a conversation that ends on the user's side (no answer came) gets a short assistant note,
so every provider sees strictly alternating turns. What a provider cannot take from another provider's
turns (signed or encrypted thinking) is counted by `foreign_thinking`; the dialects leave it out."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from rupu.messages import Message, Part, TextPart, ThinkingPart, ToolResultPart
from rupu.sessions.codec import MessageFormatError, decode_message
from rupu.sessions.store import SessionRecord
from rupu.transcripts import read_events

INTERRUPTED_CALL = "error: the run was stopped before this tool call ran"
NO_ANSWER = "(no answer: the run was stopped before the model answered)"


@dataclass(slots=True)
class SessionTotals:
    """Tokens and cost of a session's runs, as their transcripts recorded them."""

    runs: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    cost_usd: float | None = 0.0
    unpriced_runs: int = 0


@dataclass(slots=True)
class History:
    messages: list[Message] = field(default_factory=list)
    missing_runs: list[str] = field(default_factory=list)  # transcripts deleted or never written
    damaged: int = 0  # `message` records that could not be read

    def foreign_thinking(self, provider: str) -> Counter[str]:
        """Thinking blocks made by another provider than `provider`, by provider: the dialects
        leave them out (a provider can verify only its own signed reasoning)."""
        return Counter(
            part.provider or "unknown"
            for message in self.messages
            for part in message.parts
            if isinstance(part, ThinkingPart) and part.provider != provider
        )


def transcript_path(transcripts: Path, run_id: str) -> Path:
    return transcripts / f"{run_id}.jsonl"


def rebuild(record: SessionRecord, transcripts: Path) -> History:
    history = History()
    for run in record.runs:
        path = transcript_path(transcripts, run.run_id)
        if not path.is_file():
            history.missing_runs.append(run.run_id)
            continue
        for event in read_events(path):
            if event["type"] != "message":
                continue
            try:
                history.messages.append(decode_message(event.get("data")))
            except MessageFormatError:
                history.damaged += 1
    history.messages = fit_for_replay(history.messages)
    return history


def fit_for_replay(messages: list[Message]) -> list[Message]:
    """Alternating user/assistant messages in which every tool call has its result."""
    fitted: list[Message] = []
    for original in messages:
        message = original
        if not message.parts:
            continue
        if fitted and fitted[-1].role == "assistant" and fitted[-1].tool_calls():
            rest = _answer_calls(fitted, message)
            if not rest:
                continue
            message = Message(message.role, rest)
        if fitted and fitted[-1].role == message.role:
            if message.role == "user":
                fitted.append(Message("assistant", [TextPart(NO_ANSWER)]))
            else:
                fitted[-1] = Message("assistant", [*fitted[-1].parts, *message.parts])
                continue
        fitted.append(message)
    if fitted and fitted[-1].role == "assistant" and fitted[-1].tool_calls():
        _answer_calls(fitted, None)
    if fitted and fitted[-1].role == "user":
        fitted.append(Message("assistant", [TextPart(NO_ANSWER)]))
    return fitted


def _answer_calls(fitted: list[Message], following: Message | None) -> list[Part]:
    """Appends the user message answering the last assistant message's tool calls: their results
    in `following` (when it is the user's), and an error result for each call left unanswered.
    Returns the rest of `following` (a new prompt after a stopped run), if any."""
    calls = fitted[-1].tool_calls()
    ids = {c.call_id for c in calls}
    given = following.parts if following is not None and following.role == "user" else []
    results = [p for p in given if isinstance(p, ToolResultPart) and p.call_id in ids]
    answered = {p.call_id for p in results}
    missing = [
        ToolResultPart(c.call_id, c.name, INTERRUPTED_CALL, is_error=True)
        for c in calls
        if c.call_id not in answered
    ]
    fitted.append(Message("user", [*results, *missing]))
    if following is None:
        return []
    if following.role == "assistant":
        return list(following.parts)
    return [p for p in given if not (isinstance(p, ToolResultPart) and p.call_id in ids)]


def totals(record: SessionRecord, transcripts: Path) -> SessionTotals:
    result = SessionTotals()
    for run in record.runs:
        path = transcript_path(transcripts, run.run_id)
        if not path.is_file():
            continue
        for event in read_events(path):
            if event["type"] != "run_complete":
                continue
            data = event.get("data") or {}
            usage = data.get("usage") or {}
            result.runs += 1
            result.input_tokens += int(usage.get("input_tokens", 0)) + int(
                usage.get("cache_read_tokens", 0)
            )
            result.output_tokens += int(usage.get("output_tokens", 0))
            result.total_tokens += int(data.get("total_tokens") or 0)
            cost = data.get("cost_usd")
            if cost is None:
                result.unpriced_runs += 1
            elif result.cost_usd is not None:
                result.cost_usd = round(result.cost_usd + float(cost), 12)
    if result.runs and result.unpriced_runs == result.runs:
        result.cost_usd = None
    return result
