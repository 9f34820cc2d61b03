"""The two routes of the openai provider, chosen by the credential: an API key to
`{base_url}/v1/responses`, a ChatGPT sign-in token to `{sso_base_url}/backend-api/codex/responses`."""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson
import pytest

from rupu.auth.credentials import Credential, FixedCredential
from rupu.auth.jwt import chatgpt_account_id
from rupu.config import ProviderConfig
from rupu.errors import CredentialError, ProviderError
from rupu.messages import Message, ToolResultPart
from rupu.providers.openai_responses_encode import MINIMAL_INSTRUCTIONS
from tests.providers.responses_support import (
    WEATHER_TOOL,
    credential,
    make_provider,
    request,
    run_turn,
)
from tests.servers.base import Reply
from tests.servers.openai_responses import ResponsesServer, ResponseStream, fake_jwt, stream_reply


def answer(text: str = "Hi.") -> ResponseStream:
    return ResponseStream().text([text]).completed()


@pytest.mark.anyio
@pytest.mark.parametrize("suffix", ["", "/", "/v1", "/v1/"])
async def test_api_key_route_with_org_id(suffix: str) -> None:
    with ResponsesServer(api_key="sk-proj-canary", org_id="org-42") as server:
        server.script.append(stream_reply(answer()))
        provider = make_provider(
            ProviderConfig(base_url=server.base_url + suffix, org_id="org-42"),
            secret="sk-proj-canary",
        )
        turn, _ = await run_turn(provider, request("hi", max_tokens=512, effort="max"))
        await provider.aclose()
    sent = server.requests[0]
    assert sent.path == "/v1/responses"
    assert sent.headers["authorization"] == "Bearer sk-proj-canary"
    assert sent.headers["openai-organization"] == "org-42"
    assert sent.body == {
        "model": "gpt-test",
        "instructions": "You are terse.",
        "input": [{"role": "user", "content": "hi"}],
        "stream": True,
        "store": False,
        "reasoning": {"effort": "high", "summary": "auto"},
        "include": ["reasoning.encrypted_content"],
        "max_output_tokens": 512,
    }
    assert turn.message.text() == "Hi."
    assert turn.stop_reason == "end_turn"


@pytest.mark.anyio
async def test_api_key_route_without_org_sends_no_org_header() -> None:
    with ResponsesServer() as server:
        server.script.append(stream_reply(answer()))
        provider = make_provider(ProviderConfig(base_url=server.base_url))
        await run_turn(provider, request())
        await provider.aclose()
    assert "openai-organization" not in server.requests[0].headers
    assert "reasoning" not in server.requests[0].body
    assert "include" not in server.requests[0].body


@pytest.mark.anyio
@pytest.mark.parametrize("suffix", ["", "/", "/backend-api", "/backend-api/codex/"])
async def test_sso_route_takes_account_id_from_the_token(suffix: str) -> None:
    token = fake_jwt("acct-7f3c")
    with ResponsesServer(sso_token=token, account_id="acct-7f3c") as server:
        server.script.append(
            stream_reply(ResponseStream().reasoning([["hm"]]).text(["Ok."]).completed())
        )
        provider = make_provider(
            ProviderConfig(sso_base_url=server.base_url + suffix, base_url="http://127.0.0.1:9"),
            secret=token,
            mode="sso",
        )
        turn, _ = await run_turn(provider, request("go", system="", max_tokens=999))
        await provider.aclose()
    sent = server.requests[0]
    assert sent.path == "/backend-api/codex/responses"
    assert sent.headers["chatgpt-account-id"] == "acct-7f3c"
    assert sent.headers["originator"] == "rupu"
    assert sent.headers["openai-beta"] == "responses=experimental"
    assert sent.headers["accept"] == "text/event-stream"
    assert sent.body["instructions"] == MINIMAL_INSTRUCTIONS
    assert sent.body["store"] is False
    assert sent.body["stream"] is True
    assert sent.body["include"] == ["reasoning.encrypted_content"]
    assert "max_output_tokens" not in sent.body
    assert sent.body["prompt_cache_key"]
    assert turn.message.text() == "Ok."


@pytest.mark.anyio
async def test_sso_account_id_from_credential_extras_wins() -> None:
    token = fake_jwt("acct-from-claim")
    with ResponsesServer(sso_token=token, account_id="acct-extra") as server:
        server.script.append(stream_reply(answer()))
        source = FixedCredential(credential(token, mode="sso", extras={"account_id": "acct-extra"}))
        provider = make_provider(ProviderConfig(sso_base_url=server.base_url), source=source)
        await run_turn(provider, request())
        await provider.aclose()
    assert server.requests[0].headers["chatgpt-account-id"] == "acct-extra"


@pytest.mark.anyio
async def test_sso_token_without_account_claim_is_a_credential_error() -> None:
    token = fake_jwt(None)
    with ResponsesServer(sso_token=token) as server:
        provider = make_provider(
            ProviderConfig(sso_base_url=server.base_url), secret=token, mode="sso"
        )
        with pytest.raises(CredentialError) as caught:
            await run_turn(provider, request())
        await provider.aclose()
    assert "chatgpt_account_id" in caught.value.message
    assert "rupu auth login --provider openai --mode sso" in (caught.value.hint or "")
    assert token not in caught.value.one_line()
    assert server.requests == []


def test_account_id_claim_decoding() -> None:
    assert chatgpt_account_id(fake_jwt("acct_x")) == "acct_x"
    assert chatgpt_account_id("not-a-jwt") is None
    assert chatgpt_account_id("a.!!!.c") is None
    assert chatgpt_account_id(fake_jwt(None)) is None


@dataclass
class RefreshingSource:
    """A credential source whose forced refresh mints a new token (as the resolver would)."""

    old: str
    new: str
    calls: list[bool] = field(default_factory=list)

    async def get(self, *, force_refresh: bool = False) -> Credential:
        self.calls.append(force_refresh)
        token = self.new if force_refresh else self.old
        return credential(token, mode="sso")


@pytest.mark.anyio
async def test_sso_401_refreshes_once_and_retries_once() -> None:
    old, new = fake_jwt("acct-1", extra={"n": 1}), fake_jwt("acct-1", extra={"n": 2})
    with ResponsesServer(sso_token=new, account_id="acct-1") as server:
        server.script.append(stream_reply(answer("Fresh.")))
        source = RefreshingSource(old, new)
        provider = make_provider(ProviderConfig(sso_base_url=server.base_url), source=source)
        turn, _ = await run_turn(provider, request())
        await provider.aclose()
    assert source.calls == [False, True]
    assert len(server.unauthorized) == 1
    assert turn.message.text() == "Fresh."


@pytest.mark.anyio
async def test_sso_401_after_refresh_is_an_error_not_a_loop() -> None:
    stale = fake_jwt("acct-1")
    with ResponsesServer(sso_token="something-else", account_id="acct-1") as server:
        source = RefreshingSource(stale, stale)
        provider = make_provider(ProviderConfig(sso_base_url=server.base_url), source=source)
        with pytest.raises(ProviderError) as caught:
            await run_turn(provider, request())
        await provider.aclose()
    assert caught.value.status == 401
    assert source.calls == [False, True]
    assert len(server.unauthorized) == 2
    assert "rupu auth login --provider openai" in (caught.value.hint or "")


@pytest.mark.anyio
async def test_api_key_401_is_not_refreshed() -> None:
    with ResponsesServer(api_key="right") as server:
        provider = make_provider(ProviderConfig(base_url=server.base_url), secret="wrong")
        with pytest.raises(ProviderError) as caught:
            await run_turn(provider, request())
        await provider.aclose()
    assert caught.value.status == 401
    assert caught.value.error_type == "invalid_request_error/invalid_api_key"
    assert caught.value.request_id == "req_unauthorized"
    assert len(server.unauthorized) == 1
    assert "wrong" not in caught.value.one_line()


@pytest.mark.anyio
async def test_custom_openai_responses_kind_uses_base_url_and_bearer() -> None:
    with ResponsesServer(api_key="gw-key") as server:
        server.script.append(stream_reply(answer("Gateway.")))
        provider = make_provider(
            ProviderConfig(kind="openai-responses", base_url=f"{server.base_url}/v1"),
            secret="gw-key",
            name="gateway",
            kind="openai-responses",
        )
        turn, _ = await run_turn(provider, request())
        await provider.aclose()
    assert server.requests[0].path == "/v1/responses"
    assert turn.message.text() == "Gateway."


@pytest.mark.anyio
@pytest.mark.parametrize("route", ["api-key", "sso"])
async def test_tool_call_round_trip_replays_call_and_output_by_call_id(route: str) -> None:
    token = fake_jwt("acct-9")
    with ResponsesServer(api_key="sk-test-key", sso_token=token, account_id="acct-9") as server:
        server.script.append(
            stream_reply(
                ResponseStream()
                .reasoning([["Need the weather."]], encrypted="enc-blob-1", item_id="rs_77")
                .text(["Let me check."])
                .function_call("call_abc", "get_weather", {"city": "Paris"}, item_id="fc_1")
                .completed()
            )
        )
        server.script.append(stream_reply(answer("It is 18C.")))
        config = ProviderConfig(base_url=server.base_url, sso_base_url=server.base_url)
        if route == "sso":
            provider = make_provider(config, secret=token, mode="sso")
            effort = None
        else:
            provider = make_provider(config)
            effort = "medium"
        first = request("weather in Paris?", tools=[WEATHER_TOOL], effort=effort)
        turn1, _ = await run_turn(provider, first)
        assert turn1.stop_reason == "tool_use"
        [call] = turn1.message.tool_calls()
        assert (call.call_id, call.item_id, call.arguments) == (
            "call_abc",
            "fc_1",
            {"city": "Paris"},
        )
        history = [
            *first.messages,
            turn1.message,
            Message("user", [ToolResultPart("call_abc", "get_weather", "18C, clear")]),
        ]
        second = request("", history=history, tools=[WEATHER_TOOL], effort=effort)
        turn2, _ = await run_turn(provider, second)
        await provider.aclose()
    assert turn2.message.text() == "It is 18C."
    assert server.requests[1].body["input"] == [
        {"role": "user", "content": "weather in Paris?"},
        {
            "type": "reasoning",
            "id": "rs_77",
            "summary": [{"type": "summary_text", "text": "Need the weather."}],
            "encrypted_content": "enc-blob-1",
        },
        {"role": "assistant", "content": "Let me check."},
        {
            "type": "function_call",
            "call_id": "call_abc",
            "name": "get_weather",
            "arguments": '{"city":"Paris"}',
        },
        {"type": "function_call_output", "call_id": "call_abc", "output": "18C, clear"},
    ]


@pytest.mark.anyio
async def test_reasoning_without_encrypted_content_is_not_replayed() -> None:
    """Under `store: false` the server cannot look a reasoning item up by id, so one that came
    without `encrypted_content` (no effort set on the API-key route) is left out of the replay."""
    with ResponsesServer() as server:
        server.script.append(
            stream_reply(
                ResponseStream()
                .reasoning([["quiet"]], encrypted=None)
                .function_call("call_1", "get_weather", {"city": "Oslo"})
                .completed()
            )
        )
        server.script.append(stream_reply(answer("Cold.")))
        provider = make_provider(ProviderConfig(base_url=server.base_url))
        first = request("weather?", tools=[WEATHER_TOOL])
        turn1, _ = await run_turn(provider, first)
        history = [
            *first.messages,
            turn1.message,
            Message("user", [ToolResultPart("call_1", "get_weather", "-3C")]),
        ]
        await run_turn(provider, request("", history=history, tools=[WEATHER_TOOL]))
        await provider.aclose()
    kinds = [item.get("type", "message") for item in server.requests[1].body["input"]]
    assert kinds == ["message", "function_call", "function_call_output"]


def test_route_repr_hides_the_bearer() -> None:
    from rupu.providers.openai_responses import OpenAIResponsesProvider

    provider = make_provider(ProviderConfig(base_url="http://127.0.0.1:9"), secret="sk-hidden-1")
    assert isinstance(provider, OpenAIResponsesProvider)
    route = provider.route(credential("sk-hidden-1"))
    assert route.headers["authorization"] == "Bearer sk-hidden-1"
    assert "sk-hidden-1" not in repr(route)


@pytest.mark.anyio
async def test_sso_route_without_a_system_prompt_sends_minimal_instructions() -> None:
    token = fake_jwt("acct-1")
    with ResponsesServer(sso_token=token, account_id="acct-1") as server:
        server.script.append(stream_reply(answer("Ok.")))
        provider = make_provider(
            ProviderConfig(sso_base_url=server.base_url), secret=token, mode="sso"
        )
        turn, _ = await run_turn(provider, request(system=""))
        await provider.aclose()
        server.assert_clean()
    instructions = server.requests[0].body["instructions"]
    assert isinstance(instructions, str) and instructions.strip()
    assert turn.message.text() == "Ok."


@pytest.mark.anyio
async def test_api_route_without_a_system_prompt_sends_no_instructions() -> None:
    with ResponsesServer() as server:
        server.script.append(stream_reply(answer()))
        provider = make_provider(ProviderConfig(base_url=server.base_url))
        await run_turn(provider, request(system=""))
        await provider.aclose()
        server.assert_clean()
    assert "instructions" not in server.requests[0].body


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("detail", "shown"),
    [
        ("Instructions are not valid", "Instructions are not valid"),
        ({"message": "Model not supported"}, "Model not supported"),
        ([{"loc": ["body"], "msg": "field required"}], "field required"),
    ],
)
async def test_a_detail_error_body_is_shown_as_its_text(detail: object, shown: str) -> None:
    token = fake_jwt("acct-1")
    with ResponsesServer(sso_token=token, account_id="acct-1") as server:
        server.script.append(
            Reply(
                status=400, body=orjson.dumps({"detail": detail}), content_type="application/json"
            )
        )
        provider = make_provider(
            ProviderConfig(sso_base_url=server.base_url), secret=token, mode="sso"
        )
        with pytest.raises(ProviderError) as caught:
            await run_turn(provider, request())
        await provider.aclose()
    assert caught.value.status == 400
    assert caught.value.detail == shown
    assert "{" not in caught.value.one_line()
