"""Decode throughput of the OpenAI Responses dialect: rupu's provider vs the official openai SDK.

A loopback server (`bench/sse_server.py`, in its own process) streams one response of 20,000
`response.output_text.delta` events, shaped as the real API sends them. Both clients read it from the
same server in the same run; each reuses its connection pool, the first (warm-up) round is not
timed, and the best of the timed rounds counts. Prints one JSON line:

    {"dialect": "openai-responses", "rupu_deltas_per_s": ..., "sdk_deltas_per_s": ..., "ratio": ...}

Run: `python bench/decode_openai_responses.py [--deltas N] [--rounds N]`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.sse_server import running

MODEL = "gpt-bench"


def event(kind: str, seq: int, **fields: Any) -> bytes:
    data = orjson.dumps({"type": kind, "sequence_number": seq, **fields})
    return b"event: " + kind.encode() + b"\ndata: " + data + b"\n\n"


def build_stream(deltas: int) -> bytes:
    response = {
        "id": "resp_bench",
        "object": "response",
        "created_at": 1_700_000_000,
        "status": "in_progress",
        "model": MODEL,
        "output": [],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
    }
    item = {"id": "msg_bench", "type": "message", "role": "assistant", "status": "in_progress"}
    where = {"item_id": "msg_bench", "output_index": 0, "content_index": 0}
    out = [
        event("response.created", 0, response=response),
        event("response.in_progress", 1, response=response),
        event("response.output_item.added", 2, output_index=0, item={**item, "content": []}),
        event(
            "response.content_part.added",
            3,
            **where,
            part={"type": "output_text", "text": "", "annotations": []},
        ),
    ]
    seq = 4
    pieces = [f" tok{i % 97}" for i in range(deltas)]
    for piece in pieces:
        out.append(event("response.output_text.delta", seq, **where, delta=piece, logprobs=[]))
        seq += 1
    text = "".join(pieces)
    part = {"type": "output_text", "text": text, "annotations": []}
    out.append(event("response.output_text.done", seq, **where, text=text, logprobs=[]))
    out.append(event("response.content_part.done", seq + 1, **where, part=part))
    done_item = {**item, "status": "completed", "content": [part]}
    out.append(event("response.output_item.done", seq + 2, output_index=0, item=done_item))
    usage = {
        "input_tokens": 10,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": deltas,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": deltas + 10,
    }
    final = {**response, "status": "completed", "output": [done_item], "usage": usage}
    out.append(event("response.completed", seq + 3, response=final))
    return b"".join(out)


async def rupu_rounds(base_url: str, rounds: int) -> list[tuple[int, float]]:
    """One provider for all rounds, as in a run; the first round (connection set-up) is not timed."""
    from rupu.auth.credentials import Credential, FixedCredential, Secret
    from rupu.config import ProviderConfig
    from rupu.messages import Message, ModelRequest
    from rupu.providers.base import ProviderSetup
    from rupu.providers.openai_responses import create

    credential = Credential("openai", "api-key", Secret("sk-bench"), source="bench")
    provider = create(
        ProviderSetup(
            name="openai",
            kind="openai",
            config=ProviderConfig(base_url=base_url),
            credentials=FixedCredential(credential),
        )
    )
    request = ModelRequest(model=MODEL, system="", messages=[Message.user("go")])
    results = []
    for _ in range(rounds + 1):
        count = 0
        started = time.perf_counter()
        async for item in provider.stream(request):
            if item.kind == "text_delta":
                count += 1
        results.append((count, time.perf_counter() - started))
    await provider.aclose()
    return results[1:]


async def sdk_rounds(base_url: str, rounds: int) -> list[tuple[int, float]]:
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=f"{base_url}/v1", api_key="sk-bench", max_retries=0)
    results = []
    for _ in range(rounds + 1):
        count = 0
        started = time.perf_counter()
        stream = await client.responses.create(model=MODEL, input="go", stream=True)
        async for item in stream:
            if item.type == "response.output_text.delta":
                count += 1
        results.append((count, time.perf_counter() - started))
    await client.close()
    return results[1:]


async def measure(base_url: str, deltas: int, rounds: int) -> dict[str, Any]:
    best: dict[str, float] = {}
    for name, run in (("rupu", rupu_rounds), ("sdk", sdk_rounds)):
        for count, elapsed in await run(base_url, rounds):
            if count != deltas:
                raise SystemExit(f"{name} saw {count} deltas, expected {deltas}")
            best[name] = max(best.get(name, 0.0), count / elapsed)
    return {
        "dialect": "openai-responses",
        "rupu_deltas_per_s": round(best["rupu"]),
        "sdk_deltas_per_s": round(best["sdk"]),
        "ratio": round(best["rupu"] / best["sdk"], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--deltas", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with running(build_stream(args.deltas)) as base_url:
        result = asyncio.run(measure(base_url, args.deltas, args.rounds))
    print(orjson.dumps(result).decode())


if __name__ == "__main__":
    main()
