"""SDK fidelity: everything the loopback Responses server streams is what the official `openai` SDK
parses, and rupu reads the same text and tool calls from it as the SDK does."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest

from rupu.config import ProviderConfig
from rupu.messages import ThinkingPart, ToolCallPart
from tests.providers.responses_support import WEATHER_TOOL, make_provider, request, run_turn
from tests.servers.openai_responses import ResponsesServer, ResponseStream, stream_reply, usage

SCRIPTS: dict[str, Callable[[], ResponseStream]] = {
    "text": lambda: ResponseStream().text(["Hel", "lo", ", world", "."]).completed(),
    "reasoning_then_text": lambda: (
        ResponseStream()
        .reasoning([["Thinking ", "hard"], ["second ", "part"]])
        .text(["Answer."])
        .completed(usage(30, 12, cached=10, reasoning=5))
    ),
    "function_call_split": lambda: (
        ResponseStream()
        .function_call("call_1", "get_weather", {"city": "Paris"}, split=4)
        .completed()
    ),
    "function_call_only_in_done": lambda: (
        ResponseStream()
        .function_call("call_2", "get_weather", {"city": "Oslo"}, streamed=0)
        .completed()
    ),
    "function_call_done_extends": lambda: (
        ResponseStream()
        .function_call("call_3", "get_weather", {"city": "Lima"}, streamed=5)
        .completed()
    ),
    "text_and_two_calls": lambda: (
        ResponseStream()
        .reasoning([["plan"]])
        .text(["Checking both."])
        .function_call("call_a", "get_weather", {"city": "Rome"})
        .function_call("call_b", "get_weather", {"city": "Kyiv"})
        .completed()
    ),
    "refusal": lambda: ResponseStream().text(["I can't ", "help."], refusal=True).completed(),
    "incomplete": lambda: ResponseStream().text(["Partial"]).incomplete("max_output_tokens"),
}


def _sdk_view(events: list[Any]) -> tuple[str, list[tuple[str, str, dict[str, Any]]], str]:
    text = "".join(
        e.delta
        for e in events
        if e.type in ("response.output_text.delta", "response.refusal.delta")
    )
    calls = [
        (e.item.call_id, e.item.name, orjson.loads(e.item.arguments))
        for e in events
        if e.type == "response.output_item.done" and e.item.type == "function_call"
    ]
    return text, calls, events[-1].type


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_every_event_validates_against_the_sdk_types(script: str) -> None:
    from openai.types.responses import ResponseStreamEvent
    from pydantic import TypeAdapter

    adapter: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)
    stream = SCRIPTS[script]()
    for event in stream.events:
        parsed = adapter.validate_python(event)
        assert parsed.type == event["type"]
        assert not _unknown_fields(parsed), (
            f"fields the SDK does not know: {_unknown_fields(parsed)}"
        )


def _unknown_fields(value: Any, path: str = "") -> list[str]:
    """Every field, at any depth, that the SDK's models do not declare."""
    from pydantic import BaseModel

    found: list[str] = []
    if isinstance(value, BaseModel):
        found += [f"{path}.{key}" for key in value.model_extra or {}]
        for name in type(value).model_fields:
            found += _unknown_fields(getattr(value, name), f"{path}.{name}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _unknown_fields(item, f"{path}[{index}]")
    return found


@pytest.mark.anyio
@pytest.mark.parametrize("script", sorted(SCRIPTS))
async def test_sdk_and_rupu_read_the_same_stream(script: str) -> None:
    from openai import AsyncOpenAI

    with ResponsesServer(api_key="sk-test-key") as server:
        server.script.append(stream_reply(SCRIPTS[script]()))
        server.script.append(stream_reply(SCRIPTS[script]()))
        client = AsyncOpenAI(base_url=f"{server.base_url}/v1", api_key="sk-test-key", max_retries=0)
        sdk_events = [
            event
            async for event in await client.responses.create(
                model="gpt-test",
                input=[{"role": "user", "content": "hello"}],
                instructions="You are terse.",
                stream=True,
                store=False,
            )
        ]
        await client.close()
        provider = make_provider(ProviderConfig(base_url=server.base_url))
        turn, _ = await run_turn(provider, request(tools=[WEATHER_TOOL]))
        await provider.aclose()

    text, calls, terminal = _sdk_view(sdk_events)
    assert terminal in ("response.completed", "response.incomplete")
    assert turn.message.text() == text
    assert [(c.call_id, c.name, c.arguments) for c in turn.message.tool_calls()] == calls
    assert turn.served_model == "gpt-test"


@pytest.mark.anyio
async def test_sdk_stream_helper_accumulates_the_same_final_response() -> None:
    """The SDK's `responses.stream()` rebuilds the response from the events and checks their order;
    its final snapshot must equal what the server says in `response.completed`."""
    from openai import AsyncOpenAI

    script = SCRIPTS["text_and_two_calls"]()
    with ResponsesServer(api_key="sk-test-key") as server:
        server.script.append(stream_reply(script))
        client = AsyncOpenAI(base_url=f"{server.base_url}/v1", api_key="sk-test-key", max_retries=0)
        async with client.responses.stream(
            model="gpt-test", input=[{"role": "user", "content": "hello"}], store=False
        ) as stream:
            final = await stream.get_final_response()
        await client.close()
    assert final.output_text == "Checking both."
    assert [item.type for item in final.output] == [
        "reasoning",
        "message",
        "function_call",
        "function_call",
    ]
    assert final.usage is not None and final.usage.total_tokens == 28


@pytest.mark.anyio
async def test_sdk_reads_the_codex_route_with_the_same_headers_rupu_sends() -> None:
    from openai import AsyncOpenAI

    from tests.servers.openai_responses import fake_jwt

    token = fake_jwt("acct_123")
    with ResponsesServer(sso_token=token, account_id="acct_123") as server:
        server.script.append(stream_reply(SCRIPTS["reasoning_then_text"]()))
        client = AsyncOpenAI(
            base_url=f"{server.base_url}/backend-api/codex",
            api_key=token,
            max_retries=0,
            default_headers={
                "chatgpt-account-id": "acct_123",
                "originator": "rupu",
                "OpenAI-Beta": "responses=experimental",
            },
        )
        events = [
            e
            async for e in await client.responses.create(
                model="gpt-test",
                input=[{"role": "user", "content": "hello"}],
                instructions="You are terse.",
                include=["reasoning.encrypted_content"],
                store=False,
                stream=True,
            )
        ]
        await client.close()
    done = [e.item for e in events if e.type == "response.output_item.done"]
    assert done[0].type == "reasoning"
    assert done[0].encrypted_content == "enc_reasoning_blob"


@pytest.mark.anyio
async def test_rupu_keeps_reasoning_summaries_apart_from_the_answer() -> None:
    with ResponsesServer() as server:
        server.script.append(stream_reply(SCRIPTS["reasoning_then_text"]()))
        provider = make_provider(ProviderConfig(base_url=server.base_url))
        turn, _ = await run_turn(provider, request())
        await provider.aclose()
    thinking = [p for p in turn.message.parts if isinstance(p, ThinkingPart)]
    assert [(p.text, p.signature, p.item_id) for p in thinking] == [
        ("Thinking hard\n\nsecond part", "enc_reasoning_blob", "rs_1")
    ]
    assert turn.message.text() == "Answer."
    assert not any(isinstance(p, ToolCallPart) for p in turn.message.parts)
