"""A loopback OpenAI chat-completions server (`POST /v1/chat/completions`).

Requests are validated strictly: path, bearer key, JSON body with only the keys the API defines, each
message well-formed for its role, `stream_options` only with `stream: true`, tool schemas present.
Replies are built with `text_stream`, `tool_call_stream` and `completion` below; what they produce is
checked against the official `openai` SDK in tests/providers/test_openai_chat_fidelity.py.
"""

from __future__ import annotations

import functools
from typing import Any

import orjson
from aiohttp import web

from tests.servers.base import LoopbackServer, RecordedRequest, Reply, ValidationFailed, sse

ALLOWED_KEYS = {
    "model",
    "messages",
    "stream",
    "stream_options",
    "tools",
    "tool_choice",
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "reasoning_effort",
    "response_format",
    "stop",
    "n",
    "seed",
    "user",
    "parallel_tool_calls",
    "service_tier",
    "store",
    "metadata",
}
ROLES = {"system", "developer", "user", "assistant", "tool"}


class ChatCompletionsServer(LoopbackServer):
    def __init__(
        self, *, api_key: str | None = "test-key", path: str = "/v1/chat/completions"
    ) -> None:
        super().__init__()
        self.api_key = api_key
        self.path = path

    def routes(self, app: web.Application) -> None:
        app.router.add_post(self.path, self.handle)

    def validate(self, request: RecordedRequest) -> None:
        if (
            self.api_key is not None
            and request.headers.get("authorization") != f"Bearer {self.api_key}"
        ):
            raise ValidationFailed("missing or wrong bearer key")
        if not request.headers.get("content-type", "").startswith("application/json"):
            raise ValidationFailed("content-type must be application/json")
        body = request.body
        if not isinstance(body, dict):
            raise ValidationFailed("body must be a JSON object")
        unknown = set(body) - ALLOWED_KEYS
        if unknown:
            raise ValidationFailed(f"unknown keys {sorted(unknown)}")
        if not isinstance(body.get("model"), str) or not body["model"]:
            raise ValidationFailed("model must be a non-empty string")
        if "stream_options" in body and body.get("stream") is not True:
            raise ValidationFailed("stream_options is only allowed with stream: true")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise ValidationFailed("messages must be a non-empty list")
        for index, message in enumerate(messages):
            validate_message(index, message)
        for tool in body.get("tools") or []:
            function = tool.get("function") if isinstance(tool, dict) else None
            if (
                tool.get("type") != "function"
                or not isinstance(function, dict)
                or not function.get("name")
            ):
                raise ValidationFailed(f"bad tool {tool!r}")
            if "parameters" in function and function["parameters"].get("type") != "object":
                raise ValidationFailed("tool parameters must be a JSON Schema object")
        if "tools" in body and not body["tools"]:
            raise ValidationFailed("tools must not be empty when present")
        from pydantic import ValidationError

        try:
            sdk_request_adapter().validate_python(body)
        except ValidationError as exc:
            raise ValidationFailed(
                f"openai SDK rejects the body: {exc.errors()[0]['msg']}"
            ) from None


@functools.cache
def sdk_request_adapter() -> Any:
    """The openai SDK's request type as a validator, built once (it takes tens of milliseconds)."""
    from openai.types.chat import CompletionCreateParams
    from pydantic import TypeAdapter

    return TypeAdapter(CompletionCreateParams)


def validate_message(index: int, message: Any) -> None:
    if not isinstance(message, dict) or message.get("role") not in ROLES:
        raise ValidationFailed(f"messages[{index}] has no valid role")
    role = message["role"]
    allowed = {"role", "content", "name"}
    if role == "assistant":
        allowed |= {"tool_calls", "refusal"}
        if message.get("content") is None and not message.get("tool_calls"):
            raise ValidationFailed(f"messages[{index}]: assistant needs content or tool_calls")
    if role == "tool":
        allowed |= {"tool_call_id"}
        if not message.get("tool_call_id"):
            raise ValidationFailed(f"messages[{index}]: tool message needs tool_call_id")
    if set(message) - allowed:
        raise ValidationFailed(f"messages[{index}]: unknown keys {sorted(set(message) - allowed)}")
    if role in ("system", "user", "developer", "tool") and not isinstance(
        message.get("content"), str | list
    ):
        raise ValidationFailed(f"messages[{index}]: content must be a string or parts")


def _chunk(
    model: str, delta: dict[str, Any], finish: str | None = None, index: int = 0
) -> dict[str, Any]:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": model,
        "choices": [{"index": index, "delta": delta, "finish_reason": finish, "logprobs": None}],
    }


def usage(
    prompt: int = 10, completion: int = 5, cached: int = 0, reasoning: int = 0
) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
        "completion_tokens_details": {"reasoning_tokens": reasoning},
    }


def text_stream(
    pieces: list[str],
    *,
    model: str = "test-model",
    finish: str = "stop",
    with_usage: dict[str, Any] | None = None,
    done: bool = True,
) -> list[bytes]:
    chunks = [sse(_chunk(model, {"role": "assistant", "content": ""}))]
    chunks += [sse(_chunk(model, {"content": piece})) for piece in pieces]
    chunks.append(sse(_chunk(model, {}, finish)))
    if with_usage is not None:
        chunks.append(
            sse(
                {
                    "id": "chatcmpl-test",
                    "object": "chat.completion.chunk",
                    "created": 1_700_000_000,
                    "model": model,
                    "choices": [],
                    "usage": with_usage,
                }
            )
        )
    if done:
        chunks.append(b"data: [DONE]\n\n")
    return chunks


def tool_call_stream(
    calls: list[tuple[str, str, dict[str, Any]]], *, model: str = "test-model", split: int = 3
) -> list[bytes]:
    """Each call is (id, name, arguments); arguments arrive in `split` fragments."""
    chunks = [sse(_chunk(model, {"role": "assistant", "content": None}))]
    for index, (call_id, name, arguments) in enumerate(calls):
        chunks.append(
            sse(
                _chunk(
                    model,
                    {
                        "tool_calls": [
                            {
                                "index": index,
                                "id": call_id,
                                "type": "function",
                                "function": {"name": name, "arguments": ""},
                            }
                        ]
                    },
                )
            )
        )
        text = orjson.dumps(arguments).decode()
        step = max(1, len(text) // split + 1)
        for start in range(0, len(text), step):
            chunks.append(
                sse(
                    _chunk(
                        model,
                        {
                            "tool_calls": [
                                {
                                    "index": index,
                                    "function": {"arguments": text[start : start + step]},
                                }
                            ]
                        },
                    )
                )
            )
    chunks.append(sse(_chunk(model, {}, "tool_calls")))
    chunks.append(
        sse(
            {
                "id": "chatcmpl-test",
                "object": "chat.completion.chunk",
                "created": 1_700_000_000,
                "model": model,
                "choices": [],
                "usage": usage(),
            }
        )
    )
    chunks.append(b"data: [DONE]\n\n")
    return chunks


def completion(
    text: str, *, model: str = "test-model", with_usage: dict[str, Any] | None = None
) -> Reply:
    body = {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": with_usage or usage(),
    }
    return Reply(body=orjson.dumps(body), content_type="application/json")


def stream_reply(chunks: list[bytes], **kwargs: Any) -> Reply:
    return Reply(
        chunks=chunks,
        headers={"x-request-id": "req_test_123", **kwargs.pop("headers", {})},
        **kwargs,
    )


def error_reply(
    status: int, message: str, error_type: str, *, headers: dict[str, str] | None = None
) -> Reply:
    body = orjson.dumps(
        {"error": {"message": message, "type": error_type, "param": None, "code": None}}
    )
    return Reply(
        status=status,
        body=body,
        content_type="application/json",
        headers={"x-request-id": "req_err_1", **(headers or {})},
    )
