"""Sign-in tokens from the environment (CHATGPT_OAUTH_TOKEN, ANTHROPIC_OAUTH_TOKEN,
GEMINI_OAUTH_TOKEN), end to end on loopback servers: used as is on the provider's sign-in route,
never stored or refreshed, an exit-4 error once the JWT's expiry has passed or the provider rejects
the token."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import orjson

from tests.conftest import Workspace, run_rupu
from tests.servers import anthropic as anthropic_server
from tests.servers import openai_responses as responses_server
from tests.servers.gemini import GeminiServer
from tests.servers.gemini_streams import stream as gemini_stream
from tests.servers.gemini_streams import text_chunks

NO_KEYCHAIN = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
AUTH_CLAIM = "https://api.openai.com/auth"


def jwt(claims: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(orjson.dumps(value)).decode().rstrip("=")

    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


def chatgpt_token(expires_in: float, account: str = "acct-env-7") -> str:
    return jwt(
        {
            "exp": int(time.time() + expires_in),
            AUTH_CLAIM: {"chatgpt_account_id": account},
            "sub": "user-CANARY",
        }
    )


def agent(workspace: Workspace, provider: str, model: str) -> None:
    workspace.write_agent(
        "signed", f"---\nname: signed\nprovider: {provider}\nmodel: {model}\n---\nBe brief.\n"
    )


def nothing_stored(home: Path) -> None:
    for name in ("auth.json", "auth.enc", "auth-backend.json"):
        assert not (home / name).exists(), name


def footer_and_start(workspace: Workspace, stderr: str) -> tuple[str, dict[str, Any]]:
    (path,) = (workspace.home / "transcripts").glob("*.jsonl")
    start: dict[str, Any] = json.loads(path.read_text().splitlines()[0])["data"]
    return stderr.strip().splitlines()[-1], start


def test_chatgpt_token_runs_on_the_chatgpt_route_with_its_account(workspace: Workspace) -> None:
    token = chatgpt_token(3600)
    with responses_server.ResponsesServer(sso_token=token, account_id="acct-env-7") as server:
        server.script.append(
            responses_server.stream_reply(
                responses_server.ResponseStream().text("From the env token.").completed()
            )
        )
        workspace.write_config(f'[providers.openai]\nsso_base_url = "{server.base_url}"\n')
        agent(workspace, "openai", "gpt-5")
        result = run_rupu("run", "--agent", "signed", "hi", env={"CHATGPT_OAUTH_TOKEN": token})
    assert result.code == 0, result.stderr
    assert result.stdout == "From the env token.\n"
    request = server.requests[0]
    assert request.path == "/backend-api/codex/responses"
    assert request.headers["authorization"] == f"Bearer {token}"
    assert request.headers["chatgpt-account-id"] == "acct-env-7"
    footer, start = footer_and_start(workspace, result.stderr)
    assert " · sso from env CHATGPT_OAUTH_TOKEN · " in footer
    assert start["credential"] == "sso from env CHATGPT_OAUTH_TOKEN"
    assert token not in result.output
    nothing_stored(workspace.home)


def test_an_expired_chatgpt_token_is_exit_4_before_any_request(workspace: Workspace) -> None:
    token = chatgpt_token(-120)
    with responses_server.ResponsesServer(sso_token=token, account_id="acct-env-7") as server:
        workspace.write_config(f'[providers.openai]\nsso_base_url = "{server.base_url}"\n')
        agent(workspace, "openai", "gpt-5")
        result = run_rupu("run", "--agent", "signed", "hi", env={"CHATGPT_OAUTH_TOKEN": token})
    assert result.code == 4, result.stderr
    assert "openai: the sign-in token in CHATGPT_OAUTH_TOKEN expired at 20" in result.stderr
    assert "never refreshes it" in result.stderr and "put a fresh token in" in result.stderr
    assert server.requests == [] and token not in result.output
    assert "Traceback" not in result.stderr
    nothing_stored(workspace.home)
    status = run_rupu("auth", "status", env={**NO_KEYCHAIN, "CHATGPT_OAUTH_TOKEN": token})
    line = next(row for row in status.stdout.splitlines() if row.startswith("openai"))
    assert "expired at" in line and token not in status.output


def test_anthropic_token_is_a_subscription_sign_in(workspace: Workspace) -> None:
    token = "sk-ant-oat01-CANARYenvtoken"
    with anthropic_server.AnthropicServer(tokens=[token]) as server:
        server.script.append(
            anthropic_server.stream_reply(
                anthropic_server.response_stream([anthropic_server.Text("Claude via env.")])
            )
        )
        workspace.write_config(f'[providers.anthropic]\nbase_url = "{server.base_url}"\n')
        agent(workspace, "anthropic", "claude-sonnet-4-6")
        result = run_rupu("run", "--agent", "signed", "hi", env={"ANTHROPIC_OAUTH_TOKEN": token})
    assert result.code == 0, result.stderr
    assert result.stdout == "Claude via env.\n"
    assert server.requests[0].headers["authorization"] == f"Bearer {token}"
    assert "warning: this non-interactive run uses a Claude subscription sign-in" in result.stderr
    assert " · sso from env ANTHROPIC_OAUTH_TOKEN · " in result.stderr
    nothing_stored(workspace.home)


def test_a_rejected_gemini_token_is_exit_4_and_not_retried(workspace: Workspace) -> None:
    good, bad = "ya29.CANARY-env-good", "ya29.CANARY-env-revoked"
    with GeminiServer(token=good, project="proj-env") as server:
        server.expired_tokens.add(bad)
        server.script.append(gemini_stream(text_chunks(["Code Assist via env."])))
        workspace.write_config(
            f'[providers.gemini]\nproject = "proj-env"\nsso_base_url = "{server.base_url}"\n'
        )
        agent(workspace, "gemini", "gemini-2.5-flash")
        ok = run_rupu("run", "--agent", "signed", "hi", env={"GEMINI_OAUTH_TOKEN": good})
        rejected = run_rupu("run", "--agent", "signed", "hi", env={"GEMINI_OAUTH_TOKEN": bad})
    assert ok.code == 0, ok.stderr
    assert ok.stdout == "Code Assist via env.\n"
    assert " · sso from env GEMINI_OAUTH_TOKEN · " in ok.stderr
    assert rejected.code == 4, rejected.stderr
    assert (
        "gemini: the provider rejected the sign-in token in GEMINI_OAUTH_TOKEN (HTTP 401)"
        in rejected.stderr
    )
    assert [r.headers["authorization"] for r in server.requests] == [
        f"Bearer {good}",
        f"Bearer {bad}",
    ]
    assert bad not in rejected.output
    nothing_stored(workspace.home)


def test_status_shows_the_env_token_and_a_stored_key_it_shadows(workspace: Workspace) -> None:
    token = chatgpt_token(7200)
    assert (
        run_rupu(
            "auth", "login", "--provider", "openai", input="sk-proj-CANARYkey", env=NO_KEYCHAIN
        ).code
        == 0
    )
    env = {**NO_KEYCHAIN, "CHATGPT_OAUTH_TOKEN": token}
    status = run_rupu("auth", "status", "--format", "json", env=env)
    data = json.loads(status.stdout)
    openai = next(p for p in data["providers"] if p["provider"] == "openai")
    assert openai["in_use"]["mode"] == "sso"
    assert openai["in_use"]["source"] == "env CHATGPT_OAUTH_TOKEN"
    assert openai["in_use"]["note"].startswith("used as is, expires at ")
    assert openai["shadowed"] == ["stored API key (auth.json)"]
    assert token not in status.output
    forced = run_rupu("auth", "status", env=env)
    assert "sso" in next(r for r in forced.stdout.splitlines() if r.startswith("openai"))
