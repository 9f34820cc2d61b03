"""Fixtures every test gets: a private RUPU_HOME and project directory, provider secrets removed from
the environment, `rupu` run as a real subprocess, and loopback servers that fail the test at teardown
when they rejected a request the test did not expect."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers.base import LoopbackServer

REPO_ROOT = Path(__file__).resolve().parent.parent
SECRET_VARS = (
    "ANTHROPIC_API_KEY",
    "OPENAI_API_KEY",
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "COPILOT_GITHUB_TOKEN",
    "GH_TOKEN",
    "GITHUB_TOKEN",
    "BRAVE_API_KEY",
    "TAVILY_API_KEY",
    "SERPER_API_KEY",
    "HF_TOKEN",
    "CHATGPT_OAUTH_TOKEN",
    "ANTHROPIC_OAUTH_TOKEN",
    "GEMINI_OAUTH_TOKEN",
    "ANTIGRAVITY_OAUTH_TOKEN",
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Workspace:
    home: Path
    project: Path

    def write_config(self, text: str, *, project: bool = False) -> Path:
        path = (self.project / ".rupu" / "config.toml") if project else (self.home / "config.toml")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def write_agent(self, name: str, text: str, *, project: bool = False) -> Path:
        directory = (self.project / ".rupu" / "agents") if project else (self.home / "agents")
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{name}.md"
        path.write_text(text)
        return path


@pytest.fixture(autouse=True)
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Workspace]:
    home = tmp_path / "home" / ".rupu"
    project = tmp_path / "project"
    home.mkdir(parents=True)
    project.mkdir()
    for name in list(os.environ):
        if name in SECRET_VARS or name.startswith("RUPU_") or name.endswith("_API_KEY"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RUPU_HOME", str(home))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.chdir(project)
    yield Workspace(home, project)


@pytest.fixture(autouse=True)
def _loopback_servers_reject_nothing() -> Iterator[None]:
    """Fail the test at teardown if any loopback server it started recorded a violation that the test
    did not take with `server.take_violations()`."""
    LoopbackServer.started.clear()
    yield
    started = list(LoopbackServer.started)
    LoopbackServer.started.clear()
    rejected = [
        f"{type(server).__name__} at {server.base_url} rejected: {violation}"
        for server in started
        for violation in server.violations
    ]
    if rejected:
        pytest.fail(
            "loopback servers rejected requests the test did not expect:\n"
            + "\n".join(f"  - {line}" for line in rejected),
            pytrace=False,
        )


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_rupu(
    *args: str,
    input: str | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 30,
) -> CliResult:
    """`rupu ARGS` in a real subprocess with the test's environment (plus `env`)."""
    full_env = {**os.environ, **(env or {})}
    full_env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(REPO_ROOT), full_env.get("PYTHONPATH")])
    )
    proc = subprocess.run(
        [sys.executable, "-m", "rupu", *args],
        input=input if input is not None else "",
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd or Path.cwd(),
        timeout=timeout,
        check=False,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def rupu() -> Callable[..., CliResult]:
    """Call as `rupu("run", "--agent", ...)`."""
    return run_rupu


@pytest.fixture(autouse=True)
def _secret_service_for_keychain_tests(request: pytest.FixtureRequest) -> None:
    """Tests marked `keychain` get a real Secret Service (see tests/servers/secret_service.py). When
    `scripts/test` had one to start (KEYCHAIN_TESTS=required), a missing one fails them; otherwise
    (not root, nothing installed) they skip with the reason."""
    if request.node.get_closest_marker("keychain") is None:
        return
    from tests.servers.secret_service import ensure_secret_service

    problem = ensure_secret_service()
    if problem is None:
        return
    if os.environ.get("KEYCHAIN_TESTS") == "required":
        pytest.fail(f"no Secret Service for a keychain test: {problem}")
    pytest.skip(f"no Secret Service: {problem}")
