"""Conversation messages as JSON and back, every field kept: a thinking block's signature, its
redacted payload and the provider that made it, a tool call's item id and signature. The transcript's
`message` records are written with `encode_message`, and a session's history is read back with
`decode_message`, so a provider gets its own reasoning back byte for byte."""

from __future__ import annotations

from typing import Any

from rupu.messages import Message, Part, TextPart, ThinkingPart, ToolCallPart, ToolResultPart


class MessageFormatError(ValueError):
    """A `message` record that is not a message (a damaged or foreign transcript)."""


def encode_message(message: Message) -> dict[str, Any]:
    return {"role": message.role, "parts": [_encode_part(p) for p in message.parts]}


def _encode_part(part: Part) -> dict[str, Any]:
    match part:
        case TextPart(text=text):
            return {"kind": "text", "text": text}
        case ThinkingPart():
            data: dict[str, Any] = {"kind": "thinking", "text": part.text}
            for key in ("signature", "redacted", "provider", "item_id"):
                value = getattr(part, key)
                if value is not None:
                    data[key] = value
            return data
        case ToolCallPart():
            data = {
                "kind": "tool_call",
                "call_id": part.call_id,
                "name": part.name,
                "arguments": part.arguments,
            }
            if part.item_id is not None:
                data["item_id"] = part.item_id
            if part.signature is not None:
                data["signature"] = part.signature
            return data
        case ToolResultPart():
            return {
                "kind": "tool_result",
                "call_id": part.call_id,
                "name": part.name,
                "content": part.content,
                "is_error": part.is_error,
            }


def decode_message(data: object) -> Message:
    """Raises `MessageFormatError` for anything `encode_message` would not have written."""
    if not isinstance(data, dict):
        raise MessageFormatError("a message is a JSON object")
    role = data.get("role")
    parts = data.get("parts")
    if role not in ("user", "assistant") or not isinstance(parts, list):
        raise MessageFormatError("a message has a role (user|assistant) and a list of parts")
    return Message("user" if role == "user" else "assistant", [_decode_part(p) for p in parts])


def _decode_part(data: object) -> Part:
    if not isinstance(data, dict):
        raise MessageFormatError("a message part is a JSON object")
    try:
        match data.get("kind"):
            case "text":
                return TextPart(_text(data, "text"))
            case "thinking":
                return ThinkingPart(
                    _text(data, "text"),
                    signature=_optional(data, "signature"),
                    redacted=_optional(data, "redacted"),
                    provider=_optional(data, "provider"),
                    item_id=_optional(data, "item_id"),
                )
            case "tool_call":
                arguments = data.get("arguments")
                if not isinstance(arguments, dict):
                    raise MessageFormatError("a tool call's arguments are a JSON object")
                return ToolCallPart(
                    _text(data, "call_id"),
                    _text(data, "name"),
                    arguments,
                    item_id=_optional(data, "item_id"),
                    signature=_optional(data, "signature"),
                )
            case "tool_result":
                return ToolResultPart(
                    _text(data, "call_id"),
                    _text(data, "name"),
                    _text(data, "content"),
                    is_error=bool(data.get("is_error", False)),
                )
            case other:
                raise MessageFormatError(f"unknown message part kind {other!r}")
    except KeyError as exc:
        raise MessageFormatError(f"a message part lacks {exc.args[0]!r}") from None


def _text(data: dict[str, Any], key: str) -> str:
    value = data[key]
    if not isinstance(value, str):
        raise MessageFormatError(f"{key!r} of a message part is not a string")
    return value


def _optional(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise MessageFormatError(f"{key!r} of a message part is not a string")
    return value
