"""A loopback server for benchmarks, run in its own process so it never competes with the client
for the GIL. It answers every POST with one pre-built body.

    python bench/sse_server.py BODY_FILE CONTENT_TYPE  -> prints the port, serves until killed
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


async def serve(body: bytes, content_type: str, latency: float) -> None:
    from aiohttp import web

    async def handle(request: web.Request) -> web.StreamResponse:
        await request.read()
        if latency:
            await asyncio.sleep(latency)
        response = web.StreamResponse(headers={"content-type": content_type})
        await response.prepare(request)
        view = memoryview(body)
        for start in range(0, len(body), 65536):
            await response.write(bytes(view[start : start + 65536]))
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_route("POST", "/{tail:.*}", handle)
    app.router.add_route("GET", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=4096)
    await site.start()
    port = runner.addresses[0][1]
    print(port, flush=True)
    await asyncio.Event().wait()


@contextmanager
def running(
    body: bytes, content_type: str = "text/event-stream", latency: float = 0.0
) -> Iterator[str]:
    """Starts the server in a child process; yields its base URL."""
    import tempfile

    with tempfile.NamedTemporaryFile(delete=False) as handle:
        handle.write(body)
    proc = subprocess.Popen(
        [sys.executable, __file__, handle.name, content_type, str(latency)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.kill()
        proc.wait()
        Path(handle.name).unlink(missing_ok=True)


if __name__ == "__main__":
    asyncio.run(serve(Path(sys.argv[1]).read_bytes(), sys.argv[2], float(sys.argv[3])))
