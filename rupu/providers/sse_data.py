"""Server-sent events reduced to their `data` payloads, as bytes, for streams whose events are all
data (Gemini's: one `data: {json}` line per event, CRLF framed, no event names, no ids).

It is `SSEDecoder` with the work such streams do not need left out: no `SSEEvent` objects, no UTF-8
decoding (orjson parses bytes), and one `split` per network read instead of a loop over lines. Any
chunking of the same bytes gives the same payloads. A stream that uses bare CR line endings (legal,
but no Gemini endpoint sends them) is handed to `SSEDecoder`, so the result is the same either way.
"""

from __future__ import annotations

from rupu.providers.sse import SSEDecoder


class SSEDataSplitter:
    __slots__ = ("_buffer", "_fallback")

    def __init__(self) -> None:
        self._buffer = b""
        self._fallback: SSEDecoder | None = None

    def feed(self, chunk: bytes) -> list[bytes]:
        """The data payloads of every event completed by `chunk`."""
        if self._fallback is not None:
            return [event.data.encode() for event in self._fallback.feed(chunk)]
        data = self._buffer + chunk if self._buffer else chunk
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n")
            # A CR not followed by LF ends a line on its own; only a CR at the very end may still
            # be the first half of a CRLF split across reads.
            if b"\r" in data[:-1]:
                return self._switch_to_fallback(data)
        blocks = data.split(b"\n\n")
        self._buffer = blocks.pop()
        payloads: list[bytes] = []
        for block in blocks:
            if block[:6] == b"data: " and b"\n" not in block:
                payloads.append(block[6:])
            elif block:
                payload = _data_of(block)
                if payload is not None:
                    payloads.append(payload)
        return payloads

    def _switch_to_fallback(self, pending: bytes) -> list[bytes]:
        self._fallback = SSEDecoder()
        self._buffer = b""
        return [event.data.encode() for event in self._fallback.feed(pending)]


def _data_of(block: bytes) -> bytes | None:
    """The joined `data` lines of one event block; None when it has none (comments only, say)."""
    lines: list[bytes] = []
    for line in block.split(b"\n"):
        if not line or line[0] == 58:  # ":" comment
            continue
        name, sep, value = line.partition(b":")
        if name != b"data":
            continue
        if sep and value[:1] == b" ":
            value = value[1:]
        lines.append(value)
    return b"\n".join(lines) if lines else None
