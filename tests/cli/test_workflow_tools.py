"""Workflow steps get their agent's tools; steps never prompt, so `ask` denies writes and
`--mode bypass` allows them."""

from __future__ import annotations

import json

import pytest

from tests.conftest import Workspace, run_rupu

SCRIPT = """\
- tool_calls: [{name: write_file, arguments: {path: out.txt, content: written by a step}}]
- text: done
"""
WORKFLOW = """\
name: writer
steps:
  - id: write
    agent: scribe
    prompt: write the file
"""


@pytest.mark.parametrize(
    ("mode", "written"), [(None, False), ("bypass", True), ("readonly", False)]
)
def test_step_tools_follow_the_permission_mode(
    workspace: Workspace, mode: str | None, written: bool
) -> None:
    script = workspace.project / "script.yaml"
    script.write_text(SCRIPT)
    workspace.write_config(f'[providers.mock]\nscript = "{script}"\n')
    workspace.write_agent(
        "scribe", "---\nname: scribe\nprovider: mock\ntools: [write_file]\n---\nWrite.\n"
    )
    (workspace.project / "writer.yaml").write_text(WORKFLOW)
    args = ["workflow", "run", "writer.yaml", "--format", "json"]
    if mode:
        args += ["--mode", mode]
    result = run_rupu(*args)
    assert result.code == 0, result.stderr
    assert (workspace.project / "out.txt").exists() is written
    if written:
        assert (workspace.project / "out.txt").read_text() == "written by a step"
    assert all(json.loads(line) for line in result.stdout.splitlines() if line.strip())
    (transcript,) = (workspace.home / "runs").glob("*/transcripts/*.jsonl")
    events = [json.loads(line) for line in transcript.read_text().splitlines()]
    (tool_result,) = [e["data"] for e in events if e["type"] == "tool_result"]
    assert tool_result["is_error"] is not written
    assert events[-1]["type"] == "run_complete" and events[-1]["data"]["status"] == "ok"


def test_a_step_whose_agent_has_an_empty_tools_list_gets_no_tools(workspace: Workspace) -> None:
    script = workspace.project / "script.yaml"
    script.write_text(SCRIPT)
    workspace.write_config(f'[providers.mock]\nscript = "{script}"\n')
    workspace.write_agent("scribe", "---\nname: scribe\nprovider: mock\ntools: []\n---\nWrite.\n")
    (workspace.project / "writer.yaml").write_text(WORKFLOW)
    result = run_rupu("workflow", "run", "writer.yaml", "--mode", "bypass", "--plain")
    assert result.code == 0, result.stderr
    assert not (workspace.project / "out.txt").exists()
    (transcript,) = (workspace.home / "runs").glob("*/transcripts/*.jsonl")
    kinds = [json.loads(line)["type"] for line in transcript.read_text().splitlines()]
    assert "tool_audit" not in kinds and "tool_result" not in kinds
