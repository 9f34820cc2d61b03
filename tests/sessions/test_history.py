"""Replaying a session: the conversation comes back from the transcripts in order, and what a
stopped run left unfinished is made fit for any provider (alternating turns, every call answered)."""

from __future__ import annotations

from pathlib import Path

from rupu.messages import Message, TextPart, ThinkingPart, ToolCallPart, ToolResultPart
from rupu.sessions.codec import encode_message
from rupu.sessions.history import (
    INTERRUPTED_CALL,
    NO_ANSWER,
    fit_for_replay,
    rebuild,
    totals,
)
from rupu.sessions.store import SessionRecord, SessionRun
from rupu.transcripts import TranscriptWriter

CALL = ToolCallPart("c1", "read_file", {"path": "a"})


def user(text: str) -> Message:
    return Message.user(text)


def assistant(*parts: TextPart | ThinkingPart | ToolCallPart) -> Message:
    return Message("assistant", list(parts))


def test_a_finished_conversation_is_unchanged() -> None:
    conversation = [
        user("hi"),
        assistant(ThinkingPart("t", signature="s", provider="anthropic"), CALL),
        Message("user", [ToolResultPart("c1", "read_file", "text")]),
        assistant(TextPart("done")),
    ]
    assert fit_for_replay(conversation) == conversation


def test_a_call_stopped_before_it_ran_gets_an_error_result_and_a_note() -> None:
    fitted = fit_for_replay([user("hi"), assistant(CALL), user("again")])
    assert fitted == [
        user("hi"),
        assistant(CALL),
        Message("user", [ToolResultPart("c1", "read_file", INTERRUPTED_CALL, is_error=True)]),
        assistant(TextPart(NO_ANSWER)),
        user("again"),
        assistant(TextPart(NO_ANSWER)),  # the history ends on the assistant's side
    ]


def test_one_of_two_calls_answered_gets_the_other_as_an_error() -> None:
    second = ToolCallPart("c2", "grep", {})
    fitted = fit_for_replay(
        [
            user("hi"),
            assistant(CALL, second),
            Message("user", [ToolResultPart("c1", "read_file", "x")]),
        ]
    )
    assert fitted[2].parts == [
        ToolResultPart("c1", "read_file", "x"),
        ToolResultPart("c2", "grep", INTERRUPTED_CALL, is_error=True),
    ]
    assert fitted[-1] == assistant(TextPart(NO_ANSWER))


def test_an_unanswered_prompt_and_empty_messages() -> None:
    assert fit_for_replay([user("a"), Message("assistant", []), user("b")]) == [
        user("a"),
        assistant(TextPart(NO_ANSWER)),
        user("b"),
        assistant(TextPart(NO_ANSWER)),
    ]


def record(runs: list[str]) -> SessionRecord:
    return SessionRecord(
        id="ses_X",
        agent="a",
        agent_path="/a.md",
        directory="/",
        created=0,
        updated=0,
        runs=[SessionRun(run_id=r, provider="p", model="m", started=0) for r in runs],
    )


def write_run(directory: Path, run_id: str, messages: list[Message], cost: float | None) -> None:
    writer = TranscriptWriter(directory / f"{run_id}.jsonl")
    writer.write("run_start", run_id=run_id)
    for message in messages:
        writer.write("message", **encode_message(message))
    usage = {"input_tokens": 10, "output_tokens": 2, "cache_read_tokens": 5}
    writer.write("run_complete", total_tokens=17, usage=usage, cost_usd=cost)
    writer.close()


def test_rebuild_reads_the_runs_in_order_and_counts_what_is_missing(tmp_path: Path) -> None:
    write_run(tmp_path, "run_1", [user("one"), assistant(TextPart("1"))], 0.5)
    write_run(tmp_path, "run_3", [user("three"), assistant(TextPart("3"))], None)
    with (tmp_path / "run_3.jsonl").open("ab") as handle:
        handle.write(b'{"type": "message", "ts": 1, "data": {"role": "robot", "parts": []}}\n')
    history = rebuild(record(["run_1", "run_2", "run_3"]), tmp_path)
    assert [m.text() for m in history.messages] == ["one", "1", "three", "3"]
    assert history.missing_runs == ["run_2"] and history.damaged == 1
    spent = totals(record(["run_1", "run_2", "run_3"]), tmp_path)
    assert (spent.runs, spent.input_tokens, spent.output_tokens, spent.total_tokens) == (
        2,
        30,
        4,
        34,
    )
    assert spent.cost_usd == 0.5 and spent.unpriced_runs == 1


def test_foreign_thinking_is_counted_by_provider() -> None:
    from rupu.sessions.history import History

    history = History(
        [
            assistant(
                ThinkingPart("a", provider="anthropic"), ThinkingPart("b", provider="gemini")
            ),
            assistant(ThinkingPart("c", provider="anthropic")),
        ]
    )
    assert dict(history.foreign_thinking("gemini")) == {"anthropic": 2}
    assert sum(history.foreign_thinking("nobody-else").values()) == 3
