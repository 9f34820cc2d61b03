"""Why rupu's transport is httpx's API over aiohttp: N concurrent streamed chat completions against
one loopback server, through rupu's provider (one shared instance), plain httpx (its own pool) and
httpx over the aiohttp transport. Wall time for all N, side by side in one run.

    python bench/concurrency_chat.py [--streams 1000] [--deltas 20]   -> one JSON line
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.decode_chat import build_body
from bench.sse_server import running


async def rupu_streams(base: str, streams: int) -> float:
    from rupu.auth.credentials import Credential, FixedCredential, Secret
    from rupu.config import ProviderConfig
    from rupu.messages import Message, ModelRequest
    from rupu.providers.base import ProviderSetup, TurnBuilder
    from rupu.providers.openai_chat import OpenAIChatProvider

    setup = ProviderSetup(
        "bench",
        "openai-compatible",
        ProviderConfig(base_url=base),
        FixedCredential(Credential("bench", "api-key", Secret("k"), "bench")),
    )
    provider = OpenAIChatProvider(setup)

    async def one() -> None:
        builder = TurnBuilder("bench")
        async for event in provider.stream(ModelRequest("bench", "", [Message.user("go")])):
            builder.add(event)
        builder.result()

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(streams)))
    elapsed = time.perf_counter() - started
    await provider.aclose()
    return elapsed


async def httpx_streams(base: str, streams: int, *, aiohttp_transport: bool) -> float:
    import httpx

    limits = httpx.Limits(max_connections=streams, max_keepalive_connections=100)
    if aiohttp_transport:
        from httpx_aiohttp import AiohttpTransport

        client = httpx.AsyncClient(transport=AiohttpTransport(limits=limits), timeout=120)
    else:
        client = httpx.AsyncClient(limits=limits, timeout=120)

    async def one() -> None:
        async with client.stream("POST", base + "/v1/chat/completions", json={}) as response:
            async for _ in response.aiter_lines():
                pass

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(streams)))
    elapsed = time.perf_counter() - started
    await client.aclose()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--deltas", type=int, default=20)
    args = parser.parse_args()
    results: dict[str, object] = {
        "bench": "concurrency_chat",
        "streams": args.streams,
        "deltas_each": args.deltas,
    }
    with running(build_body(args.deltas)) as base:
        results["rupu_s"] = round(asyncio.run(rupu_streams(base, args.streams)), 2)
        results["httpx_aiohttp_s"] = round(
            asyncio.run(httpx_streams(base, args.streams, aiohttp_transport=True)), 2
        )
        results["httpx_plain_s"] = round(
            asyncio.run(httpx_streams(base, args.streams, aiohttp_transport=False)), 2
        )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
