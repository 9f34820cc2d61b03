"""`rupu completion`: the scripts work in the real shells (bash, zsh and fish from Debian, driven
non-interactively) and complete agent, workflow, provider and model names, run and transcript ids
from what is on this machine; completing loads none of the run machinery."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, Workspace, run_rupu

Complete = Callable[[str], list[str]]

# zsh displays candidates with builtins that exist only inside a completion widget; these record
# what the script hands them instead. Everything before (the script asking rupu) runs for real.
ZSH_RECORDERS = """
compdef() { : }
_describe() { for c in ${(P)3}; do print -r -- "described $c"; done }
compadd() { for c in ${(P)5}; do print -r -- "plain $c"; done }
"""


def _shell(name: str) -> str:
    found = shutil.which(name)
    if found is not None:
        return found
    if os.environ.get("SHELL_TESTS") == "required":
        pytest.fail(f"{name} is not installed; scripts/test installs it (apt-get install {name})")
    pytest.skip(f"{name} is not installed (scripts/test installs it as root)")


@pytest.fixture
def shell_env(tmp_path: Path) -> dict[str, str]:
    """The test's environment with a `rupu` on PATH running this checkout."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "rupu"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m rupu "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    env = dict(os.environ)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


def _script(shell: str, tmp_path: Path) -> Path:
    result = run_rupu("completion", shell)
    assert result.code == 0, result.stderr
    path = tmp_path / f"rupu.{shell}"
    path.write_text(result.stdout)
    return path


def _run(argv: list[str], env: dict[str, str]) -> list[str]:
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    return [line for line in proc.stdout.splitlines() if line]


@pytest.fixture(params=["bash", "zsh", "fish"])
def complete(request: pytest.FixtureRequest, tmp_path: Path, shell_env: dict[str, str]) -> Complete:
    """`complete("rupu run --agent ")`: the candidates the shell offers for that command line."""
    name = str(request.param)
    binary = _shell(name)
    script = _script(name, tmp_path)

    def run(line: str) -> list[str]:
        words = line.split(" ")
        match name:
            case "bash":
                array = " ".join(f"'{w}'" for w in words)
                code = (
                    f"source {script}; COMP_WORDS=({array}); COMP_CWORD={len(words) - 1}; "
                    'COMPREPLY=(); _rupu_completion rupu; printf "%s\\n" "${COMPREPLY[@]}"'
                )
                return _run([binary, "--norc", "--noprofile", "-c", code], shell_env)
            case "zsh":
                array = " ".join(f"'{w}'" for w in words)
                code = (
                    f"{ZSH_RECORDERS}\nsource {script}\n"
                    f"words=({array}); CURRENT={len(words)}; _rupu_completion"
                )
                shown = [c.split(" ", 1) for c in _run([binary, "-f", "-c", code], shell_env)]
                # _describe gets "value:description", colons in the value escaped
                return [
                    re.split(r"(?<!\\):", c)[0].replace("\\:", ":") if how == "described" else c
                    for how, c in shown
                ]
            case _:
                code = f"source {script}; complete -C '{line}'"
                # fish prints "candidate<TAB>description"
                return [
                    c.split("\t")[0] for c in _run([binary, "--no-config", "-c", code], shell_env)
                ]

    return run


def _project_with_samples(workspace: Workspace) -> None:
    assert run_rupu("init").code == 0
    workspace.write_agent("global-helper", "---\nname: global-helper\nprovider: mock\n---\nx\n")


def test_agent_names(workspace: Workspace, complete: Complete) -> None:
    _project_with_samples(workspace)
    # the order is the shell's (fish sorts)
    assert sorted(complete("rupu run --agent ")) == [
        "global-helper",
        "hello",
        "pair",
        "reviewer",
        "summarizer",
        "writer",
    ]
    assert complete("rupu run --agent s") == ["summarizer"]
    assert complete("rupu agent show w") == ["writer"]


def test_workflow_names_and_run_ids(workspace: Workspace, complete: Complete) -> None:
    _project_with_samples(workspace)
    assert complete("rupu workflow run ") == ["sample"]
    assert complete("rupu workflow show sa") == ["sample"]
    ran = run_rupu("workflow", "run", "sample", "--provider", "mock", "--plain")
    assert ran.code == 0, ran.stderr
    run_id = next(p.name for p in (workspace.home / "runs").iterdir() if p.is_dir())
    assert complete("rupu workflow show-run ") == [run_id]
    assert complete("rupu workflow resume run_") == [run_id]


def test_provider_and_model_names(workspace: Workspace, complete: Complete) -> None:
    workspace.write_config(
        '[providers.oracle]\nkind = "openai-compatible"\nbase_url = "http://127.0.0.1:9/v1"\n'
    )
    providers = complete("rupu run --agent x --provider ")
    assert {"anthropic", "openai", "gemini", "copilot", "mock", "openrouter", "oracle"} <= set(
        providers
    )
    assert complete("rupu auth login --provider orac") == ["oracle"]
    mock_models = complete("rupu run --agent x --provider mock --model ")
    assert "echo" in mock_models
    assert all(not m.startswith("claude") for m in mock_models)
    assert "claude-sonnet-4-6" in complete("rupu run --agent x --model claude-sonnet")
    assert "anthropic:claude-sonnet-4-6" in complete(
        "rupu run --agent x --fallback anthropic:claude-s"
    )


def test_transcript_ids(workspace: Workspace, complete: Complete) -> None:
    workspace.write_agent("hello", "---\nname: hello\nprovider: mock\n---\nx\n")
    assert run_rupu("run", "--agent", "hello", "hi").code == 0
    transcript = next((workspace.home / "transcripts").glob("run_*.jsonl")).stem
    assert complete("rupu transcript show ") == [transcript]


def test_completing_loads_no_run_machinery(workspace: Workspace, shell_env: dict[str, str]) -> None:
    """The price of a Tab is python, click and a glance at a few files: no pydantic, no config
    validation, no providers (measured figures are in bench/, not here)."""
    _project_with_samples(workspace)
    for words in (
        "rupu run --agent ",
        "rupu workflow run ",
        "rupu run --model ",
        "rupu auth login --provider ",
    ):
        env = {
            **shell_env,
            "_RUPU_COMPLETE": "bash_complete",
            "COMP_WORDS": words,
            "COMP_CWORD": str(len(words.split(" ")) - 1),
        }
        proc = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "rupu"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        imported = {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if "|" in line}
        assert proc.stdout.startswith("plain,"), (words, proc.stdout)
        heavy = {m for m in imported if m.split(".")[0] in {"pydantic", "httpx", "anyio", "yaml"}}
        assert not heavy, (words, sorted(heavy)[:5])
        assert not {m for m in imported if m.startswith(("rupu.config", "rupu.api", "rupu.agents"))}


def test_install_writes_where_each_shell_reads(workspace: Workspace, tmp_path: Path) -> None:
    home = tmp_path / "user"
    env = {"HOME": str(home), "XDG_DATA_HOME": "", "XDG_CONFIG_HOME": "", "ZDOTDIR": ""}
    expected = {
        "bash": home / ".local/share/bash-completion/completions/rupu",
        "zsh": home / ".zfunc/_rupu",
        "fish": home / ".config/fish/completions/rupu.fish",
    }
    for shell, path in expected.items():
        result = run_rupu("completion", shell, "--install", env=env)
        assert result.code == 0, result.stderr
        assert result.stdout.startswith(f"wrote {path}\n")
        assert path.read_text() == run_rupu("completion", shell).stdout


def test_unknown_shell_is_a_usage_error() -> None:
    result = run_rupu("completion", "tcsh")
    assert result.code == 2
    assert "'tcsh' is not one of 'bash', 'zsh', 'fish'" in result.stderr
