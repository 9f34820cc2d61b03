"""`rupu auth login/status/logout/backend` with API keys, end to end (real subprocesses)."""

from __future__ import annotations

import json
import os
import pty
import select
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, Workspace, run_rupu
from tests.servers.openai_chat import ChatCompletionsServer, stream_reply, text_stream, usage

ANTHROPIC_KEY = "sk-ant-api03-CANARYcliAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
ORACLE_KEY = "sk-oracle-CANARYcli-0123456789"
NO_KEYCHAIN = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
AGENT = """---
name: oracle-review
provider: oracle
model: glm-test
---

You review code.
"""


def oracle_config(workspace: Workspace, base_url: str) -> None:
    workspace.write_config(
        f'[providers.oracle]\nkind = "openai-compatible"\nbase_url = "{base_url}"\n'
    )
    workspace.write_agent("oracle-review", AGENT)


def assert_run_uses(
    workspace: Workspace, key: str, source: str, env: dict[str, str] | None = None
) -> None:
    with ChatCompletionsServer(api_key=key) as server:
        oracle_config(workspace, server.base_url)
        server.script.append(stream_reply(text_stream(["Fine."], with_usage=usage(3, 1))))
        result = run_rupu("run", "--agent", "oracle-review", "review this", env=env)
    assert result.code == 0, result.stderr
    assert server.requests[0].headers["authorization"] == f"Bearer {key}"
    footer = result.stderr.splitlines()[-1]
    assert footer.startswith("── oracle · glm-test") and f" · api-key from {source} · " in footer
    assert key not in result.output
    transcript = next((workspace.home / "transcripts").glob("*.jsonl")).read_text()
    start = json.loads(transcript.splitlines()[0])
    assert start["type"] == "run_start" and start["data"]["credential"] == f"api-key from {source}"
    assert key not in transcript


@pytest.mark.keychain
def test_acceptance_key_in_the_keychain_status_and_a_run(workspace: Workspace) -> None:
    """Acceptance 1 against the real Secret Service."""
    from keyring.backends.SecretService import Keyring

    login = run_rupu(
        "auth", "login", "--provider", "anthropic", "--mode", "api-key", input=ANTHROPIC_KEY + "\n"
    )
    assert login.code == 0, login.stderr
    assert "Saved the anthropic API key in keychain" in login.stderr
    raw = Keyring().get_password(f"rupu:{workspace.home}", "anthropic/api-key")
    assert raw is not None and json.loads(raw)["secret"] == ANTHROPIC_KEY
    assert not (workspace.home / "auth.json").exists()

    status = run_rupu("auth", "status")
    assert status.code == 0, status.stderr
    line = next(line for line in status.stdout.splitlines() if line.startswith("anthropic"))
    assert "api-key" in line and "stored API key (keychain)" in line
    assert "backend: keychain" in status.stdout and "SecretService" in status.stdout
    data = json.loads(run_rupu("auth", "status", "--format", "json").stdout)
    anthropic = next(p for p in data["providers"] if p["provider"] == "anthropic")
    assert anthropic["in_use"] == {"mode": "api-key", "source": "stored API key (keychain)"}
    assert ANTHROPIC_KEY not in status.output

    oracle = run_rupu(
        "auth", "login", "--provider", "oracle", "--mode", "api-key", input=ORACLE_KEY
    )
    assert oracle.code != 0 and "unknown provider 'oracle'" in oracle.stderr  # not declared yet
    oracle_config(workspace, "http://127.0.0.1:9/v1")
    assert run_rupu("auth", "login", "--provider", "oracle", input=ORACLE_KEY).code == 0
    assert_run_uses(workspace, ORACLE_KEY, "keychain", env={"RUPU_ORACLE_API_KEY": "sk-shadowed"})
    assert run_rupu("auth", "logout", "--all", "--yes").code == 0
    assert Keyring().get_password(f"rupu:{workspace.home}", "anthropic/api-key") is None


def test_acceptance_key_in_the_file_with_use_file(workspace: Workspace) -> None:
    """Acceptance 1 with `rupu auth backend --use file`."""
    switched = run_rupu("auth", "backend", "--use", "file")
    assert switched.code == 0 and "auth.json" in switched.stdout
    login = run_rupu(
        "auth", "login", "--provider", "anthropic", "--mode", "api-key", input=ANTHROPIC_KEY
    )
    assert login.code == 0, login.stderr
    path = workspace.home / "auth.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(workspace.home.stat().st_mode) == 0o700
    assert (
        json.loads(path.read_text())["credentials"]["anthropic/api-key"]["secret"] == ANTHROPIC_KEY
    )
    status = run_rupu("auth", "status")
    assert "stored API key (auth.json)" in status.stdout and ANTHROPIC_KEY not in status.output
    oracle_config(workspace, "http://127.0.0.1:9/v1")
    assert run_rupu("auth", "login", "--provider", "oracle", input=ORACLE_KEY).code == 0
    assert_run_uses(workspace, ORACLE_KEY, "auth.json")


def test_no_keychain_falls_back_to_the_file_and_says_so(workspace: Workspace) -> None:
    """C1: one notice naming the file; `auth backend` shows why."""
    login = run_rupu(
        "auth", "login", "--provider", "openai", input="sk-proj-CANARY1", env=NO_KEYCHAIN
    )
    assert login.code == 0, login.stderr
    assert f"credentials are saved in {workspace.home / 'auth.json'} (mode 0600)" in login.stderr
    backend = run_rupu("auth", "backend", env=NO_KEYCHAIN)
    assert f"backend: file {workspace.home / 'auth.json'}" in backend.stdout
    assert "keychain: no keychain backend was found" in backend.stdout
    again = run_rupu("auth", "login", "--provider", "gemini", input="AIzaCANARY2", env=NO_KEYCHAIN)
    assert "no usable keychain" not in again.stderr


def test_key_flag_warns_that_arguments_are_visible(workspace: Workspace) -> None:
    """C24."""
    result = run_rupu(
        "auth", "login", "--provider", "openai", "--key", "sk-proj-CANARY3", env=NO_KEYCHAIN
    )
    assert result.code == 0
    assert "other processes on this machine can read" in result.stderr
    quiet = run_rupu(
        "auth", "login", "--provider", "openai", "--key", "!pass show openai", env=NO_KEYCHAIN
    )
    assert "other processes" not in quiet.stderr and "(!command)" in quiet.stderr
    assert "pass show" not in quiet.output


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "no API key given"), ("sk one two", "contains spaces or line breaks")],
)
def test_bad_key_input_is_a_usage_error(workspace: Workspace, text: str, message: str) -> None:
    result = run_rupu("auth", "login", "--provider", "openai", input=text, env=NO_KEYCHAIN)
    assert result.code == 2 and message in result.stderr
    assert "Traceback" not in result.stderr


def test_hidden_prompt_does_not_echo_the_key(workspace: Workspace) -> None:
    env = {**os.environ, **NO_KEYCHAIN, "PYTHONPATH": str(REPO_ROOT)}
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(
            sys.executable,
            [sys.executable, "-m", "rupu", "auth", "login", "--provider", "openai"],
            env,
        )
    seen = b""
    deadline = time.monotonic() + 20
    sent = False
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        if not sent and b"API key for openai" in seen:
            os.write(fd, b"sk-proj-CANARYprompt\r")
            sent = True
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0, seen
    assert b"sk-proj-CANARYprompt" not in seen
    saved = json.loads((workspace.home / "auth.json").read_text())
    assert saved["credentials"]["openai/api-key"]["secret"] == "sk-proj-CANARYprompt"


def test_status_shows_the_winner_and_what_it_shadows(workspace: Workspace) -> None:
    """C20 / acceptance 4."""
    run_rupu("auth", "login", "--provider", "openai", input="sk-proj-CANARY4", env=NO_KEYCHAIN)
    env = {**NO_KEYCHAIN, "OPENAI_API_KEY": "sk-proj-CANARYenv", "GH_TOKEN": "ghp_CANARYgh"}
    status = run_rupu("auth", "status", env=env)
    lines = {line.split()[0]: line for line in status.stdout.splitlines() if line.strip()}
    assert (
        "stored API key (auth.json)" in lines["openai"]
        and "shadows env OPENAI_API_KEY" in lines["openai"]
    )
    assert "env GH_TOKEN" in lines["copilot"]
    assert "none found" in lines["gemini"]
    data = json.loads(run_rupu("auth", "status", "--format", "json", env=env).stdout)
    openai = next(p for p in data["providers"] if p["provider"] == "openai")
    assert openai["shadowed"] == ["env OPENAI_API_KEY"]
    assert data["backend"]["kind"] == "file"
    for text in (status.output, json.dumps(data)):
        assert "CANARY" not in text


def test_logout_one_mode_everything_and_confirmation(workspace: Workspace) -> None:
    for provider in ("openai", "gemini"):
        run_rupu("auth", "login", "--provider", provider, input=f"k-{provider}", env=NO_KEYCHAIN)
    one = run_rupu("auth", "logout", "--provider", "openai", "--mode", "api-key", env=NO_KEYCHAIN)
    assert one.code == 0 and "Removed the openai api-key credential" in one.stderr
    nothing = run_rupu("auth", "logout", "--provider", "openai", env=NO_KEYCHAIN)
    assert "Nothing stored for openai" in nothing.stderr
    refused = run_rupu("auth", "logout", "--all", env=NO_KEYCHAIN)
    assert refused.code == 2 and "add --yes" in refused.stderr
    everything = run_rupu("auth", "logout", "--all", "--yes", env=NO_KEYCHAIN)
    assert everything.code == 0 and "Removed 1 stored credential" in everything.stderr
    assert not (workspace.home / "auth.json").exists()


@pytest.mark.parametrize(
    ("provider", "message"),
    [
        ("antropic", "did you mean 'anthropic'"),
        ("../evil", "invalid provider name"),
        ("mock", "needs no credentials"),
    ],
)
def test_bad_provider_names(workspace: Workspace, provider: str, message: str) -> None:
    """C21 and a did-you-mean."""
    result = run_rupu("auth", "login", "--provider", provider, input="k", env=NO_KEYCHAIN)
    assert result.code == 2 and message in result.stderr
    assert not (workspace.home / "auth.json").exists()


def test_corrupt_auth_json_is_reported_and_kept(workspace: Workspace) -> None:
    """C8 at the command line: exit 2, the file named, no content, nothing replaced."""
    path = workspace.home / "auth.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b'{"version": 1, "credentials": {"openai/api-key": {"secret": "sk-proj-CANARYtorn')
    os.close(fd)
    before = path.read_bytes()
    for args in (("auth", "status"), ("auth", "login", "--provider", "gemini")):
        result = run_rupu(*args, input="k2", env=NO_KEYCHAIN)
        assert "is not valid JSON" in result.output and str(path) in result.output
        assert "CANARY" not in result.output and "Traceback" not in result.output
    assert path.read_bytes() == before


def test_status_with_a_hung_keychain_finishes_in_time(workspace: Workspace) -> None:
    """G8: a keychain that never answers costs one bounded wait (3 s), not a hang."""
    env = {
        "PYTHON_KEYRING_BACKEND": "tests.auth.keyrings.HangingKeyring",
        "RUPU_AUTH_BACKEND": "keychain",
    }
    started = time.monotonic()
    result = run_rupu("auth", "status", env=env)
    elapsed = time.monotonic() - started
    assert result.code == 0, result.stderr
    assert "did not answer within 3s" in result.stdout
    assert elapsed < 5.0 + 1.5  # 3 s bound + interpreter start on a loaded machine
    print(f"G8: rupu auth status with a hung keychain took {elapsed:.1f}s")


def test_run_without_any_credential_lists_every_place(workspace: Workspace) -> None:
    oracle_config(workspace, "http://127.0.0.1:9/v1")
    result = run_rupu("run", "--agent", "oracle-review", "hi", env=NO_KEYCHAIN)
    assert result.code == 4
    assert "no credential found" in result.stderr
    assert "env RUPU_ORACLE_API_KEY: not set" in result.stderr
    assert "rupu auth login --provider oracle --mode api-key" in result.stderr


def test_run_with_a_key_command_in_config(workspace: Workspace, tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text(ORACLE_KEY + "\n")
    with ChatCompletionsServer(api_key=ORACLE_KEY) as server:
        workspace.write_config(
            f'[providers.oracle]\nbase_url = "{server.base_url}"\napi_key = "!cat {secret_file}"\n'
        )
        workspace.write_agent("oracle-review", AGENT)
        server.script.append(stream_reply(text_stream(["ok"])))
        result = run_rupu("run", "--agent", "oracle-review", "hi", env=NO_KEYCHAIN)
    assert result.code == 0, result.stderr
    assert "(!command)" in result.stderr, "the footer says the key came from a command"
    assert str(secret_file) not in result.output, "but never shows the command text"
    status = run_rupu("auth", "status", env=NO_KEYCHAIN)
    assert status.code == 0, status.stderr
    line = next(row for row in status.stdout.splitlines() if row.startswith("oracle"))
    assert "!command" in line and str(secret_file) not in status.output


def test_key_stays_out_of_process_arguments(workspace: Workspace) -> None:
    """G7 for argv: while a run is in flight, no process on the machine shows the key."""
    from tests.servers.base import Reply

    run_rupu("auth", "login", "--provider", "openai", input="x", env=NO_KEYCHAIN)
    with ChatCompletionsServer(api_key=ORACLE_KEY) as server:
        oracle_config(workspace, server.base_url)
        run_rupu("auth", "login", "--provider", "oracle", input=ORACLE_KEY, env=NO_KEYCHAIN)
        slow = stream_reply(text_stream(["ok"]))
        server.script.append(Reply(chunks=slow.chunks, headers=slow.headers, delay=1.0))
        env = {**os.environ, **NO_KEYCHAIN, "PYTHONPATH": str(REPO_ROOT)}
        proc = subprocess.Popen(
            [sys.executable, "-m", "rupu", "run", "--agent", "oracle-review", "hi"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        hits, scanned = 0, 0
        deadline = time.monotonic() + 15
        while proc.poll() is None and time.monotonic() < deadline:
            for entry in Path("/proc").iterdir():
                if entry.name.isdigit():
                    try:
                        argv = (entry / "cmdline").read_bytes()
                    except OSError:
                        continue
                    scanned += 1
                    hits += ORACLE_KEY.encode() in argv
            time.sleep(0.05)
        _out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert scanned > 0 and hits == 0
