"""Each provider's raw usage, normalised to `rupu.messages.Usage` by the provider's own decoder:
`input_tokens` without cache, cache reads and writes apart, reasoning inside `output_tokens`
(wire-formats §7.9)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rupu.messages import Usage
from rupu.providers.anthropic_decode import decode_usage as _anthropic_decode
from rupu.providers.gemini_dialect import decode_usage as gemini_usage
from rupu.providers.openai_chat import decode_usage as chat_usage
from rupu.providers.openai_responses_decode import decode_usage as responses_usage

__all__ = ["anthropic_usage", "chat_usage", "gemini_usage", "responses_usage"]


def anthropic_usage(raw: Mapping[str, Any]) -> Usage:
    """Anthropic Messages: `input_tokens` already excludes cache reads and writes."""
    usage = Usage()
    _anthropic_decode(raw, usage)
    return usage
