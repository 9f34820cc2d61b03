"""`rupu auth backend --use encrypted-file`, end to end (real subprocesses): credentials in
`auth.enc`, unlocked by RUPU_AUTH_PASSPHRASE or a terminal prompt; a wrong passphrase is exit 4 and
leaves the file alone; switching between the backends moves everything and leaves no plaintext."""

from __future__ import annotations

import json
import os
import pty
import select
import sys
import time
from pathlib import Path

import pytest

from tests.cli.test_auth_keys import ANTHROPIC_KEY, ORACLE_KEY, assert_run_uses, oracle_config
from tests.conftest import REPO_ROOT, Workspace, run_rupu

NO_KEYCHAIN = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
PASSPHRASE = "CANARY-passphrase-7d1"
UNLOCKED = {**NO_KEYCHAIN, "RUPU_AUTH_PASSPHRASE": PASSPHRASE}


def secret_free(home: Path, *secrets: str) -> None:
    """No file under RUPU_HOME holds any of `secrets` in the clear."""
    for path in home.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for secret in secrets:
                assert secret.encode() not in data, path


def test_keys_live_encrypted_and_a_run_uses_them(workspace: Workspace) -> None:
    switched = run_rupu("auth", "backend", "--use", "encrypted-file", env=UNLOCKED)
    assert switched.code == 0, switched.stderr
    assert f"encrypted file {workspace.home / 'auth.enc'}" in switched.stdout
    login = run_rupu("auth", "login", "--provider", "anthropic", input=ANTHROPIC_KEY, env=UNLOCKED)
    assert login.code == 0, login.stderr
    assert "Saved the anthropic API key in encrypted file" in login.stderr
    assert (workspace.home / "auth.enc").exists() and not (workspace.home / "auth.json").exists()
    secret_free(workspace.home, ANTHROPIC_KEY, PASSPHRASE)

    status = run_rupu("auth", "status", env=UNLOCKED)
    assert status.code == 0, status.stderr
    line = next(row for row in status.stdout.splitlines() if row.startswith("anthropic"))
    assert "stored API key (auth.enc)" in line
    assert ANTHROPIC_KEY not in status.output and PASSPHRASE not in status.output

    oracle_config(workspace, "http://127.0.0.1:9/v1")
    assert (
        run_rupu("auth", "login", "--provider", "oracle", input=ORACLE_KEY, env=UNLOCKED).code == 0
    )
    assert_run_uses(workspace, ORACLE_KEY, "auth.enc", env=UNLOCKED)


def test_wrong_or_missing_passphrase_is_exit_4_and_the_file_is_untouched(
    workspace: Workspace,
) -> None:
    assert run_rupu("auth", "backend", "--use", "encrypted-file", env=UNLOCKED).code == 0
    assert (
        run_rupu(
            "auth", "login", "--provider", "openai", input="sk-proj-CANARYenc", env=UNLOCKED
        ).code
        == 0
    )
    path = workspace.home / "auth.enc"
    before = path.read_bytes()
    wrong = {**NO_KEYCHAIN, "RUPU_AUTH_PASSPHRASE": "not it"}
    for args in (
        ("auth", "login", "--provider", "anthropic"),
        ("auth", "logout", "--provider", "openai"),
        ("auth", "backend", "--use", "file"),
    ):
        result = run_rupu(*args, input=ANTHROPIC_KEY, env=wrong)
        assert result.code == 4, (args, result.stderr)
        assert "auth.enc: cannot be decrypted: wrong passphrase" in result.stderr
        assert "Traceback" not in result.stderr and "sk-proj-CANARYenc" not in result.output
    assert path.read_bytes() == before and not (workspace.home / "auth.json").exists()

    workspace.write_agent(
        "coder", "---\nname: coder\nprovider: openai\nmodel: gpt-5.4\n---\nCode.\n"
    )
    missing = run_rupu("run", "--agent", "coder", "hi", env=NO_KEYCHAIN)
    assert missing.code == 4, missing.stderr
    assert "RUPU_AUTH_PASSPHRASE is not set" in missing.stderr
    assert run_rupu("auth", "logout", "--provider", "openai", env=UNLOCKED).code == 0
    assert not path.exists()


def test_switching_file_and_encrypted_file_both_ways(workspace: Workspace) -> None:
    assert run_rupu("auth", "backend", "--use", "file", env=NO_KEYCHAIN).code == 0
    assert (
        run_rupu(
            "auth", "login", "--provider", "anthropic", input=ANTHROPIC_KEY, env=NO_KEYCHAIN
        ).code
        == 0
    )
    plain = workspace.home / "auth.json"
    encrypted = workspace.home / "auth.enc"

    to_encrypted = run_rupu("auth", "backend", "--use", "encrypted-file", env=UNLOCKED)
    assert to_encrypted.code == 0, to_encrypted.stderr
    assert "Moved 1 credential from the file to the encrypted-file" in to_encrypted.stdout
    assert f"{plain} was removed." in to_encrypted.stdout
    assert encrypted.exists() and not plain.exists()
    secret_free(workspace.home, ANTHROPIC_KEY)

    back = run_rupu("auth", "backend", "--use", "file", env=UNLOCKED)
    assert back.code == 0, back.stderr
    assert f"{encrypted} was removed." in back.stdout
    assert not encrypted.exists()
    saved = json.loads(plain.read_text())["credentials"]["anthropic/api-key"]
    assert saved["secret"] == ANTHROPIC_KEY
    shown = run_rupu("auth", "backend", env=NO_KEYCHAIN)
    assert f"encrypted file: {encrypted} (absent)" in shown.stdout


@pytest.mark.keychain
def test_switching_keychain_and_encrypted_file_both_ways(workspace: Workspace) -> None:
    from keyring.backends.SecretService import Keyring

    service = f"rupu:{workspace.home}"
    assert run_rupu("auth", "backend", "--use", "keychain").code == 0
    assert run_rupu("auth", "login", "--provider", "anthropic", input=ANTHROPIC_KEY).code == 0
    to_encrypted = run_rupu(
        "auth", "backend", "--use", "encrypted-file", env={"RUPU_AUTH_PASSPHRASE": PASSPHRASE}
    )
    assert to_encrypted.code == 0, to_encrypted.stderr
    assert Keyring().get_password(service, "anthropic/api-key") is None
    assert not (workspace.home / "auth.json").exists()
    secret_free(workspace.home, ANTHROPIC_KEY)
    back = run_rupu(
        "auth", "backend", "--use", "keychain", env={"RUPU_AUTH_PASSPHRASE": PASSPHRASE}
    )
    assert back.code == 0, back.stderr
    raw = Keyring().get_password(service, "anthropic/api-key")
    assert raw is not None and json.loads(raw)["secret"] == ANTHROPIC_KEY
    assert (
        not (workspace.home / "auth.enc").exists() and not (workspace.home / "auth.json").exists()
    )
    assert run_rupu("auth", "logout", "--all", "--yes").code == 0


def test_the_passphrase_is_asked_on_the_terminal_without_echo(workspace: Workspace) -> None:
    env = {**os.environ, **NO_KEYCHAIN, "RUPU_AUTH_BACKEND": "encrypted-file"}
    env["PYTHONPATH"] = str(REPO_ROOT)
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(
            sys.executable,
            [sys.executable, "-m", "rupu", "auth", "login", "--provider", "openai"],
            env,
        )
    answers = [
        (b"API key for openai", b"sk-proj-CANARYtty\r"),
        (b"Passphrase for the rupu credential file", b"tty-CANARY-pass\r"),
        (b"Repeat the passphrase", b"tty-CANARY-pass\r"),
    ]
    seen = b""
    deadline = time.monotonic() + 30
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
        if answers and answers[0][0] in seen:
            os.write(fd, answers.pop(0)[1])
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0, seen
    assert answers == []
    assert b"sk-proj-CANARYtty" not in seen and b"tty-CANARY-pass" not in seen
    secret_free(workspace.home, "sk-proj-CANARYtty", "tty-CANARY-pass")
    status_run = run_rupu(
        "auth",
        "status",
        "--format",
        "json",
        env={
            **NO_KEYCHAIN,
            "RUPU_AUTH_BACKEND": "encrypted-file",
            "RUPU_AUTH_PASSPHRASE": "tty-CANARY-pass",
        },
    )
    data = json.loads(status_run.stdout)
    openai = next(p for p in data["providers"] if p["provider"] == "openai")
    assert openai["in_use"] == {"mode": "api-key", "source": "stored API key (auth.enc)"}
