"""Per-endpoint switches for the chat-completions dialect, applied to an encoded request (the
`ChatCompat` model itself is config: `rupu.config.chat_compat`).

OpenAI-compatible servers disagree on small things: the role of the system prompt, the name of the
output-token limit, how reasoning effort is asked for, whether `stream_options` is accepted, whether
tools are supported at all, which service tiers exist. Each difference is one field of `ChatCompat`, set by a
preset (`presets.toml`) or by `[providers.<name>.compat]` in config.toml; `apply_compat` rewrites an
encoded request body accordingly. The defaults reproduce what rupu sends to a plain OpenAI-compatible
server, so an endpoint without a compat table behaves exactly as before.
"""

from __future__ import annotations

from typing import Any

from rupu.config.chat_compat import ChatCompat
from rupu.errors import ProviderError

DEFAULT_COMPAT = ChatCompat()


def apply_compat(
    body: dict[str, Any],
    compat: ChatCompat,
    *,
    provider: str,
    service_tier: str | None = None,
) -> dict[str, Any]:
    """Rewrites a body built by `encode_request` for this endpoint (in place, and returned)."""
    messages = body.get("messages") or []
    if compat.system_role != "system" and messages and messages[0].get("role") == "system":
        messages[0]["role"] = compat.system_role
    if "max_tokens" in body and compat.max_tokens_field != "max_tokens":
        body[compat.max_tokens_field] = body.pop("max_tokens")
    if not compat.stream_usage:
        body.pop("stream_options", None)
    effort = body.pop("reasoning_effort", None)
    if effort is not None:
        match compat.reasoning:
            case "reasoning_effort":
                body["reasoning_effort"] = effort
            case "reasoning":
                body["reasoning"] = {"effort": effort}
            case "thinking":
                body["thinking"] = {"type": "disabled" if effort == "minimal" else "enabled"}
            case "none":
                pass
    if body.get("tools") and not compat.supports_tools:
        raise ProviderError(
            provider,
            "this endpoint does not support tool calls, and the agent has tools",
            error_type="tools_unsupported",
            hint=f"remove `tools:` from the agent, or use another provider than '{provider}'",
        )
    if not body.get("tools"):
        body.pop("tools", None)
    if service_tier and service_tier in compat.service_tiers:
        body["service_tier"] = service_tier
    return body


def chat_url(base_url: str, compat: ChatCompat) -> str:
    """The chat-completions URL for `base_url`: `base_url + chat_path` when the endpoint declares its
    path, else the `<root>/v1/chat/completions` normalisation."""
    if compat.chat_path is not None:
        return base_url.rstrip("/") + "/" + compat.chat_path.lstrip("/")
    root = base_url.rstrip("/")
    if root.endswith("/v1"):
        root = root[:-3]
    return f"{root}/v1/chat/completions"
