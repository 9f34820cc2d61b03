"""Reading what the user types in `rupu chat`: one message per Enter, or several lines when a line
ends with a backslash or a block is wrapped in triple quotes; line editing and a history shared by
every chat (`$RUPU_HOME/chat_history`, 0600) through readline when Python has it."""

# lazy imports: a command loads what it needs when it runs, so `rupu --help` stays fast
from __future__ import annotations

import contextlib
from pathlib import Path
from types import ModuleType

PROMPT = "› "
MORE = "… "
FENCE = '"""'
HISTORY_LENGTH = 2000


class ChatInput:
    def __init__(self, history_file: Path | None) -> None:
        self.history_file = history_file
        self._readline = _load_readline()
        if self._readline is not None and history_file is not None and history_file.is_file():
            with contextlib.suppress(OSError):
                self._readline.read_history_file(str(history_file))

    def read(self) -> str | None:
        """The next message (None at end of input: Ctrl-D). Raises `KeyboardInterrupt` when the
        user presses Ctrl-C while typing (the caller drops the line)."""
        try:
            first = input(PROMPT)
        except EOFError:
            return None
        if first.strip() == FENCE:
            return self._until_fence()
        lines = [first]
        while lines[-1].endswith("\\"):
            lines[-1] = lines[-1][:-1]
            try:
                lines.append(input(MORE))
            except EOFError:
                break
        return "\n".join(lines)

    def _until_fence(self) -> str:
        lines: list[str] = []
        while True:
            try:
                line = input(MORE)
            except EOFError:
                break
            if line.strip() == FENCE:
                break
            lines.append(line)
        return "\n".join(lines)

    def save(self) -> None:
        """Writes the line history for the next chat (readable by the user only)."""
        if self._readline is None or self.history_file is None:
            return
        self._readline.set_history_length(HISTORY_LENGTH)
        with contextlib.suppress(OSError):
            self.history_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            self.history_file.touch(mode=0o600, exist_ok=True)
            self.history_file.chmod(0o600)
            self._readline.write_history_file(str(self.history_file))


def _load_readline() -> ModuleType | None:
    try:
        import readline
    except ImportError:  # Python built without it: plain input() still works
        return None
    return readline
