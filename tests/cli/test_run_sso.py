"""Issue 3 acceptance 1, sign-in half: after `rupu auth login --mode sso` against the loopback
authorization server, `rupu run` on each native provider uses the stored sign-in token on its sign-in
route and the transcript names the credential class."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.cli.test_auth_sso import NO_KEYCHAIN, SERVERS, browser_env
from tests.conftest import Workspace, run_rupu
from tests.servers import anthropic as anthropic_server
from tests.servers import openai_responses as responses_server
from tests.servers.copilot import CopilotServer
from tests.servers.gemini import GeminiServer
from tests.servers.gemini_streams import stream as gemini_stream
from tests.servers.gemini_streams import text_chunks
from tests.servers.oauth import OAuthServer
from tests.servers.openai_chat import stream_reply as chat_reply
from tests.servers.openai_chat import text_stream
from tests.servers.openai_chat import usage as chat_usage


def sign_in(workspace: Workspace, tmp_path: Path, provider: str, extra_config: str = "") -> str:
    """Signs in through the loopback authorization server; returns the stored access token."""
    if provider == "copilot":
        oauth = OAuthServer(device_interval=0.05)
    else:
        oauth = OAuthServer(**SERVERS[provider])
    with oauth as server:
        if provider == "copilot":
            server.device_script.extend(["approve"])
        workspace.write_config(extra_config + server.oauth_config(provider))
        env = NO_KEYCHAIN if provider == "copilot" else browser_env(tmp_path)
        result = run_rupu("auth", "login", "--provider", provider, "--mode", "sso", env=env)
        config_text = (workspace.home / "config.toml").read_text()
    assert result.code == 0, result.stderr
    # The authorization server is gone; keep its oauth table so the config still names it.
    workspace.write_config(config_text)
    entry: dict[str, Any] = json.loads((workspace.home / "auth.json").read_text())["credentials"]
    return str(entry[f"{provider}/sso"]["secret"])


def agent(workspace: Workspace, provider: str, model: str) -> None:
    workspace.write_agent(
        "signed",
        f"---\nname: signed\nprovider: {provider}\nmodel: {model}\nauth: sso\n---\nBe brief.\n",
    )


def run_and_check(workspace: Workspace, expected: str) -> dict[str, Any]:
    result = run_rupu("run", "--agent", "signed", "hi", env=NO_KEYCHAIN)
    assert result.code == 0, result.stderr
    assert result.stdout == expected + "\n"
    assert "sso from" in result.stderr
    (path,) = (workspace.home / "transcripts").glob("*.jsonl")
    events = [json.loads(line) for line in path.read_text().splitlines()]
    start: dict[str, Any] = events[0]["data"]
    assert start["credential"].startswith("sso from")
    turn_end = next(e for e in events if e["type"] == "turn_end")["data"]
    assert turn_end["stop_reason"] == "end_turn"
    usage = next(e for e in events if e["type"] == "usage")["data"]
    assert usage["reported"] is True
    return start


def with_config(workspace: Workspace, table: str) -> None:
    path = workspace.home / "config.toml"
    path.write_text(table + path.read_text())


def test_anthropic_subscription_route(workspace: Workspace, tmp_path: Path) -> None:
    token = sign_in(workspace, tmp_path, "anthropic")
    with anthropic_server.AnthropicServer(tokens=[token]) as server:
        server.script.append(
            anthropic_server.stream_reply(
                anthropic_server.response_stream([anthropic_server.Text("Signed in.")])
            )
        )
        with_config(workspace, f'[providers.anthropic]\nbase_url = "{server.base_url}"\n')
        agent(workspace, "anthropic", "claude-sonnet-4-6")
        run_and_check(workspace, "Signed in.")
    assert server.requests[0].headers["authorization"] == f"Bearer {token}"


def test_openai_chatgpt_route(workspace: Workspace, tmp_path: Path) -> None:
    token = sign_in(workspace, tmp_path, "openai")
    with responses_server.ResponsesServer(sso_token=token, account_id="acct-123") as server:
        server.script.append(
            responses_server.stream_reply(
                responses_server.ResponseStream().text("Via ChatGPT.").completed()
            )
        )
        with_config(workspace, f'[providers.openai]\nsso_base_url = "{server.base_url}"\n')
        agent(workspace, "openai", "gpt-5")
        run_and_check(workspace, "Via ChatGPT.")
    assert server.requests[0].path == "/backend-api/codex/responses"


def test_gemini_code_assist_route(workspace: Workspace, tmp_path: Path) -> None:
    token = sign_in(workspace, tmp_path, "gemini", '[providers.gemini]\nproject = "proj-1"\n')
    with GeminiServer(token=token, project="proj-1") as server:
        server.script.append(gemini_stream(text_chunks(["Via Code Assist."])))
        path = workspace.home / "config.toml"
        path.write_text(
            path.read_text().replace(
                '[providers.gemini]\nproject = "proj-1"\n',
                f'[providers.gemini]\nproject = "proj-1"\nsso_base_url = "{server.base_url}"\n',
            )
        )
        agent(workspace, "gemini", "gemini-2.5-flash")
        run_and_check(workspace, "Via Code Assist.")
    assert server.requests[-1].path.startswith("/v1internal:streamGenerateContent")


def test_copilot_device_sign_in_route(workspace: Workspace, tmp_path: Path) -> None:
    token = sign_in(workspace, tmp_path, "copilot")
    with CopilotServer(github_token=token) as server:
        server.script.append(chat_reply(text_stream(["Via Copilot."], with_usage=chat_usage(9, 3))))
        with_config(
            workspace, f'[providers.copilot]\ntoken_exchange_url = "{server.exchange_url}"\n'
        )
        agent(workspace, "copilot", "gpt-4.1")
        run_and_check(workspace, "Via Copilot.")
