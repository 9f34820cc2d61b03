"""The tool box itself: read-only calls of one turn run together, writes in order; results are capped
with a marker and redacted; names that providers reject are sent in a safe form."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from rupu.config import ToolsConfig
from rupu.redact import SecretValues
from rupu.tools.base import ToolContext, ToolKind, schema
from rupu.tools.environment import is_secret_name, scrub_environment
from rupu.tools.failure import ToolFailure
from rupu.tools.permissions import DenyDecider, PermissionGate
from rupu.tools.setup import check_patterns, server_wanted, tool_allowed
from rupu.tools.toolbox import AgentToolBox, wire_name
from rupu.tools.workspace import Workspace
from rupu.transcripts import TranscriptWriter
from tests.tools.helpers import turn

pytestmark = pytest.mark.anyio


@dataclass
class Probe:
    """A test tool: records when it starts and ends; reads wait for each other to prove overlap."""

    name: str
    kind: ToolKind
    log: list[str]
    meeting: anyio.Event | None = None
    output: str = "ok"
    description: str = "probe"
    parameters: dict[str, Any] = field(default_factory=lambda: schema({}))

    def summary(self, args: Mapping[str, Any]) -> str:
        return self.name

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> str:
        self.log.append(f"start {self.name}")
        if self.meeting is not None:
            if self.kind == "read" and self.name.endswith("2"):
                self.meeting.set()
            with anyio.fail_after(5):
                await self.meeting.wait()
        await anyio.lowlevel.checkpoint()
        self.log.append(f"end {self.name}")
        return self.output


@pytest.fixture
def transcript(tmp_path: Path) -> Any:
    writer = TranscriptWriter(tmp_path / "t.jsonl")
    yield writer
    writer.close()


def box_of(tmp_path: Path, tools: list[Any], **kwargs: Any) -> AgentToolBox:
    return AgentToolBox(
        tools=tools,
        gate=PermissionGate("bypass", DenyDecider()),
        workspace=Workspace(tmp_path),
        settings=ToolsConfig.model_validate(kwargs.pop("settings", {})),
        env={},
        **kwargs,
    )


async def test_reads_run_concurrently_and_writes_in_order(tmp_path: Path, transcript: Any) -> None:
    log: list[str] = []
    meeting = anyio.Event()
    tools = [
        Probe("read1", "read", log, meeting),
        Probe("read2", "read", log, meeting),
        Probe("write1", "write", log),
        Probe("cmd1", "command", log),
    ]
    box = box_of(tmp_path, tools)
    message = await box.run_calls(
        turn(("read1", {}), ("read2", {}), ("write1", {}), ("cmd1", {})), transcript
    )
    # read1 waits until read2 has started: only possible when they overlap.
    assert log[:2] == ["start read1", "start read2"]
    assert log[-4:] == ["start write1", "end write1", "start cmd1", "end cmd1"]
    assert [p.call_id for p in message.parts] == ["call_0", "call_1", "call_2", "call_3"]  # type: ignore[union-attr]


async def test_results_are_capped_with_a_marker_and_redacted(tmp_path: Path) -> None:
    secret = "sk-canary-redact-me-123456"
    tools = [Probe("big", "read", [], output=("x" * 5000) + secret)]
    known = SecretValues(credentials=frozenset([secret]))
    box = box_of(tmp_path, tools, settings={"result_limit": 1000}, secrets=lambda: known)
    transcript = TranscriptWriter(tmp_path / "t.jsonl")
    message = await box.run_calls(turn(("big", {})), transcript)
    content = message.parts[0].content  # type: ignore[union-attr]
    assert content.startswith("x" * 1000)
    assert "[rupu: output truncated: 4021 more characters not shown" in content
    small = box_of(tmp_path, tools, secrets=lambda: known)
    message = await small.run_calls(turn(("big", {})), transcript)
    assert message.parts[0].content.endswith("[REDACTED openai key]")  # type: ignore[union-attr]
    transcript.close()
    assert secret not in (tmp_path / "t.jsonl").read_text()


@dataclass
class Leaky:
    """A tool that puts a secret in a record and in its error, as any tool (MCP included) might."""

    secret: str
    name: str = "leaky.tool"
    kind: ToolKind = "write"
    description: str = "leaks"
    parameters: dict[str, Any] = field(default_factory=lambda: schema({"x": {"type": "string"}}))

    def summary(self, args: Mapping[str, Any]) -> str:
        return f"leaky {args.get('x')}"

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> str:
        ctx.record(
            "file_edit", kind="modify", diff=f"-KEY={self.secret}\n+KEY=x", argv=[self.secret]
        )
        raise ToolFailure(f"cannot use {self.secret}", hint=f"drop {self.secret}")


async def test_every_record_and_error_of_any_tool_is_redacted(tmp_path: Path) -> None:
    secret = "canary-known-value-99aa"
    known = SecretValues(others=frozenset([secret]))
    notes: list[str] = []
    box = box_of(tmp_path, [Leaky(secret)], secrets=lambda: known, notify=notes.append)
    transcript = TranscriptWriter(tmp_path / "t.jsonl")
    message = await box.run_calls(turn(("leaky__tool", {"x": secret})), transcript)
    transcript.close()
    content = message.parts[0].content  # type: ignore[union-attr]
    assert content == "error: cannot use [REDACTED secret]\nhint: drop [REDACTED secret]"
    text = (tmp_path / "t.jsonl").read_text()
    assert secret not in text and secret not in "".join(notes)
    assert '"diff":"-KEY=[REDACTED secret]\\n+KEY=x"' in text
    assert '"kind":"modify"' in text


async def test_dotted_names_go_out_wire_safe_and_come_back(tmp_path: Path, transcript: Any) -> None:
    log: list[str] = []
    box = box_of(tmp_path, [Probe("github.create_issue", "read", log)])
    assert [s.name for s in box.specs] == ["github__create_issue"]
    message = await box.run_calls(turn(("github__create_issue", {})), transcript)
    assert message.parts[0].content == "ok"  # type: ignore[union-attr]
    assert message.parts[0].call_id == "call_0"  # type: ignore[union-attr]


def test_wire_names_are_unique_and_short() -> None:
    taken: set[str] = set()
    names = [wire_name(n, taken) for n in ("a.b", "a__b", "x" * 100, "x" * 100, "ü/ß")]
    assert names[:2] == ["a__b", "a__b_2"]
    assert len(names[2]) == 64 and names[3] != names[2] and len(names[3]) == 64
    assert names[4] == "___"


@pytest.mark.parametrize(
    ("name", "patterns", "allowed"),
    [
        ("read_file", None, True),
        ("github.create_issue", None, False),
        ("read_file", ["read_file"], True),
        ("bash", ["read_file"], False),
        ("bash", ["*"], True),
        ("github.create_issue", ["*"], True),
        ("github.create_issue", ["github.*"], True),
        ("gitlab.create_issue", ["github.*"], False),
        ("github.create_issue", ["github.create_issue"], True),
        ("read_file", [], False),
    ],
)
def test_allowlist(name: str, patterns: list[str] | None, allowed: bool) -> None:
    assert tool_allowed(name, patterns) is allowed


def test_servers_start_only_when_named() -> None:
    assert server_wanted("github", ["github.*"])
    assert server_wanted("github", ["github.list"])
    assert server_wanted("github", ["*"])
    assert server_wanted("github", ["git*"])
    assert not server_wanted("github", None)
    assert not server_wanted("github", ["read_file", "gitlab.*"])


def test_typos_in_tools_are_reported() -> None:
    from rupu.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown tool 'reed_file' \\(did you mean 'read_file'"):
        check_patterns(["reed_file"], [], "a")
    with pytest.raises(ConfigError, match="no MCP server 'githb' is configured"):
        check_patterns(["githb.list"], ["github"], "a")
    check_patterns(["read_file", "github.list", "x.*", "*"], ["github"], "a")


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("OPENAI_API_KEY", True),
        ("MY_APIKEY", True),
        ("GH_TOKEN", True),
        ("AWS_SESSION_TOKEN", True),
        ("CLIENT_SECRET", True),
        ("RUPU_HOME", True),
        ("PGPASSWORD", True),
        ("PATH", False),
        ("HOME", False),
        ("SSH_AUTH_SOCK", False),
        ("LANG", False),
    ],
)
def test_secret_names(name: str, secret: bool) -> None:
    assert is_secret_name(name) is secret


def test_scrub_keeps_passthrough() -> None:
    scrubbed = scrub_environment({"A_TOKEN": "t" * 10, "PATH": "/bin"}, passthrough=[])
    assert scrubbed.env == {"PATH": "/bin"} and scrubbed.refused == []
    assert scrub_environment({"A_TOKEN": "t"}, passthrough=["A_TOKEN"]).env == {"A_TOKEN": "t"}


def test_scrub_drops_by_value_and_refuses_passthrough_of_a_credential() -> None:
    key = "canary-oracle-7f3e2d1c"
    env = {
        "ORACLE_KEY": key,
        "DATABASE_URL": f"postgres://u:{key}@db/x",
        "GH_TOKEN": key,
        "NPM_TOKEN": "npm-token-value-123",
        "SHORT": "abc",
        "PATH": "/bin",
    }
    scrubbed = scrub_environment(
        env, passthrough=["GH_TOKEN", "NPM_TOKEN"], credentials=[key, "abc"]
    )
    assert scrubbed.env == {"NPM_TOKEN": "npm-token-value-123", "SHORT": "abc", "PATH": "/bin"}
    assert scrubbed.refused == ["GH_TOKEN"]
