"""Test doubles for code that uses rupu: providers that answer from Python, a clock that moves by
hand, and the `rupu` command run in-process. See docs/testing.md.

Nothing in rupu imports this package; it is public API for tests (rupu's own included).
"""

from rupu.testing.cli import CliResult, CliRunner
from rupu.testing.clock import FakeClock, use_clock
from rupu.testing.providers import (
    Answer,
    FunctionProvider,
    ScriptedProvider,
    ToolCall,
    Turn,
    TurnFunction,
    last_user_text,
    turn_events,
    use_provider,
)

__all__ = [
    "Answer",
    "CliResult",
    "CliRunner",
    "FakeClock",
    "FunctionProvider",
    "ScriptedProvider",
    "ToolCall",
    "Turn",
    "TurnFunction",
    "last_user_text",
    "turn_events",
    "use_clock",
    "use_provider",
]
