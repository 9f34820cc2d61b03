"""The error a tool raises for the model to read (its own module so `workspace` can raise it
without importing `base`, which refers to `Workspace`)."""

from __future__ import annotations

from rupu.errors import RupuError


class ToolFailure(RupuError):
    """A tool call that failed in a way the model can react to (bad path, no match, timeout).
    `code` is a short machine-readable reason kept in the transcript."""

    def __init__(self, message: str, *, code: str = "tool_error", hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.code = code
