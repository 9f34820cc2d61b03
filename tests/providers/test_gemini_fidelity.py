"""SDK fidelity: google-genai's own async client, pointed at the loopback server with an API key,
must parse every scripted stream and see what rupu sees (text, thoughts, signatures, function calls,
usage, finish reason). The SDK's request passes the same strict validation as rupu's."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

import pytest

from rupu.messages import TextPart, ThinkingPart, ToolCallPart
from tests.providers.gemini_support import MODEL, provider_for, request, run_turn
from tests.servers.gemini import GeminiServer
from tests.servers.gemini_streams import (
    call_chunks,
    chunk,
    signature,
    stream,
    text_chunks,
    text_part,
    usage,
)

pytestmark = [
    pytest.mark.anyio,
    # google-genai's default async transport subclasses aiohttp.ClientSession, which aiohttp frowns on
    pytest.mark.filterwarnings(
        "ignore:Inheritance class AiohttpClientSession from ClientSession is discouraged"
    ),
]

SCRIPTS: dict[str, list[dict[str, Any]]] = {
    "text": text_chunks(["The answer", " is ", "42."]),
    "unicode split": text_chunks(["na\u00efve ", "\u2014 caf\u00e9 ", "\U0001f680"]),
    "thoughts and signatures": text_chunks(
        ["Plan made."],
        thoughts=["Let me think", " about it."],
        thought_sig=signature("t"),
        final_sig=signature("f"),
        meta=usage(30, 4, thoughts=25, cached=10),
    ),
    "calls without ids": call_chunks(
        [("read_file", {"path": "a.txt"}), ("grep", {"pattern": "x", "limit": 3})],
        sig=signature("c"),
    ),
    "calls with ids and preface": call_chunks(
        [("search", {"q": "gemini"})], ids=["fc-77"], preface="Searching.", sig=signature("p")
    ),
    "max tokens": text_chunks(["cut"], finish="MAX_TOKENS"),
    "safety": text_chunks([], finish="SAFETY"),
    "several parts per chunk": [
        chunk([text_part("a"), text_part("b")]),
        chunk([text_part("c")], finish="STOP", meta=usage()),
    ],
}


@dataclass
class Seen:
    text: str = ""
    thoughts: str = ""
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    signatures: list[str] = field(default_factory=list)
    usage: tuple[int, int, int, int] | None = None
    finish: str | None = None
    model: str | None = None


async def through_sdk(base_url: str) -> Seen:
    from google import genai

    client = genai.Client(
        api_key="test-gemini-key", http_options={"base_url": base_url, "api_version": "v1beta"}
    )
    seen = Seen()
    try:
        async for response in await client.aio.models.generate_content_stream(
            model=MODEL, contents="hi"
        ):
            seen.model = response.model_version
            candidate = response.candidates[0] if response.candidates else None
            if candidate is not None and candidate.finish_reason is not None:
                seen.finish = candidate.finish_reason.value
            for part in (candidate.content.parts or []) if candidate and candidate.content else []:
                if part.thought_signature:
                    seen.signatures.append(base64.b64encode(part.thought_signature).decode())
                if part.function_call is not None:
                    seen.calls.append(
                        (part.function_call.name or "", part.function_call.args or {})
                    )
                elif part.thought:
                    seen.thoughts += part.text or ""
                else:
                    seen.text += part.text or ""
            meta = response.usage_metadata
            if meta is not None:
                seen.usage = (
                    meta.prompt_token_count or 0,
                    meta.cached_content_token_count or 0,
                    meta.candidates_token_count or 0,
                    meta.thoughts_token_count or 0,
                )
    finally:
        await client.aio.aclose()
    return seen


@pytest.mark.parametrize("name", list(SCRIPTS))
async def test_sdk_and_rupu_read_the_same_stream(name: str) -> None:
    chunks = SCRIPTS[name]
    with GeminiServer() as server:
        server.script.append(stream(chunks))
        server.script.append(stream(chunks))
        _, turn = await run_turn(provider_for(server), request())
        sdk = await through_sdk(server.base_url)
    parts = turn.message.parts
    assert turn.message.text() == sdk.text
    assert "".join(p.text for p in parts if isinstance(p, ThinkingPart)) == sdk.thoughts
    assert [(c.name, c.arguments) for c in turn.message.tool_calls()] == sdk.calls
    ours = [
        p.signature for p in parts if isinstance(p, ThinkingPart | ToolCallPart) and p.signature
    ]
    assert ours == sdk.signatures
    assert turn.served_model == sdk.model
    assert turn.raw_reason == sdk.finish
    assert sdk.usage is not None
    prompt, cached, candidates, thoughts = sdk.usage
    assert turn.usage.input_tokens == prompt - cached
    assert turn.usage.cache_read_tokens == cached
    assert turn.usage.output_tokens == candidates + thoughts
    assert turn.usage.reasoning_tokens == thoughts
    if sdk.calls:
        assert turn.stop_reason == "tool_use"
    assert all(isinstance(p, TextPart | ThinkingPart | ToolCallPart) for p in parts)
    sdk_request = server.requests[1]
    assert sdk_request.path == server.requests[0].path
    assert sdk_request.headers["x-goog-api-key"] == server.requests[0].headers["x-goog-api-key"]
