"""Messages survive the transcript whole: every part and every replay field comes back equal."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rupu.messages import Message, Part, TextPart, ThinkingPart, ToolCallPart, ToolResultPart
from rupu.sessions.codec import MessageFormatError, decode_message, encode_message

texts = st.text(max_size=40)
maybe = st.none() | texts
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-1000, 1000) | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)
parts: st.SearchStrategy[Part] = st.one_of(
    st.builds(TextPart, texts),
    st.builds(ThinkingPart, texts, signature=maybe, redacted=maybe, provider=maybe, item_id=maybe),
    st.builds(
        ToolCallPart,
        texts,
        texts,
        st.dictionaries(texts, json_values, max_size=3),
        item_id=maybe,
        signature=maybe,
    ),
    st.builds(ToolResultPart, texts, texts, texts, is_error=st.booleans()),
)
messages = st.builds(Message, st.sampled_from(["user", "assistant"]), st.lists(parts, max_size=5))


@given(messages)
def test_a_message_round_trips_through_json(message: Message) -> None:
    data = orjson.loads(orjson.dumps(encode_message(message)))
    assert decode_message(data) == message


def test_only_the_fields_that_are_set_are_written() -> None:
    message = Message("assistant", [ThinkingPart("why", signature="s", provider="anthropic")])
    assert encode_message(message) == {
        "role": "assistant",
        "parts": [{"kind": "thinking", "text": "why", "signature": "s", "provider": "anthropic"}],
    }


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ([], "a message is a JSON object"),
        ({"role": "system", "parts": []}, "a role (user|assistant)"),
        ({"role": "user", "parts": [{"kind": "image"}]}, "unknown message part kind 'image'"),
        ({"role": "user", "parts": [{"kind": "text"}]}, "lacks 'text'"),
        ({"role": "user", "parts": [{"kind": "text", "text": 3}]}, "'text' of a message part"),
        (
            {"role": "assistant", "parts": [{"kind": "tool_call", "call_id": "c", "name": "n"}]},
            "arguments are a JSON object",
        ),
    ],
)
def test_what_was_not_written_by_the_codec_is_refused(data: object, problem: str) -> None:
    with pytest.raises(MessageFormatError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        decode_message(data)
