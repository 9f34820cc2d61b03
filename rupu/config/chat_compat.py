"""`[providers.<name>.compat]`: how one OpenAI-compatible endpoint wants its chat-completions
requests (the model; `rupu.providers.chat_compat.apply_compat` applies it to a request)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from rupu.strict import StrictModel

ReasoningStyle = Literal["reasoning_effort", "reasoning", "thinking", "none"]


class ChatCompat(StrictModel):
    """How one endpoint wants its chat-completions requests.

    - `system_role`: `system` (default) or `developer` for the system prompt.
    - `max_tokens_field`: `max_tokens` (default) or `max_completion_tokens`.
    - `reasoning`: how `effort` is sent: `reasoning_effort` (default, a string), `reasoning`
      (`{"reasoning": {"effort": ...}}`, OpenRouter), `thinking` (`{"thinking": {"type": "enabled"}}`,
      Z.ai), or `none` (the server has no such switch: nothing is sent).
    - `stream_usage`: send `stream_options.include_usage` when streaming (default true).
    - `supports_tools`: false for endpoints without function calling (an agent with tools fails
      before anything is sent).
    - `service_tiers`: the `service_tier` values the endpoint accepts (default none).
    - `effort_models`: `all` (default) sends `effort` to every model; `catalog` only to the models
      rupu's catalog list of this provider marks as reasoning models (Groq rejects it elsewhere).
    - `chat_path`: when set, the request goes to `base_url + chat_path` verbatim instead of the usual
      `<root>/v1/chat/completions` normalisation (for bases like `.../v4` or `.../compat`).
    """

    system_role: Literal["system", "developer"] = "system"
    max_tokens_field: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"
    reasoning: ReasoningStyle = "reasoning_effort"
    stream_usage: bool = True
    supports_tools: bool = True
    service_tiers: list[str] = Field(default_factory=list)
    effort_models: Literal["all", "catalog"] = "all"
    chat_path: str | None = None
