"""FunctionProvider and ScriptedProvider: what they stream, what they record, how they fail; and
`use_provider`, which serves a provider name through the real registry."""

from __future__ import annotations

import pytest

from rupu.config import LoadedConfig, load_config
from rupu.errors import ConfigError, Overloaded, ProviderError, RateLimited
from rupu.messages import (
    AssistantTurn,
    Message,
    ModelRequest,
    ResponseFinished,
    ResponseStarted,
    StreamEvent,
    TextDelta,
    TextPart,
    ThinkingPart,
    ToolCallPart,
    ToolResultPart,
    Usage,
)
from rupu.paths import Paths
from rupu.providers.base import Provider, ProviderSetup, TurnBuilder
from rupu.providers.registry import build_provider, needs_credential, provider_kind
from rupu.testing import (
    FunctionProvider,
    ScriptedProvider,
    ToolCall,
    Turn,
    last_user_text,
    use_provider,
)
from tests.conftest import Workspace


def request(text: str = "hello there", *, model: str = "m-1") -> ModelRequest:
    return ModelRequest(
        model=model, system="Be brief.", messages=[Message("user", [TextPart(text)])]
    )


async def collect(provider: Provider, req: ModelRequest) -> tuple[list[StreamEvent], AssistantTurn]:
    builder = TurnBuilder(provider.name)
    events: list[StreamEvent] = []
    async for event in provider.stream(req):
        events.append(event)
        builder.add(event)
    return events, builder.result()


@pytest.mark.anyio
async def test_a_string_answer_streams_as_one_finished_text_turn() -> None:
    provider = FunctionProvider(lambda req: f"you said: {last_user_text(req)}")
    events, turn = await collect(provider, request())
    assert events[0] == ResponseStarted(model="m-1", request_id=None)
    assert TextDelta("you said: hello there") in events
    assert events[-1] == ResponseFinished("end_turn", "end_turn")
    assert turn.message.parts == [TextPart("you said: hello there")]
    assert turn.usage == Usage(input_tokens=4, output_tokens=4, reported=True)
    assert turn.served_model == "m-1"


@pytest.mark.anyio
async def test_an_async_function_returns_thinking_tool_calls_usage_and_a_served_model() -> None:
    async def answer(req: ModelRequest) -> Turn:
        return Turn(
            text="Reading it.",
            thinking="The user wants the file.",
            tool_calls=[
                ToolCall("read_file", {"path": "a.txt"}),
                ToolCall("list_dir", call_id="c9"),
            ],
            usage=Usage(input_tokens=10, output_tokens=3, reported=True),
            model="m-1-2026",
            request_id="req_1",
        )

    _, turn = await collect(FunctionProvider(answer), request())
    assert turn.stop_reason == "tool_use"
    assert turn.message.parts == [
        ThinkingPart("The user wants the file.", provider="test"),
        TextPart("Reading it."),
        ToolCallPart("call_1_0", "read_file", {"path": "a.txt"}),
        ToolCallPart("c9", "list_dir", {}),
    ]
    assert (turn.usage.input_tokens, turn.usage.output_tokens) == (10, 3)
    assert (turn.served_model, turn.request_id) == ("m-1-2026", "req_1")


@pytest.mark.anyio
async def test_requests_are_recorded_as_copies_and_errors_reach_the_caller() -> None:
    def answer(req: ModelRequest) -> str:
        if "fail" in last_user_text(req):
            raise RateLimited("test", "rate limited", status=429)
        return "ok"

    provider = FunctionProvider(answer, name="fake")
    req = request("first")
    await collect(provider, req)
    req.messages.append(Message("user", [TextPart("later")]))
    with pytest.raises(ProviderError, match="rate limited"):
        await collect(provider, request("please fail"))
    assert [len(r.messages) for r in provider.requests] == [1, 1]
    assert [last_user_text(r) for r in provider.requests] == ["first", "please fail"]


def test_last_user_text_includes_tool_results() -> None:
    req = request()
    req.messages.append(Message("assistant", [ToolCallPart("c1", "read_file", {})]))
    req.messages.append(Message("user", [ToolResultPart("c1", "read_file", "file body")]))
    assert last_user_text(req) == "file body"
    assert last_user_text(ModelRequest(model="m", system="", messages=[])) == ""


@pytest.mark.anyio
async def test_scripted_turns_play_in_order_then_the_script_runs_out() -> None:
    scripted = ScriptedProvider(["one", Turn(text="two", stop_reason="max_tokens")])
    _, first = await collect(scripted, request("a"))
    _, second = await collect(scripted, request("b"))
    assert [first.message.parts, second.message.parts] == [[TextPart("one")], [TextPart("two")]]
    assert second.stop_reason == "max_tokens"
    assert scripted.remaining == 0
    with pytest.raises(ProviderError) as caught:
        await collect(scripted, request("c"))
    assert caught.value.error_type == "script_exhausted"
    assert "3 was requested" in caught.value.one_line()
    scripted.enqueue("three")
    _, third = await collect(scripted, request("d"))
    assert third.message.parts == [TextPart("three")]
    assert [last_user_text(r) for r in scripted.requests] == ["a", "b", "c", "d"]


@pytest.mark.anyio
async def test_a_scripted_error_is_raised_in_its_turn() -> None:
    error = Overloaded("test", "overloaded", status=529)
    scripted = ScriptedProvider([error, "recovered"])
    with pytest.raises(ProviderError) as caught:
        await collect(scripted, request())
    assert caught.value is error
    _, turn = await collect(scripted, request())
    assert turn.message.parts == [TextPart("recovered")]


def loaded(workspace: Workspace) -> LoadedConfig:
    return load_config(Paths.discover({"RUPU_HOME": str(workspace.home)}, workspace.project))


def setup_for(name: str, config: LoadedConfig) -> ProviderSetup:
    kind = provider_kind(name, config)
    return ProviderSetup(name, kind, config.provider(name), None)


@pytest.mark.anyio
async def test_use_provider_serves_a_name_through_the_registry_for_the_block_only(
    workspace: Workspace,
) -> None:
    config = loaded(workspace)
    with pytest.raises(ConfigError, match="unknown provider 'fake'"):
        provider_kind("fake", config)
    fake = ScriptedProvider(["hi"], name="fake")
    with use_provider(fake):
        kind = provider_kind("fake", config)
        assert not needs_credential(kind, config.provider("fake"))
        built = build_provider(setup_for("fake", config))
        assert built is fake
        with use_provider(FunctionProvider(lambda r: "inner"), name="fake") as inner:
            assert build_provider(setup_for("fake", config)) is inner
        assert build_provider(setup_for("fake", config)) is fake
    with pytest.raises(ConfigError):
        provider_kind("fake", config)


def test_use_provider_shadows_a_built_in_provider_and_gives_it_back(workspace: Workspace) -> None:
    config = loaded(workspace)
    with use_provider(ScriptedProvider(name="anthropic")):
        assert provider_kind("anthropic", config) == "registered"
    assert provider_kind("anthropic", config) == "anthropic"
