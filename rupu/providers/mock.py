"""The built-in offline provider: deterministic, no network, no key.

Model `echo` (the default) streams back the last user message word by word. With
`[providers.mock] script = "turns.yaml"` it plays a script instead: turn N of a conversation (N = the
number of assistant turns so far) plays entry N of the script. An entry may hold `text`, `thinking`,
`tool_calls` (`[{name, arguments}]`), `usage`, `stop_reason`, `delay_ms` and `error`
(`{status, type, message, retryable}`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError

from rupu.errors import ConfigError, ProviderError
from rupu.messages import (
    ModelRequest,
    ResponseFinished,
    ResponseStarted,
    StopReason,
    StreamEvent,
    TextDelta,
    TextPart,
    ThinkingDelta,
    ThinkingFinished,
    ToolCallFinished,
    ToolCallStarted,
    ToolResultPart,
    Usage,
    UsageReported,
)
from rupu.providers.base import ProviderSetup
from rupu.providers.failures import provider_error
from rupu.strict import StrictModel, validation_to_config_error
from rupu.yamldoc import parse_yaml

MODELS = ("echo",)


class ScriptedCall(StrictModel):
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class ScriptedError(StrictModel):
    message: str
    status: int | None = None
    type: str | None = None
    retryable: bool = False


class ScriptedUsage(StrictModel):
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0


class ScriptedTurn(StrictModel):
    text: str = ""
    thinking: str | None = None
    tool_calls: list[ScriptedCall] = Field(default_factory=list)
    usage: ScriptedUsage | None = None
    stop_reason: Literal["end_turn", "tool_use", "max_tokens", "refusal"] | None = None
    delay_ms: int = Field(default=0, ge=0)
    error: ScriptedError | None = None


class MockProvider:
    def __init__(self, setup: ProviderSetup) -> None:
        self.name = setup.name
        self._sleep = setup.sleep or setup.clock.sleep
        self._script = load_script(Path(setup.config.script)) if setup.config.script else None

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        yield ResponseStarted(model=request.model, request_id=None)
        if self._script is None:
            async for event in self._echo(request):
                yield event
            return
        turn_index = sum(1 for m in request.messages if m.role == "assistant")
        if turn_index >= len(self._script):
            raise ProviderError(
                self.name,
                f"the mock script has {len(self._script)} turns; turn {turn_index + 1} was requested",
                error_type="script_exhausted",
                hint="add more entries to the script",
            )
        async for event in self._play(self._script[turn_index], request):
            yield event

    async def _echo(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        last = next((m for m in reversed(request.messages) if m.role == "user"), None)
        prompt = ""
        if last is not None:
            prompt = "".join(
                p.text
                if isinstance(p, TextPart)
                else p.content
                if isinstance(p, ToolResultPart)
                else ""
                for p in last.parts
            )
        words = prompt.split(" ") if prompt else ["(empty", "prompt)"]
        for i, word in enumerate(words):
            yield TextDelta(word if i == 0 else " " + word)
        yield UsageReported(
            Usage(input_tokens=_count(request), output_tokens=len(words), reported=True)
        )
        yield ResponseFinished("end_turn", "end_turn")

    async def _play(self, turn: ScriptedTurn, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        if turn.delay_ms:
            await self._sleep(turn.delay_ms / 1000)
        if turn.error is not None:
            raise provider_error(
                self.name,
                turn.error.message,
                status=turn.error.status,
                error_type=turn.error.type,
                should_retry=turn.error.retryable,
            )
        if turn.thinking:
            yield ThinkingDelta(turn.thinking)
            yield ThinkingFinished(signature="mock-signature")
        for word_index, word in enumerate(turn.text.split(" ") if turn.text else []):
            yield TextDelta(word if word_index == 0 else " " + word)
        for index, call in enumerate(turn.tool_calls):
            yield ToolCallStarted(index, f"mock_call_{index}", call.name)
            yield ToolCallFinished(index, dict(call.arguments))
        usage = turn.usage or ScriptedUsage(
            input_tokens=_count(request), output_tokens=len(turn.text.split())
        )
        yield UsageReported(Usage(**usage.model_dump(), reported=True))
        stop: StopReason = turn.stop_reason or ("tool_use" if turn.tool_calls else "end_turn")
        yield ResponseFinished(stop, stop)

    async def aclose(self) -> None:
        return None


def _count(request: ModelRequest) -> int:
    words = len(request.system.split())
    for message in request.messages:
        for part in message.parts:
            if isinstance(part, TextPart):
                words += len(part.text.split())
    return words


def load_script(path: Path) -> list[ScriptedTurn]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(
            f"cannot read the mock script: {exc.strerror}", field="providers.mock.script"
        ) from None
    data, doc = parse_yaml(path, text.removeprefix("\ufeff"))
    data = data or []
    if isinstance(data, dict):
        data = data.get("turns", [])
    if not isinstance(data, list):
        raise ConfigError(f"{path}: a mock script is a list of turns")
    turns: list[ScriptedTurn] = []
    for index, entry in enumerate(data):
        try:
            turns.append(ScriptedTurn.model_validate(entry))
        except ValidationError as exc:

            def find_line(loc: Sequence[str | int], i: int = index) -> int | None:
                return doc.line([i, *loc])

            raise validation_to_config_error(
                exc, ScriptedTurn, path=str(path), find_line=find_line
            ) from None
    return turns


def create(setup: ProviderSetup) -> MockProvider:
    return MockProvider(setup)
