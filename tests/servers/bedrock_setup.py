"""What the Bedrock tests share: an AWS environment that can only reach loopback (no variable of
the outer environment, no shared files of the user, instance metadata off), the agent, and a
tool-use conversation run through `rupu run` against `BedrockServer`."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CliResult, Workspace, run_rupu
from tests.servers.bedrock import BedrockServer, text_reply, tool_reply

MODEL = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
REGION = "us-west-2"
AGENT = f"""---
name: aws-reader
description: Reads notes on Bedrock.
provider: bedrock
model: {MODEL}
tools: [read_file]
permissionMode: bypass
---

You read files when asked.
"""
NOTES = "the launch moved to thursday"


@dataclass
class AwsFiles:
    config: Path
    credentials: Path
    sso_cache: Path


def isolate_aws(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> AwsFiles:
    """For a fixture: every `AWS_*` variable removed, the shared files pointed into the test's home, and instance
    metadata disabled, so botocore's chain finds only what a test sets up."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name, raising=False)
    aws = workspace.home.parent / ".aws"
    files = AwsFiles(aws / "config", aws / "credentials", aws / "sso" / "cache")
    files.sso_cache.mkdir(parents=True)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(files.config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(files.credentials))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return files


def bedrock_config(server: BedrockServer, extra: str = "", *, region: str | None = REGION) -> str:
    lines = ["[providers.bedrock]", f'base_url = "{server.base_url}"']
    if region is not None:
        lines.append(f'region = "{region}"')
    return "\n".join(lines) + "\n" + extra


def run_tool_conversation(
    workspace: Workspace, server: BedrockServer, env: dict[str, str] | None = None
) -> CliResult:
    """The agent asks for `read_file`, gets the notes back, and answers from them."""
    (workspace.project / "notes.txt").write_text(NOTES + "\n")
    workspace.write_agent("aws-reader", AGENT)
    server.script.extend(
        [
            tool_reply("tooluse_Read01", "read_file", {"path": "notes.txt"}),
            text_reply("The notes say: ", "launch moved."),
        ]
    )
    return run_rupu("run", "--agent", "aws-reader", "what do the notes say?", env=env)


def assert_conversation(result: CliResult, server: BedrockServer) -> list[dict[str, Any]]:
    """The run answered from the tool result, and both requests were signed and well formed."""
    assert result.code == 0, result.stderr
    assert result.stdout == "The notes say: launch moved.\n"
    server.assert_clean()
    first, second = (request.body for request in server.requests)
    assert [t["toolSpec"]["name"] for t in first["toolConfig"]["tools"]] == ["read_file"]
    answer = second["messages"][-1]["content"][0]["toolResult"]
    assert answer["toolUseId"] == "tooluse_Read01"
    assert answer["status"] == "success"
    assert NOTES in answer["content"][0]["text"]
    return [first, second]
