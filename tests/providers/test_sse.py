"""The SSE decoder gives the same events however the bytes are chunked."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from rupu.providers.sse import SSEDecoder, SSEEvent

text = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\r\n\x00"),
    max_size=30,
)
event_names = st.one_of(st.none(), st.sampled_from(["message_start", "delta", "ping", "é-event"]))
line_ends = st.sampled_from(["\n", "\r\n", "\r"])


@st.composite
def streams(draw: st.DrawFn) -> tuple[bytes, list[SSEEvent]]:
    events = draw(
        st.lists(st.tuples(event_names, st.lists(text, min_size=1, max_size=3)), max_size=8)
    )
    end = draw(line_ends)
    out: list[str] = []
    expected: list[SSEEvent] = []
    for name, data_lines in events:
        if draw(st.booleans()):
            out.append(f": comment{end}")
        if name:
            out.append(f"event: {name}{end}")
        out.extend(f"data: {line}{end}" for line in data_lines)
        out.append(end)
        expected.append(SSEEvent(name, "\n".join(data_lines)))
    return "".join(out).encode(), expected


def decode(raw: bytes, cuts: list[int]) -> list[SSEEvent]:
    decoder = SSEDecoder()
    events: list[SSEEvent] = []
    previous = 0
    for cut in [*sorted({c % (len(raw) + 1) for c in cuts}), len(raw)]:
        events += decoder.feed(raw[previous:cut])
        previous = cut
    return events


@settings(max_examples=300, deadline=None)
@given(streams(), st.lists(st.integers(min_value=0, max_value=10_000), max_size=20))
def test_chunking_does_not_change_events(
    stream: tuple[bytes, list[SSEEvent]], cuts: list[int]
) -> None:
    raw, expected = stream
    assert decode(raw, cuts) == expected


@settings(max_examples=100, deadline=None)
@given(streams())
def test_byte_at_a_time_equals_whole(stream: tuple[bytes, list[SSEEvent]]) -> None:
    raw, expected = stream
    assert decode(raw, list(range(len(raw)))) == expected


def test_utf8_split_inside_a_character() -> None:
    raw = "data: héllo → 世界\n\n".encode()
    split = raw.index("世".encode()) + 1
    decoder = SSEDecoder()
    assert decoder.feed(raw[:split]) == []
    assert decoder.feed(raw[split:]) == [SSEEvent(None, "héllo → 世界")]


def test_crlf_split_between_cr_and_lf_is_one_line_end() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"\n\r\n") == [SSEEvent(None, "a")]


def test_multi_line_data_field_without_space_and_id() -> None:
    decoder = SSEDecoder()
    events = decoder.feed(b"id: 7\nevent:x\ndata:one\ndata: two\n\n")
    assert events == [SSEEvent("x", "one\ntwo", "7")]


def test_event_without_data_is_not_dispatched_and_name_resets() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"event: ping\n\ndata: x\n\n") == [SSEEvent(None, "x")]


def test_unterminated_event_at_end_is_dropped() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: partial") == []
    decoder.reset()
    assert decoder.feed(b"data: fresh\n\n") == [SSEEvent(None, "fresh")]
