"""Acceptance 1: the shipped examples dry-run offline with `--provider mock`, show the live view on a
terminal, and `--format json` emits parseable events. Also `list`, `show`, `runs` and `show-run`."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from tests.conftest import REPO_ROOT, Workspace, run_rupu

EXAMPLES = REPO_ROOT / "workflows"


@pytest.mark.parametrize("name", ["mixed-review", "fanout", "model-matrix"])
def test_example_dry_runs_offline_and_streams_json_events(name: str) -> None:
    result = run_rupu(
        "workflow", "run", str(EXAMPLES / f"{name}.yaml"), "--provider", "mock", "--format", "json"
    )
    assert result.code == 0, result.stderr
    events = [orjson.loads(line) for line in result.stdout.splitlines()]
    kinds = [e["type"] for e in events]
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
    assert events[-1]["status"] == "succeeded"
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert {e["provider"] for e in events if e["type"] == "unit_started"} == {"mock"}
    run_id = events[0]["run_id"]
    assert all(e["run_id"] == run_id for e in events)
    assert "Traceback" not in result.stderr


def test_mixed_review_fans_the_reviewers_out_and_reports(workspace: Workspace) -> None:
    result = run_rupu(
        "workflow", "run", str(EXAMPLES / "mixed-review.yaml"), "--provider", "mock", "--plain"
    )
    assert result.code == 0, result.stderr
    assert result.stdout.startswith("Merge these reviews of the current change into one report.")
    assert "## Review on OpenAI\nReview the current change." in result.stdout
    assert "review/openai running on mock · echo" in result.stderr
    assert "review/gemini running on mock · echo" in result.stderr
    assert "succeeded" in result.stderr.splitlines()[-1]


def test_the_live_view_draws_steps_on_a_terminal(workspace: Workspace) -> None:
    main, follower = pty.openpty()
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "TERM": "xterm-256color",
        "COLUMNS": "160",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rupu",
            "workflow",
            "run",
            str(EXAMPLES / "fanout.yaml"),
            "--provider",
            "mock",
        ],
        stdout=subprocess.PIPE,
        stderr=follower,
        stdin=subprocess.DEVNULL,
        env=env,
        cwd=workspace.project,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    stdout = proc.communicate(timeout=30)[0]
    os.close(main)
    screen = b"".join(chunks).decode("utf-8", "replace")
    assert proc.returncode == 0, screen
    assert "\x1b[?25l" in screen, "the live view hides the cursor while it redraws"
    for text in ("STEP", "STATE", "TOKENS", "translate", "collect", "succeeded", "5/5"):
        assert text in screen
    assert b"Check these translations" in stdout


def test_list_show_runs_and_show_run(workspace: Workspace) -> None:
    directory = workspace.project / ".rupu" / "workflows"
    directory.mkdir(parents=True)
    (directory / "fanout.yaml").write_text((EXAMPLES / "fanout.yaml").read_text())
    (directory / "broken.yaml").write_text("name: broken\nsteps: []\n")
    agents = workspace.project / ".rupu" / "agents"
    agents.mkdir()
    (agents / "translator.md").write_text((REPO_ROOT / "agents" / "translator.md").read_text())

    listed = run_rupu("workflow", "list")
    assert listed.code == 0
    assert "fanout" in listed.stdout and "project" in listed.stdout
    assert "broken.yaml:2: the workflow has no steps" in listed.stderr

    shown = run_rupu("workflow", "show", "fanout")
    assert shown.code == 0, shown.stderr
    assert "for_each → translator on openai · gpt-5-mini  [max_parallel 4]" in shown.stdout
    assert "translate ──▶ collect" in shown.stdout
    as_json = orjson.loads(run_rupu("workflow", "show", "fanout", "--format", "json").stdout)
    assert as_json["edges"] == [["translate", "collect"]]
    assert as_json["stages"] == [["translate"], ["collect"]]

    ran = run_rupu("workflow", "run", "fanout", "--provider", "mock", "-i", "languages=Welsh,Zulu")
    assert ran.code == 0, ran.stderr
    assert "Welsh: Translate into Welsh (language 1 of 2)" in ran.stdout
    runs = run_rupu("workflow", "runs")
    assert runs.code == 0
    row = runs.stdout.splitlines()[1].split()
    assert row[1:4] == ["fanout", "succeeded", "2/2"]
    detail = run_rupu("workflow", "show-run", row[0][:10])
    assert detail.code == 0, detail.stderr
    assert f"run {row[0]}: workflow fanout" in detail.stdout
    assert "✓ translate  succeeded  2/2 units ok" in detail.stdout
    summary = orjson.loads(run_rupu("workflow", "show-run", row[0], "--format", "json").stdout)
    assert summary["inputs"]["languages"] == ["Welsh", "Zulu"]
    assert summary["steps"][0]["unit_records"][1]["transcript"] == "transcripts/translate.1.jsonl"
    transcript = Path(summary["directory"]) / "transcripts" / "translate.1.jsonl"
    kinds = [orjson.loads(line)["type"] for line in transcript.read_text().splitlines()]
    assert kinds[0] == "run_start" and kinds[-1] == "run_complete"
