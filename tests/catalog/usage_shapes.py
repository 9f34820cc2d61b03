"""Each provider's raw usage, normalised to `rupu.messages.Usage` as wire-formats §7.9 defines it:
`input_tokens` without cache, cache reads and writes apart, reasoning inside `output_tokens`.

Chat completions and Gemini use rupu's real decoders (`rupu.providers.openai_chat.decode_usage`,
`rupu.providers.gemini_dialect.decode_usage`). Anthropic and OpenAI Responses use the normalisation
below until their providers land; their decoders must give the same `Usage` for the same fields.
"""

from __future__ import annotations

from typing import Any

from rupu.messages import Usage
from rupu.providers.gemini_dialect import decode_usage as gemini_usage
from rupu.providers.openai_chat import decode_usage as chat_usage

__all__ = ["anthropic_usage", "chat_usage", "gemini_usage", "responses_usage"]


def anthropic_usage(raw: dict[str, Any]) -> Usage:
    """Anthropic Messages: `input_tokens` already excludes cache reads and writes."""
    details = raw.get("output_tokens_details") or {}
    return Usage(
        input_tokens=raw["input_tokens"],
        output_tokens=raw["output_tokens"],
        cache_read_tokens=raw.get("cache_read_input_tokens", 0),
        cache_write_tokens=raw.get("cache_creation_input_tokens", 0),
        reasoning_tokens=details.get("thinking_tokens", 0),
        reported=True,
    )


def responses_usage(raw: dict[str, Any]) -> Usage:
    """OpenAI Responses / ChatGPT backend: cached tokens are inside `input_tokens`."""
    cached = (raw.get("input_tokens_details") or {}).get("cached_tokens", 0)
    return Usage(
        input_tokens=raw["input_tokens"] - cached,
        output_tokens=raw["output_tokens"],
        cache_read_tokens=cached,
        reasoning_tokens=(raw.get("output_tokens_details") or {}).get("reasoning_tokens", 0),
        reported=True,
    )
