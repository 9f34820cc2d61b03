"""The bash tool: no secrets in its environment (acceptance 5, T7), output capped (T11), timeouts and
leftover background jobs kill the whole process group (T10), no stdin."""

from __future__ import annotations

import os
import time
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rupu.redact import Redactor
from rupu.tools.shell import CappedBuffer, cut_cleanly, run_command
from tests.tools.helpers import open_box

pytestmark = pytest.mark.anyio

CANARIES = {
    "ANTHROPIC_API_KEY": "canary-anthropic-0d2f9a1b",
    "OPENAI_API_KEY": "canary-openai-77c1e0aa",
    "GEMINI_API_KEY": "canary-gemini-5b8e2c10",
    "RUPU_ORACLE_API_KEY": "canary-oracle-a1b2c3d4",
    "RUPU_HOME_TOKEN": "canary-rupu-99887766",
    "GH_TOKEN": "canary-ghtoken-11223344",
    "GITHUB_TOKEN": "canary-github-55667788",
    "COPILOT_GITHUB_TOKEN": "canary-copilot-13572468",
    "BRAVE_API_KEY": "canary-brave-24681357",
    "AWS_SECRET_ACCESS_KEY": "canary-aws-secret-0f0f0f0f",
    "AWS_ACCESS_KEY_ID": "canary-aws-id-1e1e1e1e",
    "DATABASE_PASSWORD": "canary-db-pass-2d2d2d2d",
    "npm_config__authToken": "canary-npm-3c3c3c3c",
}


def environment(**extra: str) -> dict[str, str]:
    return {"PATH": os.environ["PATH"], "SAFE_VAR": "visible-value", **CANARIES, **extra}


def live_processes() -> list[tuple[int, int, str]]:
    """(pid, process group, command line) of every process that is still running (zombies do not
    count)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z":
            found.append((int(entry.name), int(fields[2]), cmdline))
    return found


def live_members(pgid: int) -> list[int]:
    """Processes in group `pgid` that are still running."""
    return [pid for pid, group, _ in live_processes() if group == pgid]


def members_after_kill(pgid: int) -> list[int]:
    """`live_members`, once SIGKILL has had time to land: delivery is asynchronous, and on a loaded
    machine a killed process can still be listed as running for a moment."""
    deadline = time.monotonic() + 5
    while (alive := live_members(pgid)) and time.monotonic() < deadline:
        time.sleep(0.02)
    return alive


async def test_environment_holds_no_provider_secrets(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    (root / ".env").write_text(f"OPENAI_API_KEY={CANARIES['OPENAI_API_KEY']}\n")
    async with open_box(root, env=environment()) as box:
        shown = await box.one("bash", {"command": "env; cat .env"})
    assert "SAFE_VAR=visible-value" in shown.content
    transcript = (tmp_path / "transcript.jsonl").read_text()
    for name, value in CANARIES.items():
        assert value not in shown.content, name
        assert value not in transcript, name
        assert f"{name}=" not in shown.content.replace("OPENAI_API_KEY=[REDACTED secret]", ""), name
    assert "OPENAI_API_KEY=[REDACTED secret]" in shown.content


async def test_passthrough_is_an_explicit_opt_in_and_the_value_stays_masked(
    tmp_path: Path,
) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    config = {"tools": {"bash": {"env_passthrough": ["npm_config__authToken"]}}}
    async with open_box(root, env=environment(), config=config) as box:
        shown = await box.one(
            "bash",
            {"command": 'test -n "$npm_config__authToken" && echo "has $npm_config__authToken"'},
        )
    assert "has [REDACTED secret]" in shown.content
    assert CANARIES["npm_config__authToken"] not in shown.content


async def test_passthrough_of_a_credential_rupu_uses_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    config = {"tools": {"bash": {"env_passthrough": ["GH_TOKEN", "ANTHROPIC_API_KEY"]}}}
    async with open_box(root, env=environment(), config=config) as box:
        shown = await box.one(
            "bash", {"command": "echo gh=${GH_TOKEN:-unset} a=${ANTHROPIC_API_KEY:-unset}"}
        )
        audit = box.toolbox.audit()
    assert "gh=unset a=unset" in shown.content
    assert (
        "env_passthrough: ANTHROPIC_API_KEY, GH_TOKEN not passed to commands "
        "(each holds a credential rupu uses)"
    ) in audit["notes"]


async def test_exit_code_and_streams(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    async with open_box(root, env=environment()) as box:
        result = await box.one("bash", {"command": "pwd; echo oops >&2; cat; exit 3"})
        runs = box.events("command_run")
    assert not result.is_error
    assert result.content == f"exit code 3\n[stdout]\n{root.resolve()}\n[stderr]\noops"
    assert runs[0]["exit_code"] == 3
    assert runs[0]["stdout_bytes"] == len(str(root.resolve())) + 1
    assert runs[0]["stderr_bytes"] == 5
    assert runs[0]["argv"][1:] == ["-c", "pwd; echo oops >&2; cat; exit 3"]


async def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    async with open_box(root, env=environment()) as box:
        result = await box.one(
            "bash",
            {"command": "echo pgid=$$; (sleep 1000 &); sleep 1000 & sleep 1000", "timeout_secs": 1},
        )
        runs = box.events("command_run")
    assert result.is_error and "timed out after 1s" in result.content
    pgid = int(result.content.split("pgid=")[1].split()[0])
    assert members_after_kill(pgid) == []
    assert runs[0]["timed_out"] is True and runs[0]["exit_code"] is None


async def test_background_jobs_do_not_outlive_the_call(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    async with open_box(root, env=environment()) as box:
        result = await box.one("bash", {"command": "sleep 1000 & echo pgid=$$"})
    assert not result.is_error
    pgid = int(result.content.split("pgid=")[1].split()[0])
    assert members_after_kill(pgid) == []


async def test_a_gigabyte_of_output_is_capped_and_killed(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    async with open_box(root, env=environment()) as box:
        result = await box.one("bash", {"command": "echo pgid=$$; yes | head -c 1000000000"})
        runs = box.events("command_run")
    assert result.is_error and "was killed" in result.content
    assert "bytes of output omitted" in result.content
    assert len(result.content) < 110_000
    assert runs[0]["output_flood"] is True
    assert 64_000_000 < runs[0]["stdout_bytes"] < 1_000_000_000
    assert live_members(int(result.content.split("pgid=")[1].split()[0])) == []


async def test_long_output_keeps_start_and_end(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    config = {"tools": {"bash": {"output_limit": 1000}}}
    async with open_box(root, env=environment(), config=config) as box:
        result = await box.one("bash", {"command": "seq 1 100000"})
    lines = result.content.splitlines()
    assert lines[:3] == ["exit code 0", "[stdout]", "1"]
    assert lines[-1] == "100000"
    assert any("bytes of output omitted" in line for line in lines)
    assert len(result.content) < 1200


SECRET_LETTERS = "QWZXJKVBFGHLMNOPSUY"


@settings(max_examples=200, deadline=None)
@given(
    secret=st.text(st.sampled_from(SECRET_LETTERS), min_size=12, max_size=60),
    offset=st.integers(min_value=0, max_value=3000),
    chunk=st.integers(min_value=1, max_value=700),
)
def test_a_key_cut_where_output_is_left_out_leaves_no_piece(
    secret: str, offset: int, chunk: int
) -> None:
    stream = ("x " * 1500)[:offset] + secret + " x" * 1500
    buffer = CappedBuffer(1000)
    data = stream.encode()
    for start in range(0, len(data), chunk):
        buffer.write(data[start : start + chunk])
    shown = Redactor.of([secret])(buffer.text())
    pieces = {secret[i : i + 4] for i in range(len(secret) - 3)}
    assert not any(piece in shown for piece in pieces)


def test_a_private_key_whose_start_was_left_out_is_dropped_to_its_end_line() -> None:
    head, tail = cut_cleanly(
        "log line\nBEGINNING-OF-A-W",
        "ORD-END rest\nAAAA+/==\nBBBB\n-----END RSA PRIVATE KEY-----\nafter",
    )
    assert head == "log line\n"
    assert tail == "\nafter"
    _, kept = cut_cleanly("x", " words before\n-----END PRIVATE KEY-----\n")
    assert kept == " words before\n-----END PRIVATE KEY-----\n"


async def test_a_cancel_during_the_spawn_leaves_no_process_behind(tmp_path: Path) -> None:
    """Cancelled at each of the first event-loop turns of starting the command, with the loop held
    up the way a busy machine holds it, the group is still killed (asyncio kills only the direct
    child of a spawn it abandons)."""
    leftovers = {}
    for turns in range(8):
        token = f"{60 + turns}.{os.getpid()}"  # a sleep only this case starts
        with anyio.CancelScope() as scope:

            async def cancel_later(turns: int = turns, scope: anyio.CancelScope = scope) -> None:
                for _ in range(turns):
                    await anyio.lowlevel.checkpoint()
                # Holds the loop up, as a busy machine does, while bash starts its sleep.
                time.sleep(0.2)
                scope.cancel()

            async with anyio.create_task_group() as group:
                group.start_soon(cancel_later)
                await run_command(
                    ["bash", "-c", f"sleep {token} & wait"],
                    cwd=str(tmp_path),
                    env=environment(),
                    timeout=30,
                    limit=1000,
                    kill_after_bytes=10_000,
                )
        deadline = time.monotonic() + 5
        sleeping = f"sleep {token}"
        while (alive := [p for p, _, cmd in live_processes() if sleeping in cmd]) and (
            time.monotonic() < deadline
        ):
            time.sleep(0.02)
        if alive:
            leftovers[turns] = alive
            for pid in alive:
                os.kill(pid, 9)
    assert leftovers == {}
