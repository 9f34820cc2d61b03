"""Context overflow: recognising a provider's "the prompt is too long" error, and making room by
dropping the oldest tool exchange (an assistant turn with tool calls and the results that answered
it). The task prompt and the latest exchange are always kept."""

from __future__ import annotations

from rupu.errors import ContextOverflow, ProviderError
from rupu.messages import Message, ToolResultPart

MAX_TRIMS = 64


def is_context_overflow(error: ProviderError) -> bool:
    """Whether the provider said the conversation is too long (classified where it answered)."""
    return isinstance(error, ContextOverflow)


def _is_tool_results(message: Message) -> bool:
    return message.role == "user" and all(isinstance(p, ToolResultPart) for p in message.parts)


def drop_oldest_exchange(messages: list[Message]) -> int:
    """Removes the oldest assistant turn whose tool results follow it, when a later assistant turn
    exists; returns how many messages were removed (0 when nothing can go)."""
    assistants = [i for i, m in enumerate(messages) if m.role == "assistant"]
    for index in assistants[:-1]:
        if index + 1 < len(messages) and _is_tool_results(messages[index + 1]):
            del messages[index : index + 2]
            return 2
    return 0


def overflow_error(error: ProviderError) -> ContextOverflow:
    """The same error, with advice when nothing more could be dropped."""
    return ContextOverflow(
        error.provider,
        f"the conversation no longer fits the model's context window: {error.message}",
        model=error.model,
        status=error.status,
        error_type=error.error_type or "context_overflow",
        request_id=error.request_id,
        hint=error.hint
        or "use a model with a larger context window, lower [tools] result_limit, "
        "or split the task",
    )
