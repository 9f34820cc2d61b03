"""`provider: antigravity` end to end on loopback servers: `rupu auth login --provider antigravity
--mode sso` (PKCE on the loopback redirect, Antigravity's client id, secret and scopes, project
discovery), runs on the Cloud Code route with the envelope and headers pi-ai sends, the identity
line, a refresh under 60 s that happens once for a whole fan-out, and the model list."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.cli.test_auth_sso import browser_env, browser_log
from tests.conftest import Workspace, run_rupu
from tests.servers.antigravity import AntigravityServer
from tests.servers.base import RecordedRequest, Reply
from tests.servers.gemini_streams import stream as gemini_stream
from tests.servers.gemini_streams import text_chunks
from tests.servers.oauth import OAuthServer

NO_KEYCHAIN = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
CLIENT_ID = "1071006060591-tmhssin2h21lcre235vtolojh4g403ep.apps.googleusercontent.com"
CLIENT_SECRET = "GOCSPX-K58FWR486Ld" + "LJ1mLB8sXC4z6qDAf"
SCOPES = (
    "https://www.googleapis.com/auth/cloud-platform",
    "https://www.googleapis.com/auth/userinfo.email",
    "https://www.googleapis.com/auth/userinfo.profile",
    "https://www.googleapis.com/auth/cclog",
    "https://www.googleapis.com/auth/experimentsandconfigs",
)
IDENTITY = "Google Antigravity (sign-in)"


def oauth_server(**extra: Any) -> OAuthServer:
    return OAuthServer(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, scopes=SCOPES, **extra)


def config(oauth: OAuthServer, antigravity: AntigravityServer, extra: str = "") -> str:
    """Only the URLs move to the loopback servers: client id, secret and scopes stay the defaults."""
    return (
        f'[providers.antigravity]\nbase_url = "{antigravity.base_url}"\n{extra}'
        "[providers.antigravity.oauth]\n"
        f'authorize_url = "{oauth.authorize_url}"\ntoken_url = "{oauth.token_url}"\n'
        "redirect_port = 0\n"
    )


def sign_in(workspace: Workspace, tmp_path: Path, env: dict[str, str] | None = None) -> str:
    result = run_rupu(
        "auth",
        "login",
        "--provider",
        "antigravity",
        "--mode",
        "sso",
        env={**browser_env(tmp_path), **(env or {})},
    )
    assert result.code == 0, result.stderr
    return result.stderr


def agent(workspace: Workspace, model: str, name: str = "signed") -> None:
    workspace.write_agent(
        name, f"---\nname: {name}\nprovider: antigravity\nmodel: {model}\n---\nBe brief.\n"
    )


def stored(workspace: Workspace) -> dict[str, Any]:
    entries: dict[str, Any] = json.loads((workspace.home / "auth.json").read_text())["credentials"]
    return dict(entries["antigravity/sso"])


def test_sign_in_discovers_the_project_and_a_run_uses_the_route(
    workspace: Workspace, tmp_path: Path
) -> None:
    with oauth_server() as oauth, AntigravityServer(issuer=oauth, project_as_object=True) as ag:
        workspace.write_config(config(oauth, ag))
        said = sign_in(workspace, tmp_path)
        assert (
            f"Signed in to {IDENTITY} (expires in 59m, refreshes automatically, project "
            "ag-project-1); saved in file" in said
        )
        authorize = oauth.requests[0].query
        assert authorize["access_type"] == "offline" and authorize["prompt"] == "consent"
        assert authorize["redirect_uri"].endswith("/oauth-callback")
        assert browser_log(tmp_path)[0]["callback_status"] == 200
        entry = stored(workspace)
        assert entry["extras"] == {"project": "ag-project-1"}
        (discovery,) = ag.requests
        assert discovery.path == "/v1internal:loadCodeAssist"
        assert discovery.headers["authorization"] == f"Bearer {entry['secret']}"

        ag.script.append(gemini_stream(text_chunks(["Via Antigravity."])))
        agent(workspace, "gemini-3-flash")
        result = run_rupu("run", "--agent", "signed", "hi", env=NO_KEYCHAIN)
    assert result.code == 0, result.stderr
    assert result.stdout == "Via Antigravity.\n"
    footer = result.stderr.strip().splitlines()[-1]
    assert footer.startswith("── antigravity · gemini-3-flash ")
    assert f" · {IDENTITY} from auth.json · " in footer
    request = ag.requests[-1]
    assert request.path == "/v1internal:streamGenerateContent"
    assert request.body["project"] == "ag-project-1" and request.body["model"] == "gemini-3-flash"
    assert request.headers["user-agent"].startswith("antigravity/1.18.4 ")
    (transcript,) = (workspace.home / "transcripts").glob("*.jsonl")
    start = json.loads(transcript.read_text().splitlines()[0])["data"]
    assert start["credential"] == f"{IDENTITY} from auth.json"
    for secret in (entry["secret"], entry["refresh_token"], CLIENT_SECRET):
        assert secret not in said + result.output


def test_claude_thinking_models_get_their_beta_header_and_budget(
    workspace: Workspace, tmp_path: Path
) -> None:
    with oauth_server() as oauth, AntigravityServer(issuer=oauth) as ag:
        workspace.write_config(config(oauth, ag))
        sign_in(workspace, tmp_path)
        ag.script.append(gemini_stream(text_chunks(["Opus via Antigravity."])))
        agent(workspace, "claude-opus-4-6-thinking")
        result = run_rupu("run", "--agent", "signed", "hi", env=NO_KEYCHAIN)
    assert result.code == 0, result.stderr
    assert result.stdout == "Opus via Antigravity.\n"
    request = ag.requests[-1]
    assert request.headers["anthropic-beta"] == "interleaved-thinking-2025-05-14"
    thinking = request.body["request"]["generationConfig"]["thinkingConfig"]
    assert thinking == {"includeThoughts": True, "thinkingBudget": 8192}


def test_an_account_without_a_project_uses_the_shared_default_and_says_so(
    workspace: Workspace, tmp_path: Path
) -> None:
    with oauth_server() as oauth, AntigravityServer(issuer=oauth, project=None) as ag:
        workspace.write_config(config(oauth, ag))
        said = sign_in(workspace, tmp_path)
    assert "No Cloud Code project was found for this account" in said
    assert "rising-fact-p41fc" in said and "[providers.antigravity]" in said
    assert stored(workspace)["extras"] == {"project": "rising-fact-p41fc"}


def test_a_configured_project_is_kept_without_discovery(
    workspace: Workspace, tmp_path: Path
) -> None:
    with oauth_server() as oauth, AntigravityServer(issuer=oauth, project="mine-42") as ag:
        workspace.write_config(config(oauth, ag, 'project = "mine-42"\n'))
        sign_in(workspace, tmp_path)
    assert ag.requests == []
    assert stored(workspace)["extras"] == {"project": "mine-42"}


WORKFLOW = """
name: fan
steps:
  - id: fan
    parallel:
      - {id: a, agent: signed, prompt: one}
      - {id: b, agent: signed, prompt: two}
      - {id: c, agent: signed, prompt: three}
"""


def slow_reply(request: RecordedRequest) -> Reply:
    reply = gemini_stream(text_chunks(["ok"]))(request)
    reply.delay = 0.2
    return reply


def test_a_token_with_under_60s_left_is_refreshed_once_for_a_fan_out(
    workspace: Workspace, tmp_path: Path
) -> None:
    """The sign-in lives in the encrypted file; three parallel steps find it due at once."""
    env = {**NO_KEYCHAIN, "RUPU_AUTH_BACKEND": "encrypted-file", "RUPU_AUTH_PASSPHRASE": "ag-pass"}
    with oauth_server(expires_in=45) as oauth, AntigravityServer(issuer=oauth) as ag:
        workspace.write_config(config(oauth, ag))
        sign_in(workspace, tmp_path, env)
        assert not (workspace.home / "auth.json").exists()
        first = next(iter(oauth.live_access_tokens()))
        ag.default_reply = slow_reply
        agent(workspace, "gemini-3.1-pro-high")
        directory = workspace.home / "workflows"
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "fan.yaml").write_text(WORKFLOW)
        result = run_rupu("workflow", "run", "fan", env=env, timeout=60)
        status = run_rupu("auth", "status", "--format", "json", env=env)
    assert result.code == 0, result.stderr
    assert oauth.counts["refresh"] == 1
    runs = [r for r in ag.requests if r.path.endswith("streamGenerateContent")]
    tokens = {r.headers["authorization"].removeprefix("Bearer ") for r in runs}
    assert len(runs) == 3 and len(tokens) == 1 and first not in tokens
    data = orjson.loads(status.stdout)
    entry = next(p for p in data["providers"] if p["provider"] == "antigravity")
    assert entry["in_use"]["source"] == "stored sign-in (auth.enc)"
    assert entry["stored"]["sso"]["expires_in"] > 30


def test_api_keys_and_missing_sign_ins_point_at_the_sign_in(workspace: Workspace) -> None:
    login = run_rupu("auth", "login", "--provider", "antigravity", input="key", env=NO_KEYCHAIN)
    assert login.code == 2
    assert "antigravity takes only a sign-in (SSO), not an API key" in login.stderr
    agent(workspace, "gemini-3-flash")
    run = run_rupu("run", "--agent", "signed", "hi", env=NO_KEYCHAIN)
    assert run.code == 4
    assert "rupu auth login --provider antigravity --mode sso" in run.stderr


@pytest.mark.parametrize("output", ["table", "json"])
def test_the_model_list_names_the_antigravity_models(workspace: Workspace, output: str) -> None:
    listed = run_rupu("models", "list", "-p", "antigravity", "--format", output)
    assert listed.code == 0, listed.stderr
    for model in ("gemini-3-flash", "gemini-3.1-pro-high", "claude-opus-4-6-thinking"):
        assert model in listed.stdout
    assert "gpt-oss-120b-medium" in listed.stdout


def test_a_token_from_the_environment_discovers_the_project_per_run(workspace: Workspace) -> None:
    token = "ya29.CANARY-antigravity-env"
    with AntigravityServer(token=token, project="env-proj-3") as ag:
        ag.script.extend([gemini_stream(text_chunks(["From the env token."]))])
        workspace.write_config(f'[providers.antigravity]\nbase_url = "{ag.base_url}"\n')
        agent(workspace, "gemini-3.1-pro-low")
        result = run_rupu(
            "run", "--agent", "signed", "hi", env={**NO_KEYCHAIN, "ANTIGRAVITY_OAUTH_TOKEN": token}
        )
    assert result.code == 0, result.stderr
    assert result.stdout == "From the env token.\n"
    assert f" · {IDENTITY} from env ANTIGRAVITY_OAUTH_TOKEN · " in result.stderr
    assert [r.path for r in ag.requests] == [
        "/v1internal:loadCodeAssist",
        "/v1internal:streamGenerateContent",
    ]
    assert ag.requests[1].body["project"] == "env-proj-3"
    assert token not in result.output
    assert not (workspace.home / "auth.json").exists()
