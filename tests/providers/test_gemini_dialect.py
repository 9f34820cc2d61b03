"""The generateContent dialect without sockets: request encoding, the stream decoder, usage
normalisation, Google error details, and the data-only SSE splitter."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rupu.messages import (
    Message,
    ModelRequest,
    ResponseFinished,
    TextDelta,
    TextPart,
    ThinkingPart,
    ToolCallFinished,
    ToolCallPart,
    ToolCallStarted,
    ToolResultPart,
    ToolSpec,
)
from rupu.providers.gemini_dialect import (
    SKIP_SIGNATURE,
    GeminiStreamDecoder,
    decode_usage,
    encode_contents,
    encode_request,
    thinking_config,
)
from rupu.providers.gemini_errors import (
    delay_from_message,
    google_error_from_response,
    parse_duration,
)
from rupu.providers.sse import SSEDecoder
from rupu.providers.sse_data import SSEDataSplitter
from tests.servers.gemini import validate_generate_content
from tests.servers.gemini_streams import call_chunks, google_error, rate_limited, signature


@pytest.mark.parametrize(
    ("model", "effort", "expected"),
    [
        ("gemini-2.5-pro", None, {"includeThoughts": True}),
        ("gemini-2.5-pro", "auto", {"includeThoughts": True, "thinkingBudget": -1}),
        ("gemini-2.5-pro", "minimal", {"includeThoughts": True, "thinkingBudget": 128}),
        ("gemini-2.5-flash", "minimal", {"includeThoughts": False, "thinkingBudget": 0}),
        ("gemini-2.5-flash", "low", {"includeThoughts": True, "thinkingBudget": 1024}),
        ("gemini-2.5-flash", "medium", {"includeThoughts": True, "thinkingBudget": 8192}),
        ("gemini-2.5-pro", "high", {"includeThoughts": True, "thinkingBudget": 24576}),
        ("gemini-2.5-pro", "max", {"includeThoughts": True, "thinkingBudget": 32768}),
        ("gemini-2.5-flash-lite", "max", {"includeThoughts": True, "thinkingBudget": 24576}),
        ("gemini-3-pro-preview", None, {"includeThoughts": True}),
        ("gemini-3-pro-preview", "minimal", {"includeThoughts": True, "thinkingLevel": "LOW"}),
        ("gemini-3-pro-preview", "medium", {"includeThoughts": True, "thinkingLevel": "HIGH"}),
        (
            "gemini-3-flash-preview",
            "minimal",
            {"includeThoughts": True, "thinkingLevel": "MINIMAL"},
        ),
        ("gemini-3-flash-preview", "medium", {"includeThoughts": True, "thinkingLevel": "MEDIUM"}),
        ("models/gemini-3-pro-preview", "max", {"includeThoughts": True, "thinkingLevel": "HIGH"}),
        ("gemini-2.0-flash", "high", None),
    ],
)
def test_effort_maps_to_thinking_config(model: str, effort: Any, expected: Any) -> None:
    assert thinking_config(model, effort) == expected


def test_request_body_validates_against_the_sdk_types() -> None:
    request = ModelRequest(
        model="gemini-3-flash-preview",
        system="Be brief.",
        messages=[Message.user("list files")],
        tools=[
            ToolSpec(
                "list_dir",
                "List a directory",
                {
                    "$schema": "http://json-schema.org/draft-07/schema#",
                    "type": "object",
                    "properties": {"path": {"type": "string", "$comment": "relative"}},
                    "required": ["path"],
                    "additionalProperties": False,
                },
            ),
            ToolSpec("now", "The time", {}),
        ],
        max_tokens=2048,
        effort="low",
        output_format="json",
        output_schema={
            "type": "object",
            "properties": {"files": {"type": "array", "items": {"type": "string"}}},
        },
    )
    body = encode_request(request, provider="gemini")
    validate_generate_content(body)
    declarations = body["tools"][0]["functionDeclarations"]
    assert declarations[0]["parametersJsonSchema"] == {
        "type": "object",
        "properties": {"path": {"type": "string"}},
        "required": ["path"],
        "additionalProperties": False,
    }
    assert declarations[1]["parametersJsonSchema"] == {"type": "object", "properties": {}}
    assert body["generationConfig"] == {
        "maxOutputTokens": 2048,
        "thinkingConfig": {"includeThoughts": True, "thinkingLevel": "LOW"},
        "responseMimeType": "application/json",
        "responseJsonSchema": request.output_schema,
    }


def test_history_alternates_and_replays_signatures_and_call_ids() -> None:
    sig_a, sig_b, sig_c = signature("a"), signature("b"), signature("c")
    messages = [
        Message.user("first"),
        Message.user("second"),  # adjacent user messages merge
        Message(
            "assistant",
            [
                ThinkingPart("pondering", signature=sig_a, provider="gemini"),
                ThinkingPart("someone else's", signature="x", provider="anthropic"),
                TextPart("Calling."),
                ToolCallPart("call_x_0", "read", {"path": "a"}, signature=sig_b),
                ToolCallPart("srv-2", "read", {"path": "b"}, item_id="srv-2"),
            ],
        ),
        Message(
            "user",
            [
                ToolResultPart("call_x_0", "read", "AAA"),
                ToolResultPart("srv-2", "read", "no such file", is_error=True),
            ],
        ),
        Message(
            "assistant", [TextPart("Done."), ThinkingPart("", signature=sig_c, provider="gemini")]
        ),
        Message("assistant", []),  # an empty turn is dropped, not sent as an empty content
        Message.user("thanks"),
    ]
    contents = encode_contents(messages, provider="gemini")
    assert contents == [
        {"role": "user", "parts": [{"text": "first"}, {"text": "second"}]},
        {
            "role": "model",
            "parts": [
                {"text": "pondering", "thought": True, "thoughtSignature": sig_a},
                {"text": "Calling."},
                {
                    "functionCall": {"name": "read", "args": {"path": "a"}},
                    "thoughtSignature": sig_b,
                },
                {"functionCall": {"name": "read", "args": {"path": "b"}, "id": "srv-2"}},
            ],
        },
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "read", "response": {"output": "AAA"}}},
                {
                    "functionResponse": {
                        "name": "read",
                        "response": {"error": "no such file"},
                        "id": "srv-2",
                    }
                },
            ],
        },
        {"role": "model", "parts": [{"text": "Done.", "thoughtSignature": sig_c}]},
        {"role": "user", "parts": [{"text": "thanks"}]},
    ]
    validate_generate_content({"contents": contents})


def test_unsigned_gemini_3_calls_get_the_documented_stand_in() -> None:
    messages = [
        Message.user("go"),
        Message("assistant", [ToolCallPart("c1", "a", {}), ToolCallPart("c2", "b", {})]),
        Message("user", [ToolResultPart("c1", "a", "1"), ToolResultPart("c2", "b", "2")]),
    ]
    parts = encode_contents(messages, provider="gemini", signature_fallback=True)[1]["parts"]
    assert parts[0]["thoughtSignature"] == SKIP_SIGNATURE
    assert "thoughtSignature" not in parts[1]


def test_decoder_synthesizes_stable_unique_call_ids() -> None:
    decoder = GeminiStreamDecoder()
    events = [
        e
        for c in call_chunks([("read", {"p": 1}), ("read", {"p": 2})], sig=signature("s"))
        for e in decoder.feed(c)
    ]
    started = [e for e in events if isinstance(e, ToolCallStarted)]
    finished = [e for e in events if isinstance(e, ToolCallFinished)]
    assert [s.index for s in started] == [0, 1]
    assert started[0].call_id != started[1].call_id
    assert all(s.item_id is None for s in started)
    assert finished[0].arguments == {"p": 1} and finished[0].signature == signature("s")
    other = GeminiStreamDecoder()
    other_ids = [
        e.call_id
        for c in call_chunks([("read", {})])
        for e in other.feed(c)
        if isinstance(e, ToolCallStarted)
    ]
    assert other_ids[0] not in {s.call_id for s in started}
    (_usage_event, done) = decoder.finish()
    assert isinstance(done, ResponseFinished)
    assert done.stop_reason == "tool_use" and done.raw_reason == "STOP"


def test_decoder_keeps_server_ids() -> None:
    decoder = GeminiStreamDecoder()
    events = [e for c in call_chunks([("f", {})], ids=["fc-9"]) for e in decoder.feed(c)]
    started = next(e for e in events if isinstance(e, ToolCallStarted))
    assert (started.call_id, started.item_id) == ("fc-9", "fc-9")


def test_usage_is_normalised() -> None:
    usage = decode_usage(
        {
            "promptTokenCount": 1000,
            "cachedContentTokenCount": 600,
            "candidatesTokenCount": 50,
            "thoughtsTokenCount": 200,
            "toolUsePromptTokenCount": 5,
            "totalTokenCount": 1255,
        }
    )
    assert (
        usage.input_tokens,
        usage.cache_read_tokens,
        usage.output_tokens,
        usage.reasoning_tokens,
    ) == (405, 600, 250, 200)
    assert usage.total_tokens == 1255
    assert usage.reported


def test_decoder_ignores_empty_text_and_unknown_parts() -> None:
    decoder = GeminiStreamDecoder()
    events = decoder.feed(
        {
            "candidates": [
                {
                    "content": {
                        "parts": [
                            {"text": ""},
                            {"inlineData": {"mimeType": "image/png", "data": ""}},
                            {"text": "x"},
                        ]
                    }
                }
            ]
        }
    )
    assert [e for e in events if isinstance(e, TextDelta)] == [TextDelta("x")]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("34.07s", 34.07), ("0s", 0.0), ("1.5", None), ({"seconds": 3, "nanos": 500000000}, 3.5)],
)
def test_parse_duration(text: Any, seconds: float | None) -> None:
    assert parse_duration(text) == seconds


def test_delay_from_message_text() -> None:
    assert delay_from_message("Please retry in 12.5s.") == 12.5
    assert delay_from_message("Please retry in 800ms") == 0.8
    assert delay_from_message("Your quota will reset after 1h2m3s.") == 3723
    assert delay_from_message("nothing here") is None


def test_google_429_with_retry_info_is_a_retryable_rate_limit() -> None:
    reply = rate_limited("34.07s")
    assert reply.body is not None
    error = google_error_from_response("gemini", 429, {}, reply.body)
    assert (error.retryable, error.retry_after, error.error_type) == (
        True,
        34.07,
        "RESOURCE_EXHAUSTED",
    )


def test_retry_after_header_beats_the_body() -> None:
    reply = rate_limited("34.07s")
    assert reply.body is not None
    error = google_error_from_response("gemini", 429, {"retry-after": "2"}, reply.body)
    assert error.retry_after == 2.0


def test_google_403_permission_denied_is_not_retried() -> None:
    error = google_error_from_response(
        "gemini", 403, {}, google_error(403, "Permission denied", "PERMISSION_DENIED")
    )
    assert not error.retryable
    assert error.one_line().startswith("gemini (HTTP 403, PERMISSION_DENIED): Permission denied")


EVENTS = st.lists(
    st.tuples(
        st.text(
            st.characters(blacklist_characters="\r\n", blacklist_categories=["Cs"]), max_size=20
        ),
        st.booleans(),
    ),
    max_size=8,
)


@given(events=EVENTS, crlf=st.booleans(), cuts=st.lists(st.integers(0, 400), max_size=10))
def test_splitter_matches_the_generic_decoder_under_any_chunking(
    events: list[tuple[str, bool]], crlf: bool, cuts: list[int]
) -> None:
    newline = "\r\n" if crlf else "\n"
    text = ""
    for data, with_comment in events:
        if with_comment:
            text += f": keep-alive{newline}"
        text += f"data: {data}{newline}data:{data}{newline}{newline}"
    raw = text.encode()
    points = sorted({min(c, len(raw)) for c in cuts})
    pieces = [raw[a:b] for a, b in zip([0, *points], [*points, len(raw)], strict=True)]
    splitter, generic = SSEDataSplitter(), SSEDecoder()
    fast = [payload for piece in pieces for payload in splitter.feed(piece)]
    slow = [event.data.encode() for piece in pieces for event in generic.feed(piece)]
    assert fast == slow
    # `data:x` and `data: x` both carry x: one space after the colon is framing
    assert fast == [f"{d}\n{d.removeprefix(' ')}".encode() for d, _ in events]


def test_splitter_falls_back_for_bare_carriage_returns() -> None:
    splitter = SSEDataSplitter()
    assert splitter.feed(b"data: a\r\rdata: b\n\n") == [b"a", b"b"]
    assert splitter.feed(b"data: c\r\r") == [b"c"]
