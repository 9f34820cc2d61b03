"""Ctrl-C, SIGKILL and approvals against a real `rupu` process (X11, X13): the run record is
flushed, the exit code is 130, and resume finishes the run reusing what completed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.cli.test_auth_sso import NO_KEYCHAIN, SERVERS
from tests.conftest import REPO_ROOT, Workspace, run_rupu
from tests.servers.base import RecordedRequest, Reply
from tests.servers.oauth import OAuthServer
from tests.servers.openai_chat import ChatCompletionsServer, stream_reply, text_stream, usage

WORKFLOW = """
name: flow
steps:
  - id: first
    agent: worker
    prompt: quick start
  - id: fan
    agent: worker
    for_each: [a, b, c]
    prompt: "slow {{ item }} after {{ steps.first.output }}"
"""
KEY = {"RUPU_ALPHA_API_KEY": "k"}


class Server(ChatCompletionsServer):
    slow = True

    def answer(self, request: RecordedRequest) -> Reply:
        prompt = request.body["messages"][-1]["content"]
        delay = 30.0 if self.slow and prompt.startswith("slow") else 0.0
        pieces = [prompt.split()[0], " ", prompt.split()[1]]
        return stream_reply(text_stream(pieces, with_usage=usage()), delay=delay)


@pytest.fixture
def server(workspace: Workspace) -> Iterator[Server]:
    with Server(api_key="k") as found:
        found.default_reply = found.answer
        workspace.write_config(f'[providers.alpha]\nbase_url = "{found.base_url}"\n')
        workspace.write_agent(
            "worker", "---\nname: worker\nprovider: alpha\nmodel: m\n---\nWork.\n", project=True
        )
        directory = workspace.project / ".rupu" / "workflows"
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "flow.yaml").write_text(WORKFLOW)
        yield found


def start_run(workspace: Workspace, *args: str) -> tuple[subprocess.Popen[str], str]:
    """Starts `rupu workflow run flow --format json` and returns once all three slow units are
    running and on record as started."""
    env = {**os.environ, **KEY, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "rupu", "workflow", "run", "flow", "--format", "json", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=workspace.project,
    )
    assert proc.stdout is not None
    running, run_id = 0, ""
    while running < 3:
        line = proc.stdout.readline()
        assert line, proc.stderr.read() if proc.stderr else "rupu exited early"
        event = orjson.loads(line)
        run_id = event["run_id"]
        running += event["type"] == "unit_started" and event["step"] == "fan"
    events = workspace.home / "runs" / run_id / "events.jsonl"
    deadline = time.monotonic() + 10
    while events.read_bytes().count(b'"type":"unit_started"') < 4:
        assert time.monotonic() < deadline, "the unit_started events never reached the disk"
        time.sleep(0.01)
    return proc, run_id


def lines(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def test_ctrl_c_flushes_the_record_exits_130_and_resume_finishes(
    workspace: Workspace, server: Server
) -> None:
    proc, run_id = start_run(workspace)
    interrupted_at = time.monotonic()
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=10)
    assert time.monotonic() - interrupted_at < 2
    assert proc.returncode == 130, stderr
    assert f"interrupted; run {run_id} is saved (resume it with `rupu workflow resume" in stderr
    assert "Traceback" not in stderr
    assert orjson.loads(stdout.splitlines()[-1])["status"] == "interrupted"
    directory = workspace.home / "runs" / run_id
    assert orjson.loads((directory / "state.json").read_bytes())["status"] == "interrupted"
    fan_units = [u for u in lines(directory / "units.jsonl") if u["step"] == "fan"]
    assert sorted((u["unit"], u["status"]) for u in fan_units) == [
        (0, "interrupted"),
        (1, "interrupted"),
        (2, "interrupted"),
    ]
    assert orjson.loads((directory / "steps" / "fan.json").read_bytes())["status"] == "interrupted"
    assert lines(directory / "events.jsonl")[-1]["type"] == "run_finished"

    server.slow = False
    before = len(server.requests)
    resumed = run_rupu("workflow", "resume", run_id, "--format", "json", env=KEY)
    assert resumed.code == 0, resumed.stderr
    events = [orjson.loads(line) for line in resumed.stdout.splitlines()]
    assert [(e["step"], e["unit"]) for e in events if e["type"] == "unit_reused"] == [("first", 0)]
    assert events[-1]["status"] == "succeeded"
    prompts = sorted(r.body["messages"][-1]["content"] for r in server.requests[before:])
    assert prompts == [
        "slow a after quick start",
        "slow b after quick start",
        "slow c after quick start",
    ]


def test_sigterm_exits_143_and_the_records_say_terminated(
    workspace: Workspace, server: Server
) -> None:
    proc, run_id = start_run(workspace)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=10)
    assert proc.returncode == 143, stderr
    assert "terminating (SIGTERM)" in stderr and "interrupted (Ctrl-C)" not in stderr
    assert f"rupu: terminated (SIGTERM); run {run_id} is saved" in stderr
    assert "Traceback" not in stderr
    directory = workspace.home / "runs" / run_id
    state = orjson.loads((directory / "state.json").read_bytes())
    assert (state["status"], state["error"]) == ("interrupted", "terminated (SIGTERM)")
    fan_units = [u for u in lines(directory / "units.jsonl") if u["step"] == "fan"]
    assert {(u["status"], u["error"]) for u in fan_units} == {
        ("interrupted", "terminated (SIGTERM)")
    }


SIGNED_IN = """
name: signed
steps:
  - id: only
    agent: signed
    prompt: hi
"""


def interrupt_twice(proc: subprocess.Popen[str], oauth: OAuthServer) -> tuple[str, str]:
    """Ctrl-C once rupu is waiting for the token server, and again once it says it is stopping;
    returns the rest of stdout and stderr."""
    assert proc.stderr is not None
    deadline = time.monotonic() + 30
    while not oauth.requests:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "rupu never asked to refresh the sign-in"
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    first = ""
    while not first.startswith("rupu: interrupting:"):
        first = proc.stderr.readline()
        assert first, "rupu exited before it acknowledged the first Ctrl-C"
    assert first == (
        "rupu: interrupting: cancelling running steps and saving the run record"
        " (Ctrl-C again to exit at once)\n"
    )
    proc.send_signal(signal.SIGINT)
    return proc.communicate(timeout=10)


def test_a_second_ctrl_c_exits_at_once(workspace: Workspace) -> None:
    """The first Ctrl-C lands while the run is inside a sign-in refresh, which is shielded from
    cancellation (the server may already have rotated the token), and the token server does not
    answer: the graceful stop cannot finish, so only the second Ctrl-C can end the process."""
    entry = {
        "provider": "anthropic",
        "mode": "sso",
        "secret": "sk-ant-oat01-expired",
        "refresh_token": "sk-ant-ort01-live",
        "expires_at": time.time() - 10,
        "updated_at": time.time() - 3600,
    }
    fd = os.open(workspace.home / "auth.json", os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, orjson.dumps({"version": 1, "credentials": {"anthropic/sso": entry}}))
    os.close(fd)
    workspace.write_agent(
        "signed",
        "---\nname: signed\nprovider: anthropic\nmodel: claude-sonnet-4-6\nauth: sso\n---\nHi.\n",
    )
    (workspace.home / "workflows").mkdir()
    (workspace.home / "workflows" / "signed.yaml").write_text(SIGNED_IN)
    with OAuthServer(**SERVERS["anthropic"]) as oauth:
        oauth.token_delay = 300.0
        workspace.write_config(
            '[providers.anthropic]\nbase_url = "http://127.0.0.1:9"\n'
            + oauth.oauth_config("anthropic")
        )
        proc = subprocess.Popen(
            [sys.executable, "-m", "rupu", "workflow", "run", "signed", "--format", "json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env={**os.environ, **NO_KEYCHAIN, "PYTHONPATH": str(REPO_ROOT)},
            cwd=workspace.project,
        )
        try:
            stdout, stderr = interrupt_twice(proc, oauth)
        finally:
            proc.kill()  # a no-op once it exited
            proc.wait()
    assert proc.returncode == 130, stderr
    assert stderr == "\nrupu: interrupted again; exiting now\n"
    # The hard exit skipped the graceful stop: no run_finished event, no saved final status.
    events = [orjson.loads(line) for line in stdout.splitlines()]
    assert events and all(event["type"] != "run_finished" for event in events)
    state = workspace.home / "runs" / events[0]["run_id"] / "state.json"
    assert orjson.loads(state.read_bytes())["status"] == "running"


def test_resume_after_sigkill_reruns_the_units_that_were_running(
    workspace: Workspace, server: Server
) -> None:
    proc, run_id = start_run(workspace)
    proc.kill()
    proc.communicate(timeout=10)
    listed = orjson.loads(run_rupu("workflow", "runs", "--format", "json").stdout)["runs"][0]
    assert (listed["run_id"], listed["status"]) == (run_id, "interrupted")
    assert (listed["steps"], listed["units_done"], listed["units_total"]) == ("1/2", 1, 4)
    assert listed["tokens"] == 15  # the finished unit's
    shown = run_rupu("workflow", "show-run", run_id)
    assert "status: interrupted" in shown.stdout
    assert "1/4 units finished" in shown.stdout
    assert "fan    interrupted  0/3 units ok" in shown.stdout
    assert f"next: rupu workflow resume {run_id}" in shown.stdout
    server.slow = False
    before = len(server.requests)
    resumed = run_rupu("workflow", "resume", run_id, "--plain", env=KEY)
    assert resumed.code == 0, resumed.stderr
    assert "first reused from the earlier attempt" in resumed.stderr
    assert len(server.requests) - before == 3
    directory = workspace.home / "runs" / run_id
    lost = [
        e
        for e in lines(directory / "events.jsonl")
        if e["type"] == "unit_finished" and e.get("status") == "interrupted"
    ]
    assert sorted(e["unit"] for e in lost) == [0, 1, 2]
    final = [u for u in lines(directory / "units.jsonl") if u["step"] == "fan"]
    assert sorted(u["unit"] for u in final) == [0, 1, 2]
    assert {u["status"] for u in final} == {"succeeded"}
    after = orjson.loads(run_rupu("workflow", "runs", "--format", "json").stdout)["runs"][0]
    spent = sum(int(str(u["tokens"])) for u in lines(directory / "units.jsonl"))
    assert (after["status"], after["steps"], after["units_done"], after["units_total"]) == (
        "succeeded",
        "2/2",
        4,
        4,
    )
    assert after["tokens"] == spent > 0
    detail = orjson.loads(run_rupu("workflow", "show-run", run_id, "--format", "json").stdout)
    assert (detail["state"]["tokens"], detail["units_done"], detail["units_total"]) == (spent, 4, 4)


GATED = """
name: gated
steps:
  - id: build
    agent: worker
    prompt: quick build
  - id: ship
    agent: worker
    approval: {prompt: "ship {{ steps.build.output }}?"}
    prompt: quick ship
"""


def test_approve_and_reject_from_the_command_line(workspace: Workspace, server: Server) -> None:
    (workspace.project / ".rupu" / "workflows" / "gated.yaml").write_text(GATED)
    parked = run_rupu("workflow", "run", "gated", "--plain", env=KEY)
    assert parked.code == 0, parked.stderr
    run_id = parked.stderr.split("── ")[1].split(" ")[0]
    assert "? ship waits for approval: ship quick build?" in parked.stderr
    assert f"approve: rupu workflow approve {run_id}" in parked.stderr
    assert "awaiting_approval" in run_rupu("workflow", "runs").stdout
    approved = run_rupu("workflow", "approve", run_id, env=KEY)
    assert approved.code == 0, approved.stderr
    assert approved.stdout == "quick ship\n"

    parked = run_rupu("workflow", "run", "gated", "--plain", env=KEY)
    run_id = parked.stderr.split("── ")[1].split(" ")[0]
    rejected = run_rupu("workflow", "reject", run_id, "--reason", "not today", env=KEY)
    assert rejected.code == 1
    assert f"run {run_id} was rejected" in rejected.stderr
    shown = run_rupu("workflow", "show-run", run_id).stdout
    assert "✗ ship   rejected" in shown and "not today" in shown
