"""`rupu agent show` and `rupu workflow show` say where each setting came from (global / project /
path file:line, a flag, or the built-in default) and whether its scope is trusted."""

from __future__ import annotations

import orjson

from tests.conftest import Workspace, run_rupu

BOLD = "---\nname: bold\nprovider: mock\npermissionMode: bypass\n---\nGo.\n"


def test_agent_show_names_each_origin_and_trust(workspace: Workspace) -> None:
    workspace.write_config('permission_mode = "readonly"\n')
    agent = workspace.write_agent("bold", BOLD, project=True)
    result = run_rupu("agent", "show", "bold")
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"# bold  (project {agent} · not trusted)"
    assert lines[1].split("  ", 1)[0] == "provider: mock"
    assert lines[1].endswith(f"(project {agent}:3 · not trusted)")
    assert lines[2].endswith(f"(project {agent}:4 · not trusted)")
    assert lines[3].startswith("tools: all built-in tools") and lines[3].endswith(
        "(built-in default)"
    )
    assert f"needs trust: {agent}:4: agent 'bold' asks for permissionMode: bypass" in lines
    assert run_rupu("trust").code == 0
    trusted = run_rupu("agent", "show", "bold").stdout.splitlines()
    assert trusted[0] == f"# bold  (project {agent} · trusted)"
    assert not any(line.startswith("needs trust") for line in trusted)


def test_agent_show_names_the_config_default_it_falls_back_to(workspace: Workspace) -> None:
    config = workspace.write_config('default_provider = "mock"\npermission_mode = "readonly"\n')
    workspace.write_agent("plain", "---\nname: plain\n---\nHi.\n")
    lines = run_rupu("agent", "show", "plain").stdout.splitlines()
    assert lines[0] == f"# plain  (global {workspace.home / 'agents' / 'plain.md'})"
    assert any(
        line.startswith("provider: mock") and line.endswith(f"(global {config}:1)")
        for line in lines
    )
    assert any(
        line.startswith("permissionMode: readonly") and line.endswith(f"(global {config}:2)")
        for line in lines
    )


def test_workflow_show_names_where_agent_provider_and_model_came_from(
    workspace: Workspace,
) -> None:
    agent = workspace.write_agent("bold", BOLD, project=True)
    flows = workspace.project / ".rupu" / "workflows"
    flows.mkdir()
    flow = flows / "go.yaml"
    flow.write_text(
        "name: go\nsteps:\n  - id: one\n    agent: bold\n    prompt: hi\n"
        "  - id: two\n    agent: bold\n    model: echo\n    prompt: x\n"
    )
    result = run_rupu("workflow", "show", "go")
    assert result.code == 0, result.stderr
    text = result.stdout
    assert f"    agent bold  (project {agent} · not trusted)" in text
    assert f"    provider mock  (project {agent}:3 · not trusted)" in text
    assert "    model echo  (built-in default)" in text
    assert f"    model echo  (project {flow}:8 · not trusted)" in text
    assert f"needs trust: {agent}:4: agent 'bold' asks for permissionMode: bypass" in text

    flagged = orjson.loads(
        run_rupu("workflow", "show", "go", "--provider", "mock", "--format", "json").stdout
    )
    origins = flagged["steps"][0]["calls"][0]["origins"]
    assert origins["provider"] == {"scope": "flag", "where": "--provider", "trusted": None}
    assert origins["agent"] == {"scope": "project", "where": str(agent), "trusted": False}
    assert flagged["needs_trust"] == [f"{agent}:4: agent 'bold' asks for permissionMode: bypass"]
