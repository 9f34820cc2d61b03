"""Request validation for the loopback Messages API server: what the real API rejects, plus the
anthropic SDK's own request TypedDict as a second opinion."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from tests.servers.base import ValidationFailed

BLOCK_KEYS = {
    "text": ({"type", "text"}, {"cache_control", "citations"}),
    "thinking": ({"type", "thinking", "signature"}, set()),
    "redacted_thinking": ({"type", "data"}, set()),
    "tool_use": ({"type", "id", "name", "input"}, {"cache_control"}),
    "tool_result": ({"type", "tool_use_id"}, {"content", "is_error", "cache_control"}),
}
ROLE_BLOCKS = {
    "user": {"text", "tool_result"},
    "assistant": {"text", "thinking", "redacted_thinking", "tool_use"},
}
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
TOOL_ID = re.compile(r"^[a-zA-Z0-9_-]+$")


def validate_body(body: dict[str, Any]) -> None:
    from anthropic.types.message_create_params import MessageCreateParamsStreaming

    allowed = MessageCreateParamsStreaming.__required_keys__ | (
        MessageCreateParamsStreaming.__optional_keys__
    )
    unknown = set(body) - allowed
    if unknown:
        raise ValidationFailed(f"unknown keys {sorted(unknown)}")
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise ValidationFailed("model must be a non-empty string")
    max_tokens = body.get("max_tokens")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise ValidationFailed("max_tokens is required and must be a positive integer")
    if body.get("stream") is not True:
        raise ValidationFailed("stream must be true")
    validate_system(body.get("system"))
    validate_tools(body.get("tools"))
    thinking_on = validate_thinking(body.get("thinking"), max_tokens)
    validate_output_config(body.get("output_config"))
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ValidationFailed("messages must be a non-empty list")
    validate_messages(messages, thinking_on=thinking_on)


def validate_system(system: Any) -> None:
    if system is None or isinstance(system, str):
        return
    if not isinstance(system, list):
        raise ValidationFailed("system must be a string or a list of text blocks")
    for index, block in enumerate(system):
        check_block(f"system[{index}]", block, {"text"})


def validate_tools(tools: Any) -> None:
    if tools is None:
        return
    if not isinstance(tools, list) or not tools:
        raise ValidationFailed("tools must be a non-empty list when present")
    names = set()
    for tool in tools:
        if set(tool) - {"name", "description", "input_schema", "cache_control"}:
            raise ValidationFailed(f"tool has unknown keys {sorted(set(tool))}")
        name = tool.get("name")
        if not isinstance(name, str) or not TOOL_NAME.match(name):
            raise ValidationFailed(f"tool name {name!r} does not match {TOOL_NAME.pattern}")
        if name in names:
            raise ValidationFailed(f"tool name {name!r} is not unique")
        names.add(name)
        schema = tool.get("input_schema")
        if not isinstance(schema, dict) or schema.get("type") != "object":
            raise ValidationFailed(f"tool {name}: input_schema must be a JSON Schema object")
        if "description" in tool and not isinstance(tool["description"], str):
            raise ValidationFailed(f"tool {name}: description must be a string")


def validate_thinking(thinking: Any, max_tokens: int) -> bool:
    if thinking is None:
        return False
    kind = thinking.get("type") if isinstance(thinking, dict) else None
    if kind == "enabled":
        budget = thinking.get("budget_tokens")
        if set(thinking) != {"type", "budget_tokens"} or not isinstance(budget, int):
            raise ValidationFailed("thinking enabled needs exactly type and budget_tokens")
        if budget < 1024 or budget >= max_tokens:
            raise ValidationFailed(f"budget_tokens {budget} must be >= 1024 and < max_tokens")
        return True
    if kind == "adaptive" and set(thinking) == {"type"}:
        return True
    if kind == "disabled" and set(thinking) == {"type"}:
        return False
    raise ValidationFailed(f"bad thinking config {thinking!r}")


def validate_output_config(config: Any) -> None:
    if config is None:
        return
    if not isinstance(config, dict) or set(config) - {"format", "effort"}:
        raise ValidationFailed(f"bad output_config {config!r}")
    fmt = config.get("format")
    if fmt is not None and (
        fmt.get("type") != "json_schema" or not isinstance(fmt.get("schema"), dict)
    ):
        raise ValidationFailed("output_config.format must be {type: json_schema, schema}")
    if fmt is not None:
        check_closed(fmt["schema"], "output_config.format.schema")


def check_closed(schema: dict[str, Any], where: str) -> None:
    if schema.get("type") == "object" and schema.get("additionalProperties") is not False:
        raise ValidationFailed(f"{where}: objects must set additionalProperties: false")
    for name, sub in (schema.get("properties") or {}).items():
        check_closed(sub, f"{where}.{name}")
    if isinstance(schema.get("items"), dict):
        check_closed(schema["items"], f"{where}[]")


def check_block(where: str, block: Any, allowed_types: set[str]) -> dict[str, Any]:
    if not isinstance(block, dict) or block.get("type") not in allowed_types:
        raise ValidationFailed(f"{where}: block type must be one of {sorted(allowed_types)}")
    required, optional = BLOCK_KEYS[block["type"]]
    keys = set(block)
    if not required <= keys or keys - required - optional:
        raise ValidationFailed(f"{where}: {block['type']} block has keys {sorted(keys)}")
    if block["type"] == "text" and (
        not isinstance(block["text"], str) or not block["text"].strip()
    ):
        raise ValidationFailed(f"{where}: text content blocks must be non-empty")
    if block["type"] == "thinking" and not (
        isinstance(block["signature"], str) and block["signature"]
    ):
        raise ValidationFailed(f"{where}: thinking blocks need their signature")
    if block["type"] == "tool_use" and (
        not TOOL_ID.match(str(block["id"])) or not isinstance(block["input"], dict)
    ):
        raise ValidationFailed(f"{where}: tool_use needs a valid id and an input object")
    return block


def validate_messages(messages: list[Any], *, thinking_on: bool) -> None:
    pending: list[str] = []
    previous_role = None
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(message, dict) or set(message) != {"role", "content"}:
            raise ValidationFailed(f"{where}: a message has exactly role and content")
        role = message["role"]
        if role not in ROLE_BLOCKS:
            raise ValidationFailed(f"{where}: role must be user or assistant")
        if index == 0 and role != "user":
            raise ValidationFailed("the first message must use the user role")
        if role == previous_role:
            raise ValidationFailed(f"{where}: roles must alternate (two {role} messages)")
        previous_role = role
        content = message["content"]
        if isinstance(content, str):
            if not content.strip():
                raise ValidationFailed(f"{where}: content must be non-empty")
            blocks: list[dict[str, Any]] = [{"type": "text", "text": content}]
        elif isinstance(content, list) and content:
            blocks = [
                check_block(f"{where}.content[{n}]", block, ROLE_BLOCKS[role])
                for n, block in enumerate(content)
            ]
        else:
            raise ValidationFailed(f"{where}: content must be a string or a non-empty list")
        if role == "user":
            check_tool_results(where, blocks, pending)
            pending = []
        else:
            pending = [b["id"] for b in blocks if b["type"] == "tool_use"]
            last_tool_turn = pending and index == len(messages) - 2
            if thinking_on and last_tool_turn and blocks[0]["type"] == "tool_use":
                raise ValidationFailed(
                    f"{where}: with thinking on, the tool-use turn must start with its thinking"
                )


def check_tool_results(where: str, blocks: list[dict[str, Any]], pending: list[str]) -> None:
    kinds = [b["type"] for b in blocks]
    results = [b["tool_use_id"] for b in blocks if b["type"] == "tool_result"]
    if "tool_result" in kinds[len(results) :]:
        raise ValidationFailed(f"{where}: tool_result blocks must come first")
    if set(results) != set(pending):
        raise ValidationFailed(
            f"{where}: tool_result ids {sorted(results)} do not answer tool_use ids {sorted(pending)}"
        )


@cache
def _sdk_adapter() -> Any:
    from anthropic.types.message_create_params import MessageCreateParamsStreaming
    from pydantic import TypeAdapter

    return TypeAdapter(MessageCreateParamsStreaming)


def _force(value: Any) -> Any:
    """pydantic validates `Iterable` fields lazily; walking the result makes it validate them."""
    if isinstance(value, dict):
        return {k: _force(v) for k, v in value.items()}
    if isinstance(value, list | tuple) or type(value).__name__ == "ValidatorIterator":
        return [_force(v) for v in value]
    return value


def validate_with_sdk(body: dict[str, Any]) -> None:
    from pydantic import ValidationError

    try:
        _force(_sdk_adapter().validate_python(body))
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ValidationFailed(
            f"anthropic SDK rejects the body at {first['loc']}: {first['msg']}"
        ) from None
