"""The tool box one agent run uses: runs the tool calls of a turn and returns their results.

For each call: record `tool_call`, find the tool (an unknown or filtered-out name is an error result),
check the arguments against its schema (text that was not JSON is an error result too), ask the
permission gate, run it, cap and redact the output, record `tool_result`. Consecutive read-only calls
run concurrently; writes and commands run one at a time, in the order the model asked for them.
Nothing here ends the run except the user choosing "stop" at a permission prompt.

Every tool's text passes through here, so this is where secrets are masked (`rupu.redact`): the
result the model gets, and every record a call writes (`tool_call`, `tool_result`, `command_run`,
`file_edit`, ...), built-in and MCP tools alike. Commands get an environment scrubbed of the
credentials known at the moment of the call.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rupu.config import ToolsConfig
from rupu.messages import AssistantTurn, Message, Part, ToolCallPart, ToolResultPart, ToolSpec
from rupu.redact import Redactor, SecretValues, redact_data
from rupu.tools.base import Recorder, Tool, ToolContext, cap_text, one_line
from rupu.tools.dispatch import SubRunLedger
from rupu.tools.environment import scrub_environment
from rupu.tools.failure import ToolFailure
from rupu.tools.permissions import PermissionGate, PermissionRequest
from rupu.tools.workspace import Workspace
from rupu.transcripts import TranscriptWriter

Notify = Callable[[str], None]
MAX_WIRE_NAME = 64


def wire_name(name: str, taken: set[str]) -> str:
    """A name every provider accepts (`^[A-Za-z0-9_-]{1,64}$`): `github.create_issue` is sent as
    `github__create_issue`."""
    base = re.sub(r"[^A-Za-z0-9_-]", "_", name.replace(".", "__"))[:MAX_WIRE_NAME] or "tool"
    candidate, n = base, 2
    while candidate in taken:
        suffix = f"_{n}"
        candidate, n = base[: MAX_WIRE_NAME - len(suffix)] + suffix, n + 1
    taken.add(candidate)
    return candidate


def _validator(parameters: dict[str, Any]) -> Any:
    import jsonschema

    try:
        cls = jsonschema.validators.validator_for(parameters, jsonschema.Draft202012Validator)
        cls.check_schema(parameters)
        return cls(parameters)
    except jsonschema.SchemaError:
        return None


def _argument_problem(validator: Any, args: dict[str, Any]) -> str | None:
    if validator is None:
        return None
    import jsonschema

    error = jsonschema.exceptions.best_match(validator.iter_errors(args))
    if error is None:
        return None
    where = ".".join(str(p) for p in error.absolute_path)
    return f"{where + ': ' if where else ''}{one_line(error.message, 300)}"


@dataclass(slots=True)
class CallOutcome:
    content: str
    is_error: bool = False


@dataclass(slots=True)
class AgentToolBox:
    """Implements the agent loop's `ToolBox` protocol."""

    tools: Sequence[Tool]
    gate: PermissionGate
    workspace: Workspace
    settings: ToolsConfig
    env: Mapping[str, str]
    # The secrets known now (`rupu.auth.known.KnownSecrets`); asked again at each call.
    secrets: Callable[[], SecretValues] = SecretValues
    passthrough: Collection[str] = ()
    # Credentials the tools themselves use (web search keys): kept from commands like rupu's own.
    tool_keys: frozenset[str] = frozenset()
    # Never masked, even when a secret value is part of them (RUPU_HOME, the home directory).
    protected: Sequence[str] = ()
    notify: Notify | None = None
    notes: list[str] = field(default_factory=list)
    # What its dispatch tools' sub-agents spent (None: it has none); read by the agent loop.
    subruns: SubRunLedger | None = None
    specs: list[ToolSpec] = field(init=False)
    _by_name: dict[str, Tool] = field(init=False)
    _validators: dict[str, Any] = field(init=False, default_factory=dict)
    _redactor: tuple[SecretValues, Redactor] | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        taken: set[str] = set()
        self.specs = []
        self._by_name = {}
        for tool in self.tools:
            wire = wire_name(tool.name, taken)
            self._by_name[wire] = tool
            self._by_name.setdefault(tool.name, tool)
            self.specs.append(ToolSpec(wire, tool.description, tool.parameters))

    def audit(self) -> dict[str, Any]:
        return {
            "mode": self.gate.mode,
            "mode_source": self.gate.source,
            "workspace": str(self.workspace.root),
            "tools": [t.name for t in self.tools],
            "notes": list(self.notes),
        }

    def lookup(self, name: str) -> Tool | None:
        return self._by_name.get(name)

    def redactor(self) -> Redactor:
        values = self.secrets()
        if self._redactor is None or self._redactor[0] != values:
            self._redactor = values, Redactor.of(values.every(), protected=self.protected)
        return self._redactor[1]

    def redact(self, text: str) -> str:
        return self.redactor()(text)

    def scrubbed_env(self) -> dict[str, str]:
        credentials = self.secrets().credentials | self.tool_keys
        return scrub_environment(
            self.env, passthrough=self.passthrough, credentials=credentials
        ).env

    def _recorder(self, transcript: TranscriptWriter) -> Recorder:
        """`transcript.write` with every string of the record redacted."""

        def record(event: str, /, **data: Any) -> None:
            redact = self.redactor()
            transcript.write(event, **{k: redact_data(v, redact) for k, v in data.items()})

        return record

    async def run_calls(self, turn: AssistantTurn, transcript: TranscriptWriter) -> Message:
        import anyio

        calls = turn.message.tool_calls()
        results: list[ToolResultPart | None] = [None] * len(calls)

        async def run_one(index: int) -> None:
            results[index] = await self._run_call(calls[index], transcript)

        for batch in self._batches(calls):
            if len(batch) == 1:
                await run_one(batch[0])
                continue
            async with anyio.create_task_group() as group:
                for index in batch:
                    group.start_soon(run_one, index)
        parts: list[Part] = [r for r in results if r is not None]
        return Message("user", parts)

    def _batches(self, calls: list[ToolCallPart]) -> list[list[int]]:
        """Runs of consecutive read-only calls share a batch; every other call is alone."""
        batches: list[list[int]] = []
        previous_read = False
        for index, call in enumerate(calls):
            tool = self.lookup(call.name)
            is_read = tool is not None and tool.kind == "read"
            if is_read and previous_read:
                batches[-1].append(index)
            else:
                batches.append([index])
            previous_read = is_read
        return batches

    async def _run_call(self, call: ToolCallPart, transcript: TranscriptWriter) -> ToolResultPart:
        tool = self.lookup(call.name)
        shown = tool.name if tool is not None else call.name
        record = self._recorder(transcript)
        record("tool_call", call_id=call.call_id, tool=shown, input=call.arguments)
        started = time.monotonic()
        outcome = await self._outcome(tool, call, record)
        content, truncated = cap_text(self.redact(outcome.content), self.settings.result_limit)
        record(
            "tool_result",
            call_id=call.call_id,
            tool=shown,
            output=content,
            is_error=outcome.is_error,
            truncated=truncated,
            duration_ms=int((time.monotonic() - started) * 1000),
        )
        return ToolResultPart(call.call_id, call.name, content, is_error=outcome.is_error)

    async def _outcome(
        self, tool: Tool | None, call: ToolCallPart, record: Recorder
    ) -> CallOutcome:
        args = call.arguments
        if tool is None:
            unavailable = [n for n in self.notes if n.startswith(f"{call.name} is unavailable")]
            if unavailable:  # asked for in `tools:` but not offered (web_search without a key)
                return CallOutcome(f"error: {unavailable[0]}", True)
            names = ", ".join(s.name for s in self.specs)
            return CallOutcome(
                f"error: unknown tool '{call.name}'; the tools you can call are: {names}", True
            )
        if "__invalid_json__" in args:
            raw = one_line(str(args["__invalid_json__"]), 200)
            return CallOutcome(
                f"error: the arguments for {tool.name} were not a JSON object ({raw!r}); "
                "call it again with arguments that match its schema",
                True,
            )
        if tool.name not in self._validators:
            self._validators[tool.name] = _validator(tool.parameters)
        problem = _argument_problem(self._validators[tool.name], args)
        if problem is not None:
            return CallOutcome(f"error: invalid arguments for {tool.name}: {problem}", True)
        summary = self.redact(tool.summary(args))
        request = PermissionRequest(tool.name, tool.kind, summary, call.call_id)
        command = str(args.get("command")) if tool.name == "bash" else None
        verdict = await self.gate.check(request, command=command)
        if tool.kind != "read":
            record(
                "permission",
                call_id=call.call_id,
                tool=tool.name,
                allowed=verdict.allowed,
                asked=verdict.asked,
                mode=self.gate.mode,
                reason=verdict.reason,
            )
        if not verdict.allowed:
            self._say(f"denied {summary}: {verdict.reason}")
            return CallOutcome(f"permission denied: {verdict.reason}", True)
        self._say(summary)
        ctx = ToolContext(
            workspace=self.workspace,
            settings=self.settings,
            env=self.env,
            record=record,
            call_id=call.call_id,
            scrubbed_env=self.scrubbed_env(),
        )
        try:
            return CallOutcome(await tool.run(dict(args), ctx))
        except ToolFailure as exc:
            if exc.code == "path_denied":
                record("path_denied", call_id=call.call_id, tool=tool.name, reason=exc.message)
                self._say(f"denied {summary}: {exc.message}")
            hint = f"\nhint: {exc.hint}" if exc.hint else ""
            return CallOutcome(f"error: {exc.message}{hint}", True)
        except OSError as exc:
            return CallOutcome(f"error: {exc.strerror or type(exc).__name__}", True)

    def _say(self, text: str) -> None:
        if self.notify is not None:
            self.notify(one_line(self.redact(text), 160))
