"""No secret leaves through a tool (issue 11, acceptance 4).

A loopback model scripts bash calls down the three paths that used to leak: (a) a key config reads
from an environment variable (`api_key = "$ORACLE_KEY"`) left in bash's environment, (b)
`env_passthrough` of key variables, (c) `cat` of `auth.json` and `config.toml`. Around them a
`read_file` and an `edit_file` of a file holding a key (so `file_edit` diffs are covered). Each
canary must occur 0 times in what the model receives, the transcripts, the run records and
stdout/stderr; `RUPU_HOME` must show unredacted.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import SecretStr

from rupu.auth.store import AuthStorage
from rupu.auth.stored import StoredCredential
from tests.cli.tools_fixtures import run_detached, write_agent
from tests.conftest import Workspace
from tests.servers.base import LoopbackServer
from tests.servers.openai_chat import (
    ChatCompletionsServer,
    stream_reply,
    text_stream,
    tool_call_stream,
)

ORACLE = "canary-oracle-env-4d7e1a9c"  # (a) read by config from $ORACLE_KEY; no key shape
PASSED = "canary-anthropic-pass-8b2f6e0d"  # (b) ANTHROPIC_API_KEY, named in env_passthrough
STORED = "canary-stored-openai-3c9a5f71"  # (c) auth.json
LITERAL = "canary-config-literal-6e0b2d48"  # (c) a literal api_key in config.toml
SHAPED = "ghp_" + "Q7x" * 12  # a GitHub token no config names: masked by its shape
CANARIES = {
    "oracle": ORACLE,
    "passed": PASSED,
    "stored": STORED,
    "literal": LITERAL,
    "shaped": SHAPED,
}


def config_text(server: LoopbackServer) -> str:
    return f"""\
[providers.local]
kind = "openai-compatible"
base_url = "{server.base_url}"
api_key = "$ORACLE_KEY"

[providers.spare]
kind = "openai-compatible"
base_url = "http://127.0.0.1:9/v1"
api_key = "{LITERAL}"

[tools.bash]
env_passthrough = ["ANTHROPIC_API_KEY", "ORACLE_KEY", "SAFE_PASSED"]
"""


def prepare(workspace: Workspace, server: LoopbackServer) -> None:
    workspace.write_config(config_text(server))
    storage = AuthStorage(workspace.home, env={"RUPU_AUTH_BACKEND": "file"})
    storage.put(
        StoredCredential(
            provider="openai", mode="api-key", secret=SecretStr(STORED), updated_at=time.time()
        )
    )
    (workspace.project / "deploy.env").write_text(
        f"ORACLE_KEY={ORACLE}\nGITHUB={SHAPED}\nMODE=dev\n"
    )
    write_agent(workspace, "sh", {"provider": "local", "model": "m1"})
    home = workspace.home
    calls: list[tuple[str, str, dict[str, Any]]] = [
        ("c_env", "bash", {"command": "env; printenv ORACLE_KEY ANTHROPIC_API_KEY SAFE_PASSED"}),
        ("c_auth", "bash", {"command": f"cat {home}/auth.json {home}/config.toml"}),
        ("c_missing", "bash", {"command": f"ls {home}/config.toml; cat {home}/missing.toml"}),
        ("c_read", "read_file", {"path": "deploy.env"}),
        (
            "c_edit",
            "edit_file",
            {"path": "deploy.env", "old_string": "MODE=dev", "new_string": "MODE=prod"},
        ),
        ("c_denied", "read_file", {"path": f"{home}/config.toml"}),
    ]
    for call in calls:
        server.script.append(stream_reply(tool_call_stream([call])))
    server.script.append(stream_reply(text_stream(["done"])))


def environment() -> dict[str, str]:
    return {"ORACLE_KEY": ORACLE, "ANTHROPIC_API_KEY": PASSED, "SAFE_PASSED": "visible-value-1"}


def files_under(root: Path) -> Iterator[str]:
    for path in sorted(root.rglob("*")):
        if path.is_file():
            yield path.read_text(errors="replace")


def tool_outputs(server: LoopbackServer) -> dict[str, str]:
    last = server.requests[-1].body
    return {m["tool_call_id"]: m["content"] for m in last["messages"] if m["role"] == "tool"}


def assert_no_canary(places: dict[str, str]) -> None:
    for where, text in places.items():
        for name, value in CANARIES.items():
            assert text.count(value) == 0, f"the {name} canary reached {where}"


def assert_tools_saw_masks(server: LoopbackServer, workspace: Workspace) -> None:
    outputs = tool_outputs(server)
    assert len(outputs) == 6
    env_output = outputs["c_env"]
    assert "SAFE_PASSED=visible-value-1" in env_output
    assert "ORACLE_KEY=" not in env_output and "ANTHROPIC_API_KEY=" not in env_output
    assert '"secret": "[REDACTED secret]"' in outputs["c_auth"]
    assert 'api_key = "[REDACTED secret]"' in outputs["c_auth"]
    # RUPU_HOME is a path, not a secret: errors about files in it stay readable
    assert f"{workspace.home}/config.toml" in outputs["c_missing"]
    assert f"{workspace.home}/missing.toml" in outputs["c_missing"]
    assert str(workspace.home) in outputs["c_denied"]
    assert "ORACLE_KEY=[REDACTED secret]" in outputs["c_read"]
    assert "GITHUB=[REDACTED github token]" in outputs["c_read"]
    assert (workspace.project / "deploy.env").read_text().endswith("MODE=prod\n")


def model_received(server: LoopbackServer) -> dict[str, str]:
    return {f"request {i} body": r.raw.decode() for i, r in enumerate(server.requests)}


def test_no_canary_reaches_the_model_transcript_or_output_of_a_run(workspace: Workspace) -> None:
    with ChatCompletionsServer(api_key=ORACLE) as server:
        prepare(workspace, server)
        result = run_detached(
            "run", "--agent", "sh", "--mode", "bypass", "look around",
            cwd=workspace.project, env=environment(),
        )  # fmt: skip
        server.assert_clean()
    assert result.returncode == 0, result.stderr
    assert result.stdout == "done\n"
    transcripts = list(files_under(workspace.home / "transcripts"))
    assert len(transcripts) == 1
    events = [orjson.loads(line) for line in transcripts[0].splitlines()]
    kinds = {e["type"] for e in events}
    assert {"tool_call", "tool_result", "command_run", "file_edit"} <= kinds
    audit = next(e["data"] for e in events if e["type"] == "tool_audit")
    assert (
        "env_passthrough: ANTHROPIC_API_KEY, ORACLE_KEY not passed to commands "
        "(each holds a credential rupu uses)"
    ) in audit["notes"]
    assert_tools_saw_masks(server, workspace)
    assert_no_canary(
        {
            **model_received(server),
            "the transcript": transcripts[0],
            "stdout": result.stdout,
            "stderr": result.stderr,
        }
    )


WORKFLOW = """\
name: look
steps:
  - id: look
    agent: sh
    prompt: look around
"""


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_no_canary_reaches_the_run_records_of_a_workflow(workspace: Workspace, fmt: str) -> None:
    (workspace.project / "look.yaml").write_text(WORKFLOW)
    with ChatCompletionsServer(api_key=ORACLE) as server:
        prepare(workspace, server)
        result = run_detached(
            "workflow", "run", "look.yaml", "--mode", "bypass", "--format", fmt,
            cwd=workspace.project, env=environment(),
        )  # fmt: skip
        server.assert_clean()
    assert result.returncode == 0, result.stderr
    records = list(files_under(workspace.home / "runs"))
    assert any('"command_run"' in text for text in records)
    assert_tools_saw_masks(server, workspace)
    assert_no_canary(
        {
            **model_received(server),
            **{f"run record {i}": text for i, text in enumerate(records)},
            "stdout": result.stdout,
            "stderr": result.stderr,
        }
    )
