"""A sans-IO decoder for `text/event-stream` (the WHATWG server-sent events format).

Feed it bytes as they arrive, in any chunking; it returns the complete events. Lines may end in
LF, CRLF or CR, a CRLF may be split across chunks, and a UTF-8 character may be split across chunks
(lines stay bytes until they are complete). Comments (`:`) and unknown fields are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass

_LF = 10
_CR = 13


@dataclass(frozen=True, slots=True)
class SSEEvent:
    event: str | None
    data: str
    id: str | None = None


class SSEDecoder:
    __slots__ = ("_buffer", "_data", "_event", "_id", "_skip_lf")

    def __init__(self) -> None:
        self._buffer = b""
        self._data: list[bytes] = []
        self._event: bytes | None = None
        self._id: bytes | None = None
        self._skip_lf = False

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        if self._skip_lf and chunk:
            self._skip_lf = False
            if chunk[0] == _LF:
                chunk = chunk[1:]
        data = self._buffer + chunk if self._buffer else chunk
        end = max(data.rfind(b"\n"), data.rfind(b"\r"))
        if end < 0:
            self._buffer = data
            return []
        self._buffer = data[end + 1 :]
        if data[end] == _CR and end == len(data) - 1:
            self._skip_lf = True
        return self._lines(data[: end + 1].splitlines())

    def reset(self) -> None:
        """End of stream: an event not closed by a blank line is dropped, as the spec says."""
        self._buffer = b""
        self._data = []
        self._event = None
        self._skip_lf = False

    def _lines(self, lines: list[bytes]) -> list[SSEEvent]:
        events: list[SSEEvent] = []
        data = self._data
        for line in lines:
            if not line:
                if data:
                    events.append(
                        SSEEvent(
                            self._event.decode("utf-8", "replace") if self._event else None,
                            b"\n".join(data).decode("utf-8", "replace"),
                            self._id.decode("utf-8", "replace") if self._id else None,
                        )
                    )
                    data = self._data = []
                self._event = None
                continue
            if line[0] == 58:  # ":" comment
                continue
            name, sep, value = line.partition(b":")
            if sep and value[:1] == b" ":
                value = value[1:]
            if name == b"data":
                data.append(value)
            elif name == b"event":
                self._event = value
            elif name == b"id" and b"\0" not in value:
                self._id = value
        return events
