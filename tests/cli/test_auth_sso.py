"""Acceptance 2: `rupu auth login --mode sso` against the loopback authorization server: the browser
callback for anthropic, openai and gemini (a stand-in browser named by BROWSER), the device code for
copilot, and one clear message for each failure."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import REPO_ROOT, Workspace, run_rupu
from tests.servers.oauth import OAuthServer

NO_KEYCHAIN = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
SERVERS: dict[str, dict[str, Any]] = {
    "anthropic": {"token_body": "json", "send_state": True},
    "openai": {
        "id_token_claims": {"https://api.openai.com/auth": {"chatgpt_account_id": "acct-123"}}
    },
    "gemini": {"client_secret": "public-installed-app-secret"},
}


def browser_env(tmp_path: Path) -> dict[str, str]:
    script = REPO_ROOT / "tests" / "servers" / "fake_browser.py"
    return {
        **NO_KEYCHAIN,
        "BROWSER": f"{sys.executable} {script} %s",
        "FAKE_BROWSER_LOG": str(tmp_path / "browser.jsonl"),
    }


def browser_log(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "browser.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def stored(workspace: Workspace) -> dict[str, Any]:
    path = workspace.home / "auth.json"
    return json.loads(path.read_text())["credentials"] if path.exists() else {}


@pytest.mark.parametrize("provider", ["anthropic", "openai", "gemini"])
def test_browser_sign_in_stores_a_refreshable_credential(
    workspace: Workspace, tmp_path: Path, provider: str
) -> None:
    with OAuthServer(**SERVERS[provider]) as server:
        project = '[providers.gemini]\nproject = "proj-1"\n' if provider == "gemini" else ""
        workspace.write_config(project + server.oauth_config(provider))
        started = time.time()
        result = run_rupu(
            "auth", "login", "--provider", provider, "--mode", "sso", env=browser_env(tmp_path)
        )
    assert result.code == 0, result.stderr
    assert f"Signed in to {provider} (expires in 59m, refreshes automatically" in result.stderr
    visit = browser_log(tmp_path)
    assert (
        len(visit) == 1 and visit[0]["callback_status"] == 200 and "signed in" in visit[0]["page"]
    )
    entry = stored(workspace)[f"{provider}/sso"]
    assert entry["secret"].startswith("at-") and entry["refresh_token"].startswith("rt-")
    assert started + 3590 < entry["expires_at"] < time.time() + 3601
    if provider == "gemini":
        assert entry["extras"] == {"project": "proj-1"}
    if provider == "openai":
        assert entry["extras"] == {"chatgpt_account_id": "acct-123"}
        assert "account acct-123" in result.stderr
    for secret in (entry["secret"], entry["refresh_token"]):
        assert secret not in result.output
    status = run_rupu("auth", "status", env=NO_KEYCHAIN)
    line = next(row for row in status.stdout.splitlines() if row.startswith(provider))
    assert "sso (expires in 59m)" in line and "stored sign-in (auth.json)" in line


def test_no_browser_prints_the_url_and_waits(workspace: Workspace) -> None:
    with OAuthServer() as server:
        workspace.write_config(server.oauth_config("openai"))
        env = {**os.environ, **NO_KEYCHAIN, "PYTHONPATH": str(REPO_ROOT)}
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "rupu",
                "auth",
                "login",
                "--provider",
                "openai",
                "--mode",
                "sso",
                "--no-browser",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
        )
        assert proc.stderr is not None
        lines = []
        for line in proc.stderr:
            lines.append(line)
            if line.startswith("http"):
                break
        assert "Open this URL in a browser" in "".join(lines)
        answer = httpx.get(lines[-1].strip())
        callback = answer.headers["location"].replace("localhost", "127.0.0.1")
        page = httpx.get(callback)
        _out, err = proc.communicate(timeout=30)
    assert page.status_code == 200
    assert proc.returncode == 0, err
    assert "openai/sso" in stored(workspace)


def test_denied_sign_in_is_one_message_and_stores_nothing(
    workspace: Workspace, tmp_path: Path
) -> None:
    with OAuthServer() as server:
        server.authorize_mode = "deny"
        workspace.write_config(server.oauth_config("gemini"))
        result = run_rupu(
            "auth", "login", "--provider", "gemini", "--mode", "sso", env=browser_env(tmp_path)
        )
    assert result.code == 4
    assert "rupu: error: gemini: sign-in denied: access_denied (The user said no)" in result.stderr
    assert "Traceback" not in result.stderr and stored(workspace) == {}


def test_forged_state_is_ignored_until_the_wait_ends(workspace: Workspace, tmp_path: Path) -> None:
    with OAuthServer() as server:
        server.authorize_mode = "wrong-state"
        workspace.write_config(server.oauth_config("anthropic"))
        result = run_rupu(
            "auth",
            "login",
            "--provider",
            "anthropic",
            "--mode",
            "sso",
            "--timeout",
            "1.5",
            env=browser_env(tmp_path),
        )
    assert browser_log(tmp_path)[0]["callback_status"] == 400
    assert result.code == 4
    assert "no answer from the browser within 1.5s" in result.stderr
    assert server.counts["code"] == 0 and stored(workspace) == {}


def test_copilot_device_code_sign_in(workspace: Workspace) -> None:
    with OAuthServer(device_interval=0.05) as server:
        server.device_script.extend(["pending", "approve"])  # slow_down: tests/auth/test_device.py
        workspace.write_config(server.oauth_config("copilot"))
        result = run_rupu(
            "auth", "login", "--provider", "copilot", "--mode", "sso", env=NO_KEYCHAIN
        )
    assert result.code == 0, result.stderr
    assert f"open {server.base_url}/device and enter the code: WDJB-MJHT" in result.stderr
    assert "never give it to anyone" in result.stderr
    assert server.counts["poll"] == 2
    assert stored(workspace)["copilot/sso"]["secret"].startswith("at-")


@pytest.mark.parametrize(
    ("script", "message"),
    [
        (["pending", "denied"], "the sign-in was denied in the browser"),
        (["expired"], "device code expired"),
    ],
)
def test_copilot_device_failures(workspace: Workspace, script: list[str], message: str) -> None:
    with OAuthServer(device_interval=0.05) as server:
        server.device_script.extend(script)
        workspace.write_config(server.oauth_config("copilot"))
        result = run_rupu(
            "auth", "login", "--provider", "copilot", "--mode", "sso", env=NO_KEYCHAIN
        )
    assert result.code == 4 and message in result.stderr
    assert "rupu auth login --provider copilot --mode sso" in result.stderr
    assert stored(workspace) == {}


def test_sso_for_a_key_only_provider_is_refused(workspace: Workspace) -> None:
    workspace.write_config('[providers.oracle]\nbase_url = "http://127.0.0.1:9/v1"\n')
    result = run_rupu("auth", "login", "--provider", "oracle", "--mode", "sso", env=NO_KEYCHAIN)
    assert result.code == 2 and "takes an API key" in result.stderr


def test_headless_run_on_an_anthropic_sign_in_warns_once(workspace: Workspace) -> None:
    """Identity honesty: a non-interactive run on a Claude subscription sign-in warns and proceeds
    (the request itself goes to a dead local port here)."""
    fd = os.open(workspace.home / "auth.json", os.O_WRONLY | os.O_CREAT, 0o600)
    entry = {
        "provider": "anthropic",
        "mode": "sso",
        "secret": "sk-ant-oat01-CANARYheadless",
        "refresh_token": "sk-ant-ort01-CANARYheadless",
        "expires_at": time.time() + 3600,
        "updated_at": time.time(),
    }
    os.write(fd, json.dumps({"version": 1, "credentials": {"anthropic/sso": entry}}).encode())
    os.close(fd)
    workspace.write_config('[providers.anthropic]\nbase_url = "http://127.0.0.1:9"\n')
    workspace.write_agent(
        "claude", "---\nname: claude\nprovider: anthropic\nmodel: claude-sonnet-4-6\n---\n\nHi.\n"
    )
    result = run_rupu(
        "run",
        "--agent",
        "claude",
        "hello",
        env={**NO_KEYCHAIN, "ANTHROPIC_API_KEY": "sk-ant-api03-unused"},
    )
    assert result.stderr.count("non-interactive run uses a Claude subscription sign-in") == 1
    assert "CANARYheadless" not in result.output


def test_browser_with_arguments_and_a_fallback_list(workspace: Workspace, tmp_path: Path) -> None:
    script = REPO_ROOT / "tests" / "servers" / "fake_browser.py"
    env = browser_env(tmp_path)
    env["BROWSER"] = (
        f"/nonexistent/browser --new-window{os.pathsep}{sys.executable} {script} --new-window"
    )
    with OAuthServer(**SERVERS["openai"]) as server:
        workspace.write_config(server.oauth_config("openai"))
        result = run_rupu("auth", "login", "--provider", "openai", "--mode", "sso", env=env)
        server.assert_clean()
    assert result.code == 0, result.stderr
    (visit,) = browser_log(tmp_path)
    assert visit["callback_status"] == 200
    assert "Could not open a browser" not in result.stderr


@pytest.mark.parametrize("browser", ["/nonexistent/browser --new-window %s", "false"])
def test_a_browser_that_cannot_start_is_reported_with_the_url_at_once(
    workspace: Workspace, browser: str
) -> None:
    with OAuthServer() as server:
        workspace.write_config(server.oauth_config("openai"))
        env = {**os.environ, **NO_KEYCHAIN, "PYTHONPATH": str(REPO_ROOT), "BROWSER": browser}
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "rupu",
                "auth",
                "login",
                "--provider",
                "openai",
                "--mode",
                "sso",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
        )
        assert proc.stderr is not None
        lines: list[str] = []
        for line in proc.stderr:
            lines.append(line)
            if line.startswith("http") and any("Could not open a browser" in x for x in lines):
                break
        said = "".join(lines)
        # The URL the failure shows is the sign-in URL; opening it by hand completes the sign-in.
        answer = httpx.get(lines[-1].strip())
        callback = answer.headers["location"].replace("localhost", "127.0.0.1")
        page = httpx.get(callback)
        _out, err = proc.communicate(timeout=30)
        server.assert_clean()
    assert "Could not open a browser: the browser" in said
    assert ("could not be started" in said) if browser != "false" else ("status 1" in said)
    assert page.status_code == 200
    assert proc.returncode == 0, err
