"""Streaming decode throughput of the chat-completions path, side by side in one run: rupu's provider
layer, raw aiohttp, raw httpx, and the official openai SDK, all against the same loopback server.

    python bench/decode_chat.py [--deltas 20000] [--repeat 3]   -> one JSON line
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.sse_server import running


def build_body(deltas: int) -> bytes:
    head = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "bench"}
    parts = []
    for i in range(deltas):
        chunk = {
            **head,
            "choices": [{"index": 0, "delta": {"content": f"tok{i % 10} "}, "finish_reason": None}],
        }
        parts.append(b"data: " + json.dumps(chunk, separators=(",", ":")).encode() + b"\n\n")
    final = {**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    parts.append(b"data: " + json.dumps(final).encode() + b"\n\n")
    usage = {
        **head,
        "choices": [],
        "usage": {"prompt_tokens": 1, "completion_tokens": deltas, "total_tokens": deltas + 1},
    }
    parts.append(b"data: " + json.dumps(usage).encode() + b"\n\ndata: [DONE]\n\n")
    return b"".join(parts)


async def via_rupu(base: str) -> int:
    from rupu.auth.credentials import Credential, FixedCredential, Secret
    from rupu.config import ProviderConfig
    from rupu.messages import Message, ModelRequest, TextDelta
    from rupu.providers.base import ProviderSetup
    from rupu.providers.openai_chat import OpenAIChatProvider

    setup = ProviderSetup(
        "bench",
        "openai-compatible",
        ProviderConfig(base_url=base),
        FixedCredential(Credential("bench", "api-key", Secret("k"), "bench")),
    )
    provider = OpenAIChatProvider(setup)
    count = 0
    async for event in provider.stream(ModelRequest("bench", "", [Message.user("go")])):
        if type(event) is TextDelta:
            count += 1
    await provider.aclose()
    return count


async def via_aiohttp(base: str) -> int:
    import aiohttp

    count = 0
    async with (
        aiohttp.ClientSession() as session,
        session.post(base + "/v1/chat/completions", json={}) as response,
    ):
        buffer = b""
        async for chunk in response.content.iter_any():
            buffer += chunk
            *events, buffer = buffer.split(b"\n\n")
            for event in events:
                data = event[6:]
                if data != b"[DONE]":
                    parsed = json.loads(data)
                    for choice in parsed["choices"]:
                        if choice["delta"].get("content"):
                            count += 1
    return count


async def via_httpx(base: str) -> int:
    import httpx

    count = 0
    async with (
        httpx.AsyncClient() as client,
        client.stream("POST", base + "/v1/chat/completions", json={}) as response,
    ):
        async for line in response.aiter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                parsed = json.loads(line[6:])
                for choice in parsed["choices"]:
                    if choice["delta"].get("content"):
                        count += 1
    return count


async def via_openai_sdk(base: str) -> int:
    import openai

    client = openai.AsyncOpenAI(api_key="k", base_url=base + "/v1", max_retries=0)
    count = 0
    stream = await client.chat.completions.create(
        model="bench", messages=[{"role": "user", "content": "go"}], stream=True
    )
    async for chunk in stream:
        for choice in chunk.choices:
            if choice.delta.content:
                count += 1
    await client.close()
    return count


async def measure(
    fn: Callable[[str], Awaitable[int]], base: str, deltas: int, repeat: int
) -> float:
    best = 0.0
    for _ in range(repeat):
        started = time.perf_counter()
        got = await fn(base)
        elapsed = time.perf_counter() - started
        assert got == deltas, (fn.__name__, got)
        best = max(best, deltas / elapsed)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deltas", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    results: dict[str, object] = {"bench": "decode_chat", "deltas": args.deltas}
    rates: dict[str, int] = {}
    with running(build_body(args.deltas)) as base:
        for name, fn in [
            ("rupu", via_rupu),
            ("aiohttp_raw", via_aiohttp),
            ("httpx_raw", via_httpx),
            ("openai_sdk", via_openai_sdk),
        ]:
            rates[name] = round(asyncio.run(measure(fn, base, args.deltas, args.repeat)))
            results[f"{name}_deltas_per_s"] = rates[name]
    results["rupu_vs_openai_sdk"] = round(rates["rupu"] / rates["openai_sdk"], 1)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
