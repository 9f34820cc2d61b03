"""`rupu init`: a fresh directory becomes a trusted project whose sample agents and workflow run
offline; existing files are never replaced without --force; a cloned project's own files are not
trusted behind the user's back."""

from __future__ import annotations

import json
from pathlib import Path

from rupu.api.project import starter_files
from tests.conftest import Workspace, run_rupu

STARTER_AGENTS = {"hello", "writer", "reviewer", "summarizer", "pair"}


def test_init_makes_a_trusted_project_whose_samples_run_on_mock(workspace: Workspace) -> None:
    made = run_rupu("init")
    assert made.code == 0, made.stderr
    dot = workspace.project / ".rupu"
    for name in starter_files():
        assert (dot / name).is_file(), name
        assert f"  .rupu/{name}" in made.stdout
    assert "trusted the project" in made.stdout
    next_lines = made.stdout.split("next:\n", 1)[1].splitlines()
    assert [line.split("#")[0].strip() for line in next_lines] == [
        "rupu agent list",
        'rupu run --agent hello "Hello"',
        "rupu workflow run sample --provider mock",
    ]
    trust = json.loads((workspace.home / "trust.json").read_text())
    assert str(workspace.project.resolve()) in trust["projects"]

    listed = run_rupu("agent", "list", "--format", "json")
    assert listed.code == 0, listed.stderr
    agents = json.loads(listed.stdout)["agents"]
    assert {a["name"] for a in agents} == STARTER_AGENTS
    # one sample per built-in provider family
    assert {a["provider"] for a in agents} == {"mock", "anthropic", "openai", "gemini", "copilot"}

    hello = run_rupu("run", "--agent", "hello", "Hello")
    assert hello.code == 0, hello.stderr
    assert hello.stdout.strip() == "Hello"
    for name in STARTER_AGENTS - {"hello"}:
        ran = run_rupu("run", "--agent", name, "--provider", "mock", "ping")
        assert ran.code == 0, (name, ran.stderr)

    flow = run_rupu("workflow", "run", "sample", "--provider", "mock", "--format", "json")
    assert flow.code == 0, flow.stderr
    events = [json.loads(line) for line in flow.stdout.splitlines()]
    finished = [e["step"] for e in events if e["type"] == "step_finished"]
    assert finished == ["draft", "review", "summary"]
    assert events[-1]["type"] == "run_finished"
    assert events[-1]["status"] == "succeeded"


def test_init_into_a_new_directory_prints_cd_in_next_steps(workspace: Workspace) -> None:
    made = run_rupu("init", "fresh/app")
    assert made.code == 0, made.stderr
    assert (workspace.project / "fresh" / "app" / ".rupu" / "agents" / "hello.md").is_file()
    assert "  cd fresh/app && rupu agent list" in made.stdout


def test_init_never_overwrites_other_content_without_force(workspace: Workspace) -> None:
    assert run_rupu("init").code == 0
    config = workspace.project / ".rupu" / "config.toml"
    hello = workspace.project / ".rupu" / "agents" / "hello.md"
    config.write_text('default_provider = "mock"\n')
    hello.write_text(hello.read_text().replace("friendly", "grumpy"))
    before = {p: p.read_bytes() for p in (config, hello)}

    again = run_rupu("init")
    assert again.code == 2
    assert again.stdout == ""
    assert again.stderr.count("\n") == 1
    assert ".rupu/agents/hello.md, .rupu/config.toml with other content" in again.stderr
    assert "--force" in again.stderr
    assert {p: p.read_bytes() for p in before} == before

    forced = run_rupu("init", "--force")
    assert forced.code == 0, forced.stderr
    assert "  .rupu/config.toml (replaced)" in forced.stdout
    assert config.read_bytes() == starter_files()["config.toml"]


def test_init_twice_changes_nothing(workspace: Workspace) -> None:
    assert run_rupu("init").code == 0
    again = run_rupu("init")
    assert again.code == 0, again.stderr
    assert "already holds the starter files; nothing to do" in again.stdout


def test_init_does_not_trust_files_it_did_not_write(workspace: Workspace) -> None:
    theirs = workspace.write_agent(
        "builder",
        "---\nname: builder\nprovider: mock\ntools: [bash]\npermission_mode: bypass\n---\nBuild.\n",
        project=True,
    )
    made = run_rupu("init")
    assert made.code == 0, made.stderr
    assert "not trusted" in made.stdout
    assert f"  {theirs.relative_to(workspace.project)}" in made.stdout
    assert not (workspace.home / "trust.json").exists()


def test_init_refuses_a_file_as_directory(workspace: Workspace, tmp_path: Path) -> None:
    target = workspace.project / "a-file"
    target.write_text("x")
    result = run_rupu("init", str(target))
    assert result.code == 2
    assert result.stderr.startswith("rupu: error:") or "Error" in result.stderr


def test_agent_list_in_an_empty_directory_suggests_init() -> None:
    result = run_rupu("agent", "list")
    assert "to start a project here with sample agents and a workflow: rupu init" in result.stderr
