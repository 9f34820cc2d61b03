"""Decode throughput of the Gemini dialect: rupu's provider layer next to google-genai's async client.

A loopback server (its own process, so it does not share the GIL with the clients) answers every
`streamGenerateContent` call with the same SSE body of N text chunks, each a whole
`GenerateContentResponse` shaped like AI Studio's (usage metadata on every chunk, CRLF framing).
Both clients stream it end to end; deltas/s counts text deltas over wall time of the fastest round,
after one warm-up round per client (imports, connection set-up). Prints one JSON line.
Run: `python bench/decode_gemini.py [--chunks 20000] [--rounds 3]`.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import subprocess
import sys
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

MODEL = "gemini-2.5-flash"
API_KEY = "bench-key"


def build_body(chunks: int) -> bytes:
    out = bytearray()
    for index in range(chunks):
        candidate: dict[str, object] = {
            "content": {"parts": [{"text": f"tok{index % 97} "}], "role": "model"},
            "index": 0,
        }
        if index == chunks - 1:
            candidate["finishReason"] = "STOP"
        payload = {
            "candidates": [candidate],
            "usageMetadata": {
                "promptTokenCount": 11,
                "candidatesTokenCount": index + 1,
                "totalTokenCount": index + 12,
            },
            "modelVersion": MODEL,
            "responseId": "bench-response",
        }
        out += b"data: " + orjson.dumps(payload) + b"\r\n\r\n"
    return bytes(out)


def serve(chunks: int) -> None:
    from aiohttp import web

    body = build_body(chunks)
    step = 64 * 1024

    async def answer(request: web.Request) -> web.StreamResponse:
        await request.read()
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        for start in range(0, len(body), step):
            await response.write(body[start : start + step])
        await response.write_eof()
        return response

    async def run_server() -> None:
        app = web.Application()
        app.router.add_post("/{tail:.*}", answer)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        print(port, flush=True)
        await asyncio.Event().wait()

    asyncio.run(run_server())


class RupuClient:
    def __init__(self, base_url: str) -> None:
        from rupu.auth.credentials import Credential, FixedCredential, Secret
        from rupu.config import ProviderConfig
        from rupu.messages import Message, ModelRequest
        from rupu.providers.base import ProviderSetup
        from rupu.providers.gemini import create

        credential = FixedCredential(Credential("gemini", "api-key", Secret(API_KEY), "bench"))
        config = ProviderConfig(base_url=base_url)
        self.provider = create(ProviderSetup("gemini", "gemini", config, credential))
        self.request = ModelRequest(MODEL, "", [Message.user("go")])

    async def run(self) -> int:
        deltas = 0
        async for event in self.provider.stream(self.request):
            if event.kind == "text_delta":
                deltas += 1
        return deltas

    async def aclose(self) -> None:
        await self.provider.aclose()


class SdkClient:
    def __init__(self, base_url: str) -> None:
        from google import genai

        self.client = genai.Client(
            api_key=API_KEY, http_options={"base_url": base_url, "api_version": "v1beta"}
        )

    async def run(self) -> int:
        deltas = 0
        stream = await self.client.aio.models.generate_content_stream(model=MODEL, contents="go")
        async for chunk in stream:
            if chunk.text:
                deltas += 1
        return deltas

    async def aclose(self) -> None:
        await self.client.aio.aclose()


async def best_rate(client: RupuClient | SdkClient, rounds: int, expected: int) -> float:
    """Deltas per second of the fastest round, after one warm-up round."""
    await client.run()
    best = 0.0
    for _ in range(rounds):
        gc.collect()
        started = time.perf_counter()
        deltas = await client.run()
        elapsed = time.perf_counter() - started
        if deltas != expected:
            raise SystemExit(f"{type(client).__name__} saw {deltas} deltas, expected {expected}")
        best = max(best, deltas / elapsed)
    await client.aclose()
    return best


async def measure(base_url: str, rounds: int, chunks: int) -> tuple[float, float]:
    rupu_rate = await best_rate(RupuClient(base_url), rounds, chunks)
    sdk_rate = await best_rate(SdkClient(base_url), rounds, chunks)
    return rupu_rate, sdk_rate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.chunks)
        return
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--chunks", str(args.chunks)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        rupu_rate, sdk_rate = asyncio.run(
            measure(f"http://127.0.0.1:{port}", args.rounds, args.chunks)
        )
    finally:
        server.terminate()
        server.wait(10)
    result = {
        "dialect": "gemini",
        "chunks": args.chunks,
        "rupu_deltas_per_s": round(rupu_rate),
        "sdk_deltas_per_s": round(sdk_rate),
        "ratio": round(rupu_rate / sdk_rate, 1),
    }
    print(orjson.dumps(result).decode())


if __name__ == "__main__":
    main()
