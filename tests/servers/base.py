"""A real HTTP server on 127.0.0.1 in a background thread, for wire tests.

Subclasses add routes. Each test scripts what the server answers (`script`) and reads back what it
received (`requests`). Request validation failures are answered with HTTP 400 *and* recorded in
`violations`. Every server entered during a test is listed in `LoopbackServer.started`, and an autouse
fixture in tests/conftest.py fails the test at teardown with any violation the test did not claim with
`take_violations()`, so a sloppy request can never pass unnoticed.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

import orjson
from aiohttp import web


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    raw: bytes


@dataclass
class Reply:
    """One scripted answer. `chunks` are written as they are (SSE bytes); `status` != 200 sends `body`
    as the error. `delay` waits before answering, `chunk_delay` between chunks; `drop_after` closes the
    connection after that many chunks (a mid-stream disconnect)."""

    status: int = 200
    chunks: list[bytes] = field(default_factory=list)
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "text/event-stream"
    delay: float = 0.0
    chunk_delay: float = 0.0
    drop_after: int | None = None


class ValidationFailed(Exception):
    pass


class LoopbackServer:
    """Start with `with Server() as server:`; `server.base_url` is `http://127.0.0.1:<port>`."""

    # Servers entered since the conftest fixture last emptied it (at the start of each test).
    started: ClassVar[list[LoopbackServer]] = []

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.violations: list[str] = []
        self.script: deque[Reply | Callable[[RecordedRequest], Reply]] = deque()
        self.default_reply: Callable[[RecordedRequest], Reply] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self.port = 0

    # -- subclass API -----------------------------------------------------------------------------
    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    def validate(self, request: RecordedRequest) -> None:
        """Raise `ValidationFailed` with a reason when the request is not what the real API accepts."""

    # -- lifecycle ----------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Self:
        LoopbackServer.started.append(self)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("loopback server did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None:
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        app = web.Application(client_max_size=64 * 1024 * 1024)
        self.routes(app)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0, backlog=2048)
        loop.run_until_complete(site.start())
        self.port = self._runner.addresses[0][1]
        self._ready.set()
        loop.run_forever()
        loop.close()

    async def _shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def assert_clean(self) -> None:
        """Optional: the conftest fixture checks every server at teardown. Useful mid-test, to fail
        on a rejected request before the assertions that depend on the reply."""
        assert not self.violations, f"the server rejected requests: {self.violations}"

    def take_violations(self) -> list[str]:
        """The violations so far, for a test that provokes them on purpose: taken ones no longer fail
        the test at teardown."""
        taken = self.violations[:]
        del self.violations[: len(taken)]  # not a new list: the server thread may be appending
        return taken

    # -- request handling ---------------------------------------------------------------------------
    async def record(self, request: web.Request) -> RecordedRequest:
        raw = await request.read()
        body: Any = None
        if raw:
            try:
                body = orjson.loads(raw)
            except orjson.JSONDecodeError:
                body = None
        recorded = RecordedRequest(
            request.method,
            request.path,
            dict(request.query),
            {k.lower(): v for k, v in request.headers.items()},
            body,
            raw,
        )
        self.requests.append(recorded)
        return recorded

    def next_reply(self, recorded: RecordedRequest) -> Reply:
        if self.script:
            item = self.script.popleft()
            return item(recorded) if callable(item) else item
        if self.default_reply is not None:
            return self.default_reply(recorded)
        return Reply(
            status=500,
            body=b'{"error":{"message":"no scripted reply","type":"test_error"}}',
            content_type="application/json",
        )

    async def handle(self, request: web.Request) -> web.StreamResponse:
        recorded = await self.record(request)
        try:
            self.validate(recorded)
        except ValidationFailed as exc:
            self.violations.append(str(exc))
            return web.Response(
                status=400,
                body=orjson.dumps(
                    {"error": {"message": str(exc), "type": "invalid_request_error"}}
                ),
                content_type="application/json",
            )
        return await self.send(request, self.next_reply(recorded))

    async def send(self, request: web.Request, reply: Reply) -> web.StreamResponse:
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.status != 200 or reply.body is not None:
            return web.Response(
                status=reply.status,
                body=reply.body or b"",
                headers=reply.headers,
                content_type=reply.content_type
                if "content-type" not in {k.lower() for k in reply.headers}
                else None,
            )
        response = web.StreamResponse(
            status=200, headers={"content-type": reply.content_type, **reply.headers}
        )
        await response.prepare(request)
        for index, chunk in enumerate(reply.chunks):
            if reply.drop_after is not None and index >= reply.drop_after:
                transport = request.transport
                if transport is not None:
                    transport.abort()
                return response
            await response.write(chunk)
            if reply.chunk_delay:
                await asyncio.sleep(reply.chunk_delay)
        await response.write_eof()
        return response


def sse(data: Any, event: str | None = None) -> bytes:
    """One server-sent event; `data` is JSON-encoded unless it is already a string."""
    payload = data if isinstance(data, str) else orjson.dumps(data).decode()
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {payload}\n\n".encode()


async def collect(stream: AsyncIterator[Any]) -> list[Any]:
    return [item async for item in stream]
