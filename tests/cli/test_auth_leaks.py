"""G7: canary secrets in every credential path; none may appear in any output, error, transcript
or other file rupu writes (the credential store itself excepted). Checked by exact match and by
gitleaks-style key patterns."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT, CliResult, Workspace, run_rupu
from tests.servers.oauth import OAuthServer
from tests.servers.openai_chat import ChatCompletionsServer, error_reply, stream_reply, text_stream

CANARIES = {
    "anthropic": "sk-ant-api03-" + "C4nary" * 15 + "abc" + "AA",
    "openai": "sk-proj-" + "C4nary" * 4 + "T3BlbkFJ" + "C4nary" * 4,
    "copilot": "ghp_" + "C4nary" * 6,
    "gemini": "AIza" + "C4nary" * 5 + "C4nar",
    "oracle": "sk-oracle-C4nary-0123456789abcdef",
}
PATTERNS = [
    re.compile(r"sk-ant-(?:api03|admin01|oat01|ort01)-[\w-]{20,}"),
    re.compile(r"sk-(?:proj|svcacct|admin)-[\w-]{20,}"),
    re.compile(r"sk-[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}"),
    re.compile(r"gh[pousr]_[A-Za-z0-9]{36}"),
    re.compile(r"AIza[\w-]{35}"),
    re.compile(r"\b(?:at|rt)-[\w-]{24,}"),  # the loopback server's access and refresh tokens
]
NO_KEYCHAIN = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
AGENT = "---\nname: review\nprovider: oracle\nmodel: m\n---\n\nReview.\n"


def scan(texts: dict[str, str], secrets: list[str]) -> list[str]:
    hits: list[str] = []
    for name, text in texts.items():
        hits.extend(f"{name}: exact canary" for secret in secrets if secret in text)
        hits.extend(f"{name}: pattern {p.pattern}" for p in PATTERNS if p.search(text))
    return hits


def test_no_canary_reaches_any_output(workspace: Workspace, tmp_path: Path) -> None:
    outputs: dict[str, CliResult] = {}

    def rupu(
        label: str, *args: str, input: str | None = None, env: dict[str, str] | None = None
    ) -> CliResult:
        result = run_rupu(*args, input=input, env={**NO_KEYCHAIN, **(env or {})})
        outputs[label] = result
        return result

    script = REPO_ROOT / "tests" / "servers" / "fake_browser.py"
    browser = {
        "BROWSER": f"{sys.executable} {script} %s",
        "FAKE_BROWSER_LOG": str(tmp_path / "b.jsonl"),
    }
    with OAuthServer(
        id_token_claims={"https://api.openai.com/auth": {"chatgpt_account_id": "a"}}
    ) as oauth:
        with ChatCompletionsServer(api_key=CANARIES["oracle"]) as chat:
            workspace.write_config(
                f'[providers.oracle]\nbase_url = "{chat.base_url}"\n' + oauth.oauth_config("openai")
            )
            workspace.write_agent("review", AGENT)
            for provider, secret in CANARIES.items():
                assert (
                    rupu(
                        f"login-{provider}", "auth", "login", "--provider", provider, input=secret
                    ).code
                    == 0
                )
            assert (
                rupu(
                    "login-openai-sso",
                    "auth",
                    "login",
                    "--provider",
                    "openai",
                    "--mode",
                    "sso",
                    env=browser,
                ).code
                == 0
            )
            in_env = {"GH_TOKEN": CANARIES["copilot"], "GEMINI_API_KEY": CANARIES["gemini"]}
            rupu("status", "auth", "status", env=in_env)
            rupu("status-json", "auth", "status", "--format", "json", env=in_env)
            chat.script.append(stream_reply(text_stream(["fine"])))
            assert rupu("run", "run", "--agent", "review", "go").code == 0
            chat.script.append(
                error_reply(401, "Incorrect API key provided", "invalid_request_error")
            )
            rupu("run-401", "--debug", "run", "--agent", "review", "go")
            rupu("logout-one", "auth", "logout", "--provider", "oracle")
            secret_file = tmp_path / "oracle-key"
            secret_file.write_text(CANARIES["oracle"])
            workspace.write_config(
                f'[providers.oracle]\nbase_url = "{chat.base_url}"\n'
                f'api_key = "!cat {secret_file}; exit 4"\n'
            )
            rupu("bad-command", "run", "--agent", "review", "go")
        issued = [t for f in oauth.families.values() for t in (*f.access, f.live_refresh)]
    auth_file = workspace.home / "auth.json"
    stored = json.loads(auth_file.read_text())["credentials"]
    assert stored["openai/sso"]["secret"] in issued  # the canaries really went into the store
    broken = auth_file.read_text()[:-40]
    fd = os.open(auth_file, os.O_WRONLY | os.O_TRUNC)
    os.write(fd, broken.encode())
    os.close(fd)
    rupu("corrupt", "auth", "status")

    texts = {
        f"{label} {stream}": getattr(result, stream)
        for label, result in outputs.items()
        for stream in ("stdout", "stderr")
    }
    for path in workspace.home.rglob("*"):
        if path.is_file() and path.name not in ("auth.json",):
            texts[str(path.relative_to(workspace.home))] = path.read_text(errors="replace")
    texts["browser log"] = (tmp_path / "b.jsonl").read_text()
    hits = scan(texts, [*CANARIES.values(), *issued])
    scanned = sum(len(t) for t in texts.values())
    print(f"G7: {len(texts)} artefacts, {scanned} characters scanned, {len(hits)} canary hits")
    assert hits == []
    assert len(outputs) >= 9 and any("transcripts" in name for name in texts)
