"""A loopback OpenAI Responses server: `POST /v1/responses` (API key) and
`POST /backend-api/codex/responses` (the ChatGPT backend, sign-in token).

Requests are validated strictly. Every body must validate against the openai SDK's own
`ResponseCreateParams` (with unknown keys forbidden), plus the rules the real API enforces that the
types cannot express: a `function_call_output` answers an earlier `function_call` by `call_id` and
every call is answered, reasoning items under `store: false` carry `encrypted_content`, tools are
JSON Schema objects. Route rules: the API-key route wants the bearer key and `OpenAI-Organization`
exactly when an org is expected; the codex route wants the sign-in token, `chatgpt-account-id`,
`originator`, `OpenAI-Beta: responses=experimental`, `store: false`, `instructions`, encrypted
reasoning in `include`, and rejects `max_output_tokens` as the real backend does.

A wrong bearer gets a 401 (recorded in `unauthorized`, not as a violation), like the real API.
Replies are scripted with `ResponseStream`; tests/providers/test_openai_responses_fidelity.py checks
that the official SDK parses everything it produces.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import orjson
from aiohttp import web

from tests.servers.base import LoopbackServer, RecordedRequest, Reply, ValidationFailed, sse

API_PATH = "/v1/responses"
CODEX_PATH = "/backend-api/codex/responses"
EFFORTS = {"minimal", "low", "medium", "high"}
INCLUDES = {"reasoning.encrypted_content"}


@functools.cache
def _create_params_adapter() -> Any:
    from openai.types.responses import ResponseCreateParams
    from pydantic import ConfigDict, TypeAdapter

    return TypeAdapter(ResponseCreateParams, config=ConfigDict(extra="forbid"))


class ResponsesServer(LoopbackServer):
    def __init__(
        self,
        *,
        api_key: str = "sk-test-key",
        org_id: str | None = None,
        sso_token: str | None = None,
        account_id: str | None = None,
    ) -> None:
        super().__init__()
        self.api_key = api_key
        self.org_id = org_id
        self.sso_token = sso_token
        self.account_id = account_id
        self.unauthorized: list[RecordedRequest] = []

    def routes(self, app: web.Application) -> None:
        app.router.add_post(API_PATH, self.handle)
        app.router.add_post(CODEX_PATH, self.handle)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        expected = self.api_key if request.path == API_PATH else self.sso_token
        if request.headers.get("authorization") != f"Bearer {expected}":
            self.unauthorized.append(await self.record(request))
            return web.Response(
                status=401,
                body=orjson.dumps(
                    {
                        "error": {
                            "message": "Incorrect API key provided.",
                            "type": "invalid_request_error",
                            "param": None,
                            "code": "invalid_api_key",
                        }
                    }
                ),
                content_type="application/json",
                headers={"x-request-id": "req_unauthorized"},
            )
        return await super().handle(request)

    def next_reply(self, recorded: RecordedRequest) -> Reply:
        body = recorded.body
        if (
            recorded.path == CODEX_PATH
            and isinstance(body, dict)
            and body.get("instructions") == ""
        ):
            # What the ChatGPT backend answers to empty instructions.
            return Reply(
                status=400,
                body=orjson.dumps({"detail": "Instructions are not valid"}),
                content_type="application/json",
            )
        return super().next_reply(recorded)

    # -- validation -----------------------------------------------------------------------------------
    def validate(self, request: RecordedRequest) -> None:
        if not request.headers.get("content-type", "").startswith("application/json"):
            raise ValidationFailed("content-type must be application/json")
        body = request.body
        if not isinstance(body, dict):
            raise ValidationFailed("body must be a JSON object")
        if request.path == API_PATH:
            self._validate_api_route(request)
        else:
            self._validate_codex_route(request, body)
        validate_body(body)

    def _validate_api_route(self, request: RecordedRequest) -> None:
        org = request.headers.get("openai-organization")
        if org != self.org_id:
            raise ValidationFailed(f"OpenAI-Organization is {org!r}, expected {self.org_id!r}")
        if "chatgpt-account-id" in request.headers:
            raise ValidationFailed("chatgpt-account-id belongs to the codex route only")

    def _validate_codex_route(self, request: RecordedRequest, body: dict[str, Any]) -> None:
        headers = request.headers
        if headers.get("chatgpt-account-id") != self.account_id:
            raise ValidationFailed(
                f"chatgpt-account-id is {headers.get('chatgpt-account-id')!r}, expected {self.account_id!r}"
            )
        if not headers.get("originator"):
            raise ValidationFailed("the codex route needs an originator header")
        if headers.get("openai-beta") != "responses=experimental":
            raise ValidationFailed("the codex route needs OpenAI-Beta: responses=experimental")
        if body.get("store") is not False:
            raise ValidationFailed("the codex route requires store: false")
        if not isinstance(body.get("instructions"), str):
            raise ValidationFailed("the codex route requires instructions")
        if "reasoning.encrypted_content" not in (body.get("include") or []):
            raise ValidationFailed("the codex route needs include: [reasoning.encrypted_content]")
        if "max_output_tokens" in body:
            raise ValidationFailed("Unsupported parameter: max_output_tokens")


def validate_body(body: dict[str, Any]) -> None:
    """The rules of `POST /v1/responses` for a streamed request."""
    if body.get("stream") is not True:
        raise ValidationFailed("this server only streams: stream must be true")
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise ValidationFailed("model must be a non-empty string")
    from pydantic import ValidationError

    try:
        _create_params_adapter().validate_python(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"][1:])
        raise ValidationFailed(f"openai SDK rejects the body at {where}: {first['msg']}") from None
    items = body.get("input")
    if not isinstance(items, list) or not items:
        raise ValidationFailed("input must be a non-empty list of items")
    validate_input(items, store=body.get("store", True))
    for tool in body.get("tools") or []:
        if tool.get("type") != "function" or not tool.get("name"):
            raise ValidationFailed(f"bad tool {tool!r}")
        if (
            not isinstance(tool.get("parameters"), dict)
            or tool["parameters"].get("type") != "object"
        ):
            raise ValidationFailed("tool parameters must be a JSON Schema object")
    if "tools" in body and not body["tools"]:
        raise ValidationFailed("tools must not be empty when present")
    for include in body.get("include") or []:
        if include not in INCLUDES:
            raise ValidationFailed(f"unexpected include {include!r}")
    reasoning = body.get("reasoning")
    if reasoning is not None and reasoning.get("effort") not in EFFORTS:
        raise ValidationFailed(f"reasoning.effort {reasoning.get('effort')!r} is not supported")
    limit = body.get("max_output_tokens")
    if limit is not None and limit < 16:
        raise ValidationFailed("max_output_tokens must be >= 16")
    text_format = (body.get("text") or {}).get("format")
    if text_format is not None and text_format.get("type") not in ("json_object", "json_schema"):
        raise ValidationFailed(f"unexpected text.format {text_format!r}")


def validate_input(items: list[Any], *, store: bool) -> None:
    calls: set[str] = set()
    answered: set[str] = set()
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise ValidationFailed(f"input[{index}] is not an object")
        kind = item.get("type", "message")
        if kind == "message":
            if item.get("role") not in ("user", "assistant", "system", "developer"):
                raise ValidationFailed(f"input[{index}] has no valid role")
            if not item.get("content"):
                raise ValidationFailed(f"input[{index}] has empty content")
        elif kind == "function_call":
            if not item.get("call_id") or not item.get("name"):
                raise ValidationFailed(f"input[{index}]: function_call needs call_id and name")
            try:
                orjson.loads(item.get("arguments", ""))
            except orjson.JSONDecodeError:
                raise ValidationFailed(f"input[{index}]: arguments are not JSON") from None
            calls.add(item["call_id"])
        elif kind == "function_call_output":
            call_id = item.get("call_id")
            if call_id not in calls:
                raise ValidationFailed(
                    f"input[{index}]: No tool call found for function call output with call_id {call_id}"
                )
            answered.add(call_id)
        elif kind == "reasoning":
            if not store and not item.get("encrypted_content"):
                raise ValidationFailed(
                    f"input[{index}]: Item with id '{item.get('id')}' not found. Items are not "
                    "persisted when `store` is set to false."
                )
        else:
            raise ValidationFailed(f"input[{index}]: unexpected item type {kind!r}")
    unanswered = calls - answered
    if unanswered:
        raise ValidationFailed(f"No tool output found for function call {sorted(unanswered)[0]}")


# -- scripting replies --------------------------------------------------------------------------------


def usage(
    input_tokens: int = 20,
    output_tokens: int = 8,
    *,
    cached: int = 0,
    reasoning: int = 0,
) -> dict[str, Any]:
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": input_tokens + output_tokens,
    }


class ResponseStream:
    """Builds the SSE events of one response, numbered and indexed as the real API does.

    Call `reasoning`, `text`, `refusal` and `function_call` in output order, then one of
    `completed`, `incomplete`, `failed` (or `error` for an SSE error event), then `chunks()`.
    """

    def __init__(self, *, model: str = "gpt-test", response_id: str = "resp_test1") -> None:
        self.model = model
        self.response_id = response_id
        self.events: list[dict[str, Any]] = []
        self.output: list[dict[str, Any]] = []
        self._seq = 0
        self.emit("response.created", response=self.response("in_progress", output=[]))
        self.emit("response.in_progress", response=self.response("in_progress", output=[]))

    def emit(self, kind: str, **fields: Any) -> ResponseStream:
        self.events.append({"type": kind, "sequence_number": self._seq, **fields})
        self._seq += 1
        return self

    def response(self, status: str, **fields: Any) -> dict[str, Any]:
        return {
            "id": self.response_id,
            "object": "response",
            "created_at": 1_700_000_000,
            "status": status,
            "model": self.model,
            "output": fields.pop("output", self.output),
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            "error": None,
            "incomplete_details": None,
            "instructions": None,
            "metadata": {},
            "temperature": 1.0,
            "top_p": 1.0,
            "usage": None,
            **fields,
        }

    def _add(self, item: dict[str, Any], in_progress: dict[str, Any]) -> int:
        index = len(self.output)
        self.emit("response.output_item.added", output_index=index, item=in_progress)
        return index

    def _done(self, index: int, item: dict[str, Any]) -> None:
        self.emit("response.output_item.done", output_index=index, item=item)
        self.output.append(item)

    def reasoning(
        self,
        summaries: list[list[str]],
        *,
        encrypted: str | None = "enc_reasoning_blob",
        item_id: str = "rs_1",
        stream_deltas: bool = True,
    ) -> ResponseStream:
        """`summaries` is a list of summary parts, each a list of delta pieces."""
        item = {"id": item_id, "type": "reasoning", "summary": []}
        index = self._add(item, item)
        if stream_deltas:
            for part, pieces in enumerate(summaries):
                text = "".join(pieces)
                common = {"item_id": item_id, "output_index": index, "summary_index": part}
                self.emit(
                    "response.reasoning_summary_part.added",
                    **common,
                    part={"type": "summary_text", "text": ""},
                )
                for piece in pieces:
                    self.emit("response.reasoning_summary_text.delta", **common, delta=piece)
                self.emit("response.reasoning_summary_text.done", **common, text=text)
                self.emit(
                    "response.reasoning_summary_part.done",
                    **common,
                    part={"type": "summary_text", "text": text},
                )
        done: dict[str, Any] = {
            **item,
            "summary": [{"type": "summary_text", "text": "".join(p)} for p in summaries],
        }
        if encrypted is not None:
            done["encrypted_content"] = encrypted
        self._done(index, done)
        return self

    def text(
        self, pieces: Sequence[str], *, item_id: str = "msg_1", refusal: bool = False
    ) -> ResponseStream:
        item = {
            "id": item_id,
            "type": "message",
            "role": "assistant",
            "status": "in_progress",
            "content": [],
        }
        index = self._add(item, item)
        common = {"item_id": item_id, "output_index": index, "content_index": 0}
        full = "".join(pieces)
        if refusal:
            part: dict[str, Any] = {"type": "refusal", "refusal": ""}
            self.emit("response.content_part.added", **common, part=part)
            for piece in pieces:
                self.emit("response.refusal.delta", **common, delta=piece)
            self.emit("response.refusal.done", **common, refusal=full)
            final: dict[str, Any] = {"type": "refusal", "refusal": full}
        else:
            part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            self.emit("response.content_part.added", **common, part=part)
            for piece in pieces:
                self.emit("response.output_text.delta", **common, delta=piece, logprobs=[])
            self.emit("response.output_text.done", **common, text=full, logprobs=[])
            final = {"type": "output_text", "text": full, "annotations": [], "logprobs": []}
        self.emit("response.content_part.done", **common, part=final)
        self._done(index, {**item, "status": "completed", "content": [final]})
        return self

    def function_call(
        self,
        call_id: str,
        name: str,
        arguments: dict[str, Any] | str,
        *,
        item_id: str | None = None,
        split: int = 3,
        streamed: int | None = None,
    ) -> ResponseStream:
        """Arguments arrive in `split` deltas; `streamed` (a character count) sends only that prefix
        as deltas, leaving `.done` to carry the rest (0: arguments only in `.done`)."""
        text = arguments if isinstance(arguments, str) else orjson.dumps(arguments).decode()
        item_id = item_id or f"fc_{call_id}"
        item = {
            "id": item_id,
            "type": "function_call",
            "call_id": call_id,
            "name": name,
            "arguments": "",
            "status": "in_progress",
        }
        index = self._add(item, item)
        sent = text if streamed is None else text[:streamed]
        step = max(1, len(sent) // split + 1)
        for start in range(0, len(sent), step):
            self.emit(
                "response.function_call_arguments.delta",
                item_id=item_id,
                output_index=index,
                delta=sent[start : start + step],
            )
        self.emit(
            "response.function_call_arguments.done",
            item_id=item_id,
            output_index=index,
            arguments=text,
        )
        self._done(index, {**item, "arguments": text, "status": "completed"})
        return self

    def completed(
        self, with_usage: dict[str, Any] | None = None, *, service_tier: str | None = None
    ) -> ResponseStream:
        """`service_tier`: the tier the server says it served (absent when None)."""
        tier = {"service_tier": service_tier} if service_tier is not None else {}
        return self.emit(
            "response.completed",
            response=self.response("completed", usage=with_usage or usage(), **tier),
        )

    def incomplete(self, reason: str, with_usage: dict[str, Any] | None = None) -> ResponseStream:
        return self.emit(
            "response.incomplete",
            response=self.response(
                "incomplete",
                usage=with_usage or usage(),
                incomplete_details={"reason": reason},
            ),
        )

    def failed(self, code: str, message: str) -> ResponseStream:
        return self.emit(
            "response.failed",
            response=self.response("failed", error={"code": code, "message": message}),
        )

    def error(self, code: str, message: str) -> ResponseStream:
        return self.emit("error", code=code, message=message, param=None)

    def chunks(self) -> list[bytes]:
        return [sse(event, event=event["type"]) for event in self.events]


def stream_reply(stream: ResponseStream | list[bytes], **kwargs: Any) -> Reply:
    chunks = stream.chunks() if isinstance(stream, ResponseStream) else stream
    return Reply(
        chunks=chunks,
        headers={"x-request-id": "req_test_123", **kwargs.pop("headers", {})},
        **kwargs,
    )


def error_reply(
    status: int,
    message: str,
    error_type: str,
    *,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    body = orjson.dumps(
        {"error": {"message": message, "type": error_type, "param": None, "code": code}}
    )
    return Reply(
        status=status,
        body=body,
        content_type="application/json",
        headers={"x-request-id": "req_err_1", **(headers or {})},
    )


def fake_jwt(account_id: str | None, *, extra: dict[str, Any] | None = None) -> str:
    """An unsigned JWT shaped like a ChatGPT access token (base64url, no padding)."""
    import base64

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(orjson.dumps(value)).rstrip(b"=").decode()

    claims: dict[str, Any] = {"exp": 4_102_444_800, **(extra or {})}
    if account_id is not None:
        claims["https://api.openai.com/auth"] = {
            "chatgpt_account_id": account_id,
            "chatgpt_plan_type": "plus",
        }
    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"
