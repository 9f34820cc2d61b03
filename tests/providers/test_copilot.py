"""The copilot provider end to end on the chat-completions route, against a loopback Copilot."""

from __future__ import annotations

import anyio
import pytest

from rupu.errors import CredentialError, ProviderError
from rupu.messages import Message, ModelRequest, ToolCallPart, ToolResultPart
from rupu.providers.copilot import CopilotBearerSource, CopilotProvider
from rupu.providers.registry import FACTORIES, factory_for
from rupu.testing import FakeClock
from tests.providers.copilot_setup import GITHUB_TOKEN, ask, complete, open_copilot
from tests.servers.base import Reply
from tests.servers.copilot import CopilotServer, github_error
from tests.servers.openai_chat import completion, stream_reply, text_stream, usage


def answer(*pieces: str, model: str = "gpt-4.1") -> Reply:
    return stream_reply(text_stream(list(pieces), model=model, with_usage=usage(20, 4, cached=8)))


def test_copilot_is_registered() -> None:
    assert FACTORIES["copilot"] == "rupu.providers.copilot:create"
    assert factory_for("copilot", "copilot").__module__ == "rupu.providers.copilot"


@pytest.mark.anyio
async def test_chat_route_streams_with_copilot_token_and_headers() -> None:
    with CopilotServer(clock=FakeClock()) as server:
        server.script.append(answer("Hello", " there."))
        async with open_copilot(server) as provider:
            turn = await complete(provider, ask("hi", effort="high", max_tokens=300))
    assert turn.message.text() == "Hello there."
    assert turn.stop_reason == "end_turn"
    assert turn.usage.input_tokens == 12
    assert turn.usage.cache_read_tokens == 8
    assert turn.usage.output_tokens == 4
    assert turn.request_id == "req_test_123"
    request = server.requests[0]
    assert request.path == "/chat/completions"
    token = next(iter(server.issued))
    assert request.headers["authorization"] == f"Bearer {token}"
    assert request.headers["x-initiator"] == "user"
    assert request.headers["openai-intent"] == "conversation-edits"
    assert request.headers["copilot-integration-id"] == "vscode-chat"
    assert request.headers["editor-version"].startswith("vscode/")
    assert request.headers["editor-plugin-version"].startswith("copilot-chat/")
    assert request.headers["user-agent"].startswith("GitHubCopilotChat/")
    assert GITHUB_TOKEN not in str(request.headers)
    body = request.body
    assert body["model"] == "gpt-4.1"
    assert body["max_tokens"] == 300
    assert "reasoning_effort" not in body
    assert "store" not in body
    assert [m["role"] for m in body["messages"]] == ["system", "user"]


@pytest.mark.anyio
async def test_tool_results_are_sent_as_agent_initiated() -> None:
    with CopilotServer(clock=FakeClock()) as server:
        server.script.append(answer("Done."))
        async with open_copilot(server) as provider:
            request = ModelRequest(
                model="gpt-4.1",
                system="You help.",
                messages=[
                    Message.user("list files"),
                    Message("assistant", [ToolCallPart("call_1", "ls", {"path": "."})]),
                    Message("user", [ToolResultPart("call_1", "ls", "a.txt")]),
                ],
            )
            await complete(provider, request)
    assert server.requests[0].headers["x-initiator"] == "agent"
    assert server.requests[0].body["messages"][-1]["role"] == "tool"


@pytest.mark.anyio
async def test_token_is_reused_across_requests() -> None:
    with CopilotServer(clock=FakeClock()) as server:
        for _ in range(3):
            server.script.append(answer("ok"))
        async with open_copilot(server) as provider:
            for _ in range(3):
                await complete(provider, ask())
    assert server.exchanges == 1
    assert len({r.headers["authorization"] for r in server.requests}) == 1


@pytest.mark.anyio
async def test_fifty_concurrent_requests_make_exactly_one_exchange() -> None:
    with CopilotServer(clock=FakeClock()) as server:
        server.exchange_delay = 0.05
        server.default_reply = lambda _: answer("ok")
        async with open_copilot(server) as provider:
            texts: list[str] = []

            async def one() -> None:
                texts.append((await complete(provider, ask())).message.text())

            async with anyio.create_task_group() as group:
                for _ in range(50):
                    group.start_soon(one)
    assert server.exchanges == 1
    assert texts == ["ok"] * 50
    assert len(server.requests) == 50
    assert len({r.headers["authorization"] for r in server.requests}) == 1


@pytest.mark.anyio
@pytest.mark.parametrize(("remaining", "exchanges"), [(61, 1), (60, 1), (59, 2)])
async def test_request_near_expiry_remints_first(remaining: int, exchanges: int) -> None:
    clock = FakeClock()
    with CopilotServer(clock=clock) as server:
        server.default_reply = lambda _: answer("ok")
        async with open_copilot(server) as provider:
            await complete(provider, ask())
            first_token = server.requests[0].headers["authorization"]
            clock.now = server.issued[first_token.removeprefix("Bearer ")] - remaining
            await complete(provider, ask())
    assert server.exchanges == exchanges
    used_new_token = server.requests[1].headers["authorization"] != first_token
    assert used_new_token == (exchanges == 2)


@pytest.mark.anyio
async def test_401_on_fresh_token_remints_and_retries_once() -> None:
    with CopilotServer(clock=FakeClock()) as server:
        server.default_reply = lambda _: answer("ok")
        async with open_copilot(server) as provider:
            await complete(provider, ask())
            server.revoke_issued()
            turn = await complete(provider, ask())
    assert turn.message.text() == "ok"
    assert turn.retries == []
    assert server.exchanges == 2
    assert len(server.requests) == 3
    assert (
        server.requests[1].headers["authorization"] == server.requests[0].headers["authorization"]
    )
    assert (
        server.requests[2].headers["authorization"] != server.requests[1].headers["authorization"]
    )


@pytest.mark.anyio
async def test_fifty_concurrent_401s_remint_once() -> None:
    with CopilotServer(clock=FakeClock()) as server:
        server.default_reply = lambda _: answer("ok")
        async with open_copilot(server) as provider:
            await complete(provider, ask())
            server.revoke_issued()
            async with anyio.create_task_group() as group:
                for _ in range(50):
                    group.start_soon(complete, provider, ask())
    assert server.exchanges == 2
    assert len(server.requests) == 1 + 50 + 50


@pytest.mark.anyio
async def test_persistent_401_fails_after_one_remint_with_the_fix() -> None:
    with CopilotServer(clock=FakeClock()) as server:
        server.refuse_all_tokens = True
        async with open_copilot(server) as provider:
            with pytest.raises(ProviderError) as caught:
                await complete(provider, ask())
    assert server.exchanges == 2
    assert len(server.requests) == 2
    error = caught.value
    assert error.status == 401
    assert error.exit_code == 3
    assert "Copilot refused a freshly minted token" in error.one_line()
    assert "subscription" in error.one_line()
    for secret in [*server.issued, GITHUB_TOKEN]:
        assert secret not in error.one_line()


@pytest.mark.anyio
async def test_api_host_comes_from_the_token_response() -> None:
    with CopilotServer(clock=FakeClock(), api_prefix="/enterprise-api") as server:
        server.script.append(answer("ok"))
        async with open_copilot(server) as provider:
            await complete(provider, ask())
    assert server.requests[0].path == "/enterprise-api/chat/completions"


@pytest.mark.anyio
async def test_base_url_overrides_the_api_host() -> None:
    with CopilotServer(clock=FakeClock(), api_prefix="/gateway") as server:
        server.advertised_api = "http://127.0.0.1:9/unreachable"
        server.script.append(answer("ok"))
        async with open_copilot(server, base_url=f"{server.base_url}/gateway/") as provider:
            await complete(provider, ask())
    assert server.requests[0].path == "/gateway/chat/completions"


@pytest.mark.anyio
async def test_exchange_outage_is_retried_by_the_retry_policy() -> None:
    with CopilotServer(clock=FakeClock()) as server:
        server.exchange_script.append(github_error(502, "Bad Gateway"))
        server.script.append(answer("ok"))
        async with open_copilot(server) as provider:
            turn = await complete(provider, ask())
    assert turn.message.text() == "ok"
    assert server.exchanges == 2
    assert [r.reason for r in turn.retries] == ["HTTP 502"]


@pytest.mark.anyio
async def test_chat_server_errors_are_retried_once_not_twice_over() -> None:
    with CopilotServer(clock=FakeClock()) as server:
        server.default_reply = lambda _: github_error(503, "overloaded")
        async with open_copilot(server, max_retries=2) as provider:
            with pytest.raises(ProviderError) as caught:
                await complete(provider, ask())
    assert caught.value.status == 503
    assert len(server.requests) == 3
    assert server.exchanges == 1


@pytest.mark.anyio
async def test_account_without_copilot_gets_subscription_error() -> None:
    with CopilotServer(clock=FakeClock()) as server:
        server.exchange_script.append(github_error(404, "Not Found"))
        async with open_copilot(server) as provider:
            with pytest.raises(CredentialError, match="paid GitHub Copilot subscription"):
                await complete(provider, ask())
    assert server.requests == []


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("model", "suggested"), [("gpt-4-1", "gpt-4.1"), ("gpt4o", "gpt-4o"), ("o9-nano", None)]
)
async def test_refused_model_names_the_ids_the_route_accepts(
    model: str, suggested: str | None
) -> None:
    with CopilotServer(clock=FakeClock()) as server:
        async with open_copilot(server) as provider:
            with pytest.raises(ProviderError) as caught:
                await complete(provider, ask(model=model))
    assert server.requests[0].body["model"] == model
    text = caught.value.one_line()
    assert f"model '{model}' is not available on Copilot's chat completions route" in text
    assert "model_not_supported" in text
    assert "ids this route accepts: gpt-4.1, gpt-4o, gpt-5-mini, claude-sonnet-4.6" in text
    assert "gemini-2.5-pro" not in text
    assert "text-embedding" not in text
    assert (f"did you mean '{suggested}'" in text) == (suggested is not None)
    assert server.model_requests[0].headers["authorization"].startswith("Bearer ")


@pytest.mark.anyio
async def test_disabled_model_says_to_enable_it() -> None:
    with CopilotServer(clock=FakeClock()) as server:
        async with open_copilot(server) as provider:
            with pytest.raises(ProviderError) as caught:
                await complete(provider, ask(model="gemini-2.5-pro"))
    assert "'gemini-2.5-pro' is disabled for this account" in caught.value.one_line()
    assert "github.com/settings/copilot" in caught.value.one_line()


def test_missing_github_token_is_a_credential_error() -> None:
    from rupu.config import ProviderConfig
    from rupu.providers.base import ProviderSetup

    with pytest.raises(CredentialError) as caught:
        CopilotProvider(ProviderSetup("copilot", "copilot", ProviderConfig(), None))
    assert "set COPILOT_GITHUB_TOKEN" in caught.value.one_line()


@pytest.mark.anyio
async def test_secrets_stay_out_of_reprs() -> None:
    with CopilotServer(clock=FakeClock()) as server:
        async with open_copilot(server) as provider:
            token = await provider.tokens.get()
            credential = await CopilotBearerSource("copilot", provider.tokens).get()
    shown = repr(token) + repr(credential) + str(credential) + credential.describe()
    assert token.secret.reveal() not in shown
    assert credential.secret == token.secret


@pytest.mark.anyio
async def test_configured_headers_replace_the_editor_headers() -> None:
    with CopilotServer(clock=FakeClock()) as server:
        server.script.append(answer("ok"))
        async with open_copilot(
            server, headers={"Editor-Version": "vscode/9.9.9", "X-Team": "core"}
        ) as provider:
            await complete(provider, ask())
    sent = server.requests[0].headers
    assert sent["editor-version"] == "vscode/9.9.9"
    assert sent["x-team"] == "core"


@pytest.mark.anyio
async def test_whole_answers_when_stream_is_off() -> None:
    with CopilotServer(clock=FakeClock()) as server:
        server.script.append(completion("Whole.", model="gpt-4.1"))
        async with open_copilot(server, stream=False) as provider:
            turn = await complete(provider, ask())
    assert turn.message.text() == "Whole."
    assert server.requests[0].body["stream"] is False
    assert server.requests[0].headers["accept"] == "application/json"
