"""Decode throughput of the Anthropic Messages dialect: rupu's provider vs the official SDK.

Starts the loopback Messages server from tests/servers, streams one response of N text deltas through
rupu's anthropic provider and through the `anthropic` SDK's async streaming client (raw events, its
fastest path), and prints one JSON line:
`{"dialect": "anthropic", "rupu_deltas_per_s": ..., "sdk_deltas_per_s": ..., "ratio": ...}`.

Run from the repository root: `python bench/decode_anthropic.py [--deltas 20000] [--rounds 5]`.
Each side first makes one small warm-up request on the same client (connection pool, TLS context), so
what is timed is the steady-state decode of one long response. The best of `rounds` runs is reported
for each side (the usual way to keep scheduler noise out).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rupu.auth.credentials import Credential, FixedCredential, Secret
from rupu.config import ProviderConfig
from rupu.messages import Message, ModelRequest
from rupu.providers.anthropic import create
from rupu.providers.base import ProviderSetup
from tests.servers.anthropic import (
    MODEL,
    AnthropicServer,
    Text,
    response_stream,
    stream_reply,
)
from tests.servers.base import RecordedRequest, Reply

KEY = "bench-key"
WARM_UP_MAX_TOKENS = 16


def body(deltas: int) -> bytes:
    """The whole response as one buffer, so the in-process server costs next to nothing."""
    pieces = [f"tok{i % 1000} " for i in range(deltas)]
    return b"".join(response_stream([Text(pieces)]))


async def rupu_run(base_url: str, deltas: int) -> float:
    setup = ProviderSetup(
        name="anthropic",
        kind="anthropic",
        config=ProviderConfig(base_url=base_url),
        credentials=FixedCredential(Credential("anthropic", "api-key", Secret(KEY), "bench")),
    )
    provider = create(setup)
    warm_up = ModelRequest(
        model=MODEL, system="", messages=[Message.user("go")], max_tokens=WARM_UP_MAX_TOKENS
    )
    request = ModelRequest(model=MODEL, system="", messages=[Message.user("go")])
    try:
        async for _ in provider.stream(warm_up):
            pass
        count = 0
        started = time.perf_counter()
        async for event in provider.stream(request):
            if event.kind == "text_delta":
                count += 1
        elapsed = time.perf_counter() - started
    finally:
        await provider.aclose()
    assert count == deltas, (count, deltas)
    return deltas / elapsed


async def sdk_run(base_url: str, deltas: int) -> float:
    import anthropic

    client = anthropic.AsyncAnthropic(base_url=base_url, api_key=KEY, max_retries=0)
    messages: Any = [{"role": "user", "content": "go"}]
    try:
        warm_up = await client.messages.create(
            model=MODEL, max_tokens=WARM_UP_MAX_TOKENS, messages=messages, stream=True
        )
        async for _ in warm_up:
            pass
        count = 0
        started = time.perf_counter()
        stream = await client.messages.create(
            model=MODEL, max_tokens=1024, messages=messages, stream=True
        )
        async for event in stream:
            if event.type == "content_block_delta" and event.delta.type == "text_delta":
                count += 1
        elapsed = time.perf_counter() - started
    finally:
        await client.close()
    assert count == deltas, (count, deltas)
    return deltas / elapsed


async def main(deltas: int, rounds: int) -> dict[str, object]:
    payload = body(deltas)
    small = body(10)

    def reply(request: RecordedRequest) -> Reply:
        warm_up = request.body["max_tokens"] == WARM_UP_MAX_TOKENS
        return stream_reply([small if warm_up else payload])

    with AnthropicServer(api_key=KEY) as server:
        server.default_reply = reply
        rupu_best = sdk_best = 0.0
        for _ in range(rounds):
            rupu_best = max(rupu_best, await rupu_run(server.base_url, deltas))
            sdk_best = max(sdk_best, await sdk_run(server.base_url, deltas))
        server.assert_clean()
    return {
        "dialect": "anthropic",
        "deltas": deltas,
        "rupu_deltas_per_s": round(rupu_best),
        "sdk_deltas_per_s": round(sdk_best),
        "ratio": round(rupu_best / sdk_best, 2),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deltas", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    result = anyio.run(main, args.deltas, args.rounds)
    print(orjson.dumps(result).decode())
