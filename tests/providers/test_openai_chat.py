"""The chat-completions dialect against the loopback server, and the server against the openai SDK."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from rupu.auth.credentials import Credential, FixedCredential, Secret
from rupu.config import ProviderConfig
from rupu.errors import ProviderError
from rupu.messages import Message, ModelRequest, TextPart, ToolResultPart, ToolSpec
from rupu.providers.base import ProviderSetup, TurnBuilder
from rupu.providers.openai_chat import OpenAIChatProvider, chat_completions_url
from rupu.providers.retry import RetryPolicy
from rupu.testing import FakeClock
from tests.servers.base import Reply
from tests.servers.openai_chat import (
    ChatCompletionsServer,
    error_reply,
    stream_reply,
    text_stream,
    tool_call_stream,
    usage,
)

KEY = "sk-chat-canary-42"


@pytest.fixture
def server() -> Iterator[ChatCompletionsServer]:
    with ChatCompletionsServer(api_key=KEY) as srv:
        yield srv


def make_provider(
    server: ChatCompletionsServer, clock: FakeClock | None = None, **config: Any
) -> OpenAIChatProvider:
    setup = ProviderSetup(
        name="oracle",
        kind="openai-compatible",
        config=ProviderConfig(base_url=server.base_url, **config),
        credentials=FixedCredential(Credential("oracle", "api-key", Secret(KEY), "test")),
        retry=RetryPolicy(max_retries=2),
        clock=clock or FakeClock(),
    )
    return OpenAIChatProvider(setup)


async def run_turn(provider: OpenAIChatProvider, request: ModelRequest) -> Any:
    builder = TurnBuilder(provider.name)
    events = []
    try:
        async for event in provider.stream(request):
            events.append(event)
            builder.add(event)
        return builder.result(), events
    finally:
        await provider.aclose()


def request(text: str = "hi", **kwargs: Any) -> ModelRequest:
    return ModelRequest(model="m1", system="sys", messages=[Message.user(text)], **kwargs)


@pytest.mark.parametrize(
    ("base", "url"),
    [
        ("http://h:1", "http://h:1/v1/chat/completions"),
        ("http://h:1/", "http://h:1/v1/chat/completions"),
        ("http://h:1/v1", "http://h:1/v1/chat/completions"),
        ("http://h:1/api/v1/", "http://h:1/api/v1/chat/completions"),
    ],
)
def test_base_url_normalisation(base: str, url: str) -> None:
    assert chat_completions_url(base) == url


@pytest.mark.anyio
async def test_text_usage_and_served_model(server: ChatCompletionsServer) -> None:
    server.script.append(
        stream_reply(
            text_stream(
                ["Hel", "lo"], model="served-1", with_usage=usage(100, 7, cached=40, reasoning=2)
            )
        )
    )
    turn, _ = await run_turn(make_provider(server), request())
    assert turn.message.text() == "Hello"
    assert turn.stop_reason == "end_turn"
    assert turn.served_model == "served-1"
    assert turn.request_id == "req_test_123"
    assert (turn.usage.input_tokens, turn.usage.cache_read_tokens, turn.usage.output_tokens) == (
        60,
        40,
        7,
    )
    assert turn.usage.reasoning_tokens == 2
    body = server.requests[0].body
    assert body["stream_options"] == {"include_usage": True}


@pytest.mark.anyio
async def test_tool_calls_and_round_trip(server: ChatCompletionsServer) -> None:
    server.script.append(
        stream_reply(tool_call_stream([("call_1", "read_file", {"path": "a.txt", "limit": 5})]))
    )
    tools = [
        ToolSpec(
            "read_file",
            "Read a file",
            {"type": "object", "properties": {"path": {"type": "string"}}},
        )
    ]
    turn, _ = await run_turn(make_provider(server), request(tools=tools))
    (call,) = turn.message.tool_calls()
    assert (call.call_id, call.name, call.arguments) == (
        "call_1",
        "read_file",
        {"path": "a.txt", "limit": 5},
    )
    assert turn.stop_reason == "tool_use"
    server.script.append(stream_reply(text_stream(["done"])))
    follow_up = ModelRequest(
        model="m1",
        system="sys",
        messages=[
            Message.user("hi"),
            turn.message,
            Message("user", [ToolResultPart("call_1", "read_file", "contents")]),
        ],
        tools=tools,
    )
    turn2, _ = await run_turn(make_provider(server), follow_up)
    assert turn2.message.text() == "done"
    sent = server.requests[1].body["messages"]
    assert sent[2]["tool_calls"][0]["id"] == "call_1"
    assert sent[3] == {"role": "tool", "tool_call_id": "call_1", "content": "contents"}


@pytest.mark.anyio
async def test_effort_max_tokens_and_json_output_are_encoded(server: ChatCompletionsServer) -> None:
    server.script.append(stream_reply(text_stream(["{}"])))
    await run_turn(
        make_provider(server),
        request(
            max_tokens=99, effort="max", output_format="json", output_schema={"type": "object"}
        ),
    )
    body = server.requests[0].body
    assert body["max_tokens"] == 99
    assert body["reasoning_effort"] == "high"
    assert body["response_format"]["type"] == "json_schema"


@pytest.mark.anyio
async def test_429_retry_after_is_honoured_then_succeeds(server: ChatCompletionsServer) -> None:
    server.script.append(
        error_reply(429, "slow down", "rate_limit_error", headers={"retry-after-ms": "1500"})
    )
    server.script.append(error_reply(503, "busy", "server_error", headers={"retry-after": "2"}))
    server.script.append(stream_reply(text_stream(["ok"])))
    clock = FakeClock()
    turn, events = await run_turn(make_provider(server, clock), request())
    assert turn.message.text() == "ok"
    assert clock.sleeps == [1.5, 2.0]
    assert [e.kind for e in events if e.kind == "retry_scheduled"] == ["retry_scheduled"] * 2


@pytest.mark.anyio
async def test_5xx_backoff_is_jittered_exponential_and_bounded(
    server: ChatCompletionsServer,
) -> None:
    for _ in range(3):
        server.script.append(error_reply(500, "boom", "server_error"))
    clock = FakeClock()
    with pytest.raises(ProviderError) as info:
        await run_turn(make_provider(server, clock), request())
    assert len(server.requests) == 3
    assert 0.375 <= clock.sleeps[0] <= 0.5 and 0.75 <= clock.sleeps[1] <= 1.0
    error = info.value
    assert (error.status, error.error_type, error.request_id) == (500, "server_error", "req_err_1")
    assert "oracle" in error.one_line() and "HTTP 500" in error.one_line()


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("reply", "attempts", "fragment"),
    [
        (error_reply(400, "bad model", "invalid_request_error"), 1, "bad model"),
        (error_reply(401, "bad key", "authentication_error"), 1, "rupu auth login"),
        (error_reply(429, "You exceeded your current quota", "insufficient_quota"), 1, "quota"),
        (error_reply(503, "nope", "server_error", headers={"x-should-retry": "false"}), 1, "nope"),
        (
            Reply(
                status=502,
                body=b"<html><body><h1>502 Bad Gateway</h1></body></html>",
                content_type="text/html",
            ),
            3,
            "502 Bad Gateway",
        ),
    ],
)
async def test_errors_that_are_not_retried_or_are_sanitised(
    server: ChatCompletionsServer, reply: Reply, attempts: int, fragment: str
) -> None:
    for _ in range(attempts):
        server.script.append(reply)
    with pytest.raises(ProviderError) as info:
        await run_turn(make_provider(server), request())
    assert len(server.requests) == attempts
    message = info.value.one_line()
    assert fragment in message
    assert "<html>" not in message and KEY not in message


@pytest.mark.anyio
async def test_truncated_stream_is_an_error_not_a_success(server: ChatCompletionsServer) -> None:
    chunks = text_stream(["partial"], done=False)[:-1]  # no finish_reason, no [DONE]
    server.script.append(stream_reply(chunks))
    server.script.append(stream_reply(chunks))
    server.script.append(stream_reply(chunks))
    with pytest.raises(ProviderError) as info:
        await run_turn(make_provider(server), request())
    assert info.value.error_type == "truncated_stream"


@pytest.mark.anyio
async def test_mid_stream_disconnect_after_output_is_not_retried(
    server: ChatCompletionsServer,
) -> None:
    server.script.append(stream_reply(text_stream(["a", "b", "c", "d"]), drop_after=3))
    with pytest.raises(ProviderError) as info:
        await run_turn(make_provider(server), request())
    assert len(server.requests) == 1
    assert info.value.retryable


@pytest.mark.anyio
async def test_disconnect_before_any_output_is_retried(server: ChatCompletionsServer) -> None:
    server.script.append(stream_reply(text_stream(["x"]), drop_after=0))
    server.script.append(stream_reply(text_stream(["fine"])))
    turn, _ = await run_turn(make_provider(server), request())
    assert turn.message.text() == "fine"
    assert len(server.requests) == 2


@pytest.mark.anyio
async def test_missing_usage_is_reported_as_unknown(server: ChatCompletionsServer) -> None:
    server.script.append(stream_reply(text_stream(["x"])))
    turn, _ = await run_turn(make_provider(server), request())
    assert turn.usage.reported is False


@pytest.mark.anyio
async def test_tool_result_only_user_message_encodes(server: ChatCompletionsServer) -> None:
    server.script.append(stream_reply(text_stream(["x"])))
    messages = [Message("user", [TextPart("a")])]
    await run_turn(make_provider(server), ModelRequest(model="m", system="", messages=messages))
    assert server.requests[0].body["messages"] == [{"role": "user", "content": "a"}]


def test_server_output_parses_in_the_official_openai_sdk(server: ChatCompletionsServer) -> None:
    """What the loopback server streams is what the real API streams, as far as the SDK can tell."""
    import openai

    client = openai.OpenAI(api_key=KEY, base_url=server.base_url + "/v1", max_retries=0)
    server.script.append(stream_reply(text_stream(["Hel", "lo"], with_usage=usage(3, 2))))
    stream = client.chat.completions.create(
        model="m1",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello"
    assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens == 3

    server.script.append(stream_reply(tool_call_stream([("call_9", "grep", {"pattern": "x"})])))
    stream = client.chat.completions.create(
        model="m1",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        tools=[
            {"type": "function", "function": {"name": "grep", "parameters": {"type": "object"}}}
        ],
    )
    args = ""
    for chunk in stream:
        for choice in chunk.choices:
            for call in choice.delta.tool_calls or []:
                args += call.function.arguments or "" if call.function else ""
    assert args == '{"pattern":"x"}'

    from tests.servers.openai_chat import completion

    server.script.append(completion("whole"))
    whole = client.chat.completions.create(model="m1", messages=[{"role": "user", "content": "hi"}])
    assert whole.choices[0].message.content == "whole"
    client.close()
