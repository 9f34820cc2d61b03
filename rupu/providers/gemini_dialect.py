"""The Gemini generateContent dialect, sans-IO: the request body and the streamed-response decoder.

AI Studio and Vertex AI speak it directly; the Code Assist endpoint wraps it in an envelope
(`gemini_code_assist.py`). The routes live in `gemini.py`. Wire facts that are easy to get wrong:
each SSE `data:` is a whole `GenerateContentResponse`; function calls arrive whole, often without an
id, and a tool-calling turn still ends with `STOP`; `thoughtSignature` may ride on any part and must
go back unchanged; `promptTokenCount` includes cached tokens; `thoughtsTokenCount` is *not* part of
`candidatesTokenCount`.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from rupu.errors import ProviderError
from rupu.messages import (
    Effort,
    Message,
    ModelRequest,
    Part,
    ResponseFinished,
    ResponseStarted,
    StopReason,
    StreamEvent,
    TextDelta,
    TextPart,
    ThinkingDelta,
    ThinkingFinished,
    ThinkingPart,
    ToolCallFinished,
    ToolCallPart,
    ToolCallStarted,
    ToolResultPart,
    Usage,
    UsageReported,
)
from rupu.providers.failures import provider_error

# Google's documented stand-in for a missing signature on replayed Gemini 3 function calls (history
# that did not come from Gemini); without it the API rejects the request.
SKIP_SIGNATURE = "skip_thought_signature_validator"

FINISH_REASONS: dict[str, StopReason] = {
    "STOP": "end_turn",
    "MAX_TOKENS": "max_tokens",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "IMAGE_PROHIBITED_CONTENT": "content_filter",
    "IMAGE_RECITATION": "content_filter",
    "MODEL_ARMOR": "content_filter",
    "MALFORMED_FUNCTION_CALL": "error",
    "UNEXPECTED_TOOL_CALL": "error",
    "TOO_MANY_TOOL_CALLS": "error",
    "MISSING_THOUGHT_SIGNATURE": "error",
    "MALFORMED_RESPONSE": "error",
}

# Gemini 2.5 thinking budgets in tokens. Pro cannot switch thinking off (minimum 128); Flash can (0).
_BUDGETS: dict[str, int] = {"low": 1024, "medium": 8192, "high": 24576}
_SCHEMA_DROP = frozenset({"$schema", "$comment"})


# --- request -------------------------------------------------------------------------------------


def bare_model(model: str) -> str:
    """`models/gemini-2.5-pro` and `gemini-2.5-pro` name the same model."""
    return model.removeprefix("models/")


def thinking_config(model: str, effort: Effort | None) -> dict[str, Any] | None:
    """`thinkingConfig` for `effort`: Gemini 3 takes a level, Gemini 2.5 a token budget; older
    models take none (they reject the field)."""
    name = bare_model(model).lower()
    if "gemini-3" in name:
        config: dict[str, Any] = {"includeThoughts": True}
        if effort is not None and effort != "auto":
            flash = "flash" in name
            level = {
                "minimal": "MINIMAL" if flash else "LOW",
                "low": "LOW",
                "medium": "MEDIUM" if flash else "HIGH",
                "high": "HIGH",
                "max": "HIGH",
            }[effort]
            config["thinkingLevel"] = level
        return config
    if "gemini-2.5" in name:
        pro = "pro" in name
        if effort is None:
            return {"includeThoughts": True}
        if effort == "auto":
            return {"includeThoughts": True, "thinkingBudget": -1}
        if effort == "minimal":
            return {"includeThoughts": pro, "thinkingBudget": 128 if pro else 0}
        if effort == "max":
            return {"includeThoughts": True, "thinkingBudget": 32768 if pro else 24576}
        return {"includeThoughts": True, "thinkingBudget": _BUDGETS[effort]}
    return None


def clean_schema(schema: Any) -> Any:
    """A JSON Schema as `parametersJsonSchema`/`responseJsonSchema` accept it: meta keys dropped."""
    if isinstance(schema, dict):
        return {k: clean_schema(v) for k, v in schema.items() if k not in _SCHEMA_DROP}
    if isinstance(schema, list):
        return [clean_schema(v) for v in schema]
    return schema


def _tool_parameters(schema: Mapping[str, Any]) -> dict[str, Any]:
    cleaned: dict[str, Any] = clean_schema(dict(schema))
    if not cleaned:
        return {"type": "object", "properties": {}}
    return cleaned


def encode_contents(
    messages: list[Message], *, provider: str, signature_fallback: bool = False
) -> list[dict[str, Any]]:
    """`contents`, roles `user`/`model` strictly alternating (adjacent same-role messages merge).
    Thinking is replayed only to the provider that produced it; `signature_fallback` puts
    `SKIP_SIGNATURE` on the first call of a model turn that carries no signature at all."""
    call_ids: dict[str, str | None] = {}
    contents: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "user":
            role, parts = "user", _user_parts(message.parts, call_ids)
        else:
            role, parts = "model", _model_parts(message.parts, provider, call_ids)
            if signature_fallback:
                _add_signature_fallback(parts)
        if not parts:
            continue
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": parts})
    return contents


def _user_parts(parts: list[Part], call_ids: Mapping[str, str | None]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for part in parts:
        if isinstance(part, TextPart):
            if part.text:
                out.append({"text": part.text})
        elif isinstance(part, ToolResultPart):
            response = {"error": part.content} if part.is_error else {"output": part.content}
            function: dict[str, Any] = {"name": part.name, "response": response}
            server_id = call_ids.get(part.call_id)
            if server_id:
                function["id"] = server_id
            out.append({"functionResponse": function})
    return out


def _model_parts(
    parts: list[Part], provider: str, call_ids: dict[str, str | None]
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for part in parts:
        if isinstance(part, TextPart):
            if part.text:
                out.append({"text": part.text})
        elif isinstance(part, ThinkingPart):
            if part.provider != provider:
                continue
            if part.text:
                entry: dict[str, Any] = {"text": part.text, "thought": True}
                if part.signature:
                    entry["thoughtSignature"] = part.signature
                out.append(entry)
            elif part.signature:
                # A signature that came on a text part: it goes back on that part.
                last = out[-1] if out else {}
                if "text" in last and not last.get("thought") and "thoughtSignature" not in last:
                    last["thoughtSignature"] = part.signature
                else:
                    out.append({"text": "", "thoughtSignature": part.signature})
        elif isinstance(part, ToolCallPart):
            call_ids[part.call_id] = part.item_id
            function: dict[str, Any] = {"name": part.name, "args": part.arguments}
            if part.item_id:
                function["id"] = part.item_id
            entry = {"functionCall": function}
            if part.signature:
                entry["thoughtSignature"] = part.signature
            out.append(entry)
    return out


def _add_signature_fallback(parts: list[dict[str, Any]]) -> None:
    calls = [p for p in parts if "functionCall" in p]
    if calls and not any("thoughtSignature" in p for p in calls):
        calls[0]["thoughtSignature"] = SKIP_SIGNATURE


def encode_request(
    request: ModelRequest, *, provider: str, signature_fallback: bool = False
) -> dict[str, Any]:
    """The `generateContent` body (AI Studio and Vertex send it as is; Code Assist wraps it)."""
    body: dict[str, Any] = {
        "contents": encode_contents(
            request.messages, provider=provider, signature_fallback=signature_fallback
        )
    }
    if request.system:
        body["systemInstruction"] = {"parts": [{"text": request.system}]}
    if request.tools:
        body["tools"] = [
            {
                "functionDeclarations": [
                    {
                        "name": tool.name,
                        "description": tool.description,
                        "parametersJsonSchema": _tool_parameters(tool.parameters),
                    }
                    for tool in request.tools
                ]
            }
        ]
    generation: dict[str, Any] = {}
    if request.max_tokens:
        generation["maxOutputTokens"] = request.max_tokens
    thinking = thinking_config(request.model, request.effort)
    if thinking is not None:
        generation["thinkingConfig"] = thinking
    if request.output_format == "json" or request.output_schema:
        generation["responseMimeType"] = "application/json"
        if request.output_schema:
            generation["responseJsonSchema"] = clean_schema(request.output_schema)
    if generation:
        body["generationConfig"] = generation
    return body


# --- response ------------------------------------------------------------------------------------


def decode_usage(meta: Mapping[str, Any]) -> Usage:
    prompt = int(meta.get("promptTokenCount") or 0)
    cached = int(meta.get("cachedContentTokenCount") or 0)
    tool_prompt = int(meta.get("toolUsePromptTokenCount") or 0)
    thoughts = int(meta.get("thoughtsTokenCount") or 0)
    return Usage(
        input_tokens=max(prompt - cached, 0) + tool_prompt,
        output_tokens=int(meta.get("candidatesTokenCount") or 0) + thoughts,
        cache_read_tokens=cached,
        reasoning_tokens=thoughts,
        reported=True,
    )


class GeminiStreamDecoder:
    """One parsed `GenerateContentResponse` in, events out. Only the first candidate is read."""

    __slots__ = (
        "_call_prefix",
        "_calls",
        "_finish",
        "_started",
        "_usage_meta",
        "model",
        "request_id",
    )

    def __init__(self, request_id: str | None = None) -> None:
        self.request_id = request_id
        self.model: str | None = None
        self._usage_meta: Mapping[str, Any] | None = None
        self._started = False
        self._calls = 0
        self._call_prefix = ""
        self._finish: str | None = None

    @property
    def saw_finish(self) -> bool:
        return self._finish is not None

    def feed(self, chunk: Mapping[str, Any]) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        if not self._started:
            self._started = True
            self.model = chunk.get("modelVersion")
            self.request_id = self.request_id or chunk.get("responseId")
            events.append(ResponseStarted(model=self.model, request_id=self.request_id))
        candidates = chunk.get("candidates")
        if candidates:
            candidate = candidates[0]
            content = candidate.get("content")
            if content:
                for part in content.get("parts") or ():
                    text = part.get("text")
                    if text is not None and len(part) == 1:
                        # the common case, a bare text part, without the general dispatch
                        if text:
                            events.append(TextDelta(text))
                    else:
                        self._part(part, events)
            finish = candidate.get("finishReason")
            if finish:
                self._finish = finish
        else:
            feedback = chunk.get("promptFeedback")
            if feedback and feedback.get("blockReason"):
                self._finish = "PROMPT_" + str(feedback["blockReason"])
        meta = chunk.get("usageMetadata")
        if meta:
            self._usage_meta = meta
        return events

    def _part(self, part: Mapping[str, Any], events: list[StreamEvent]) -> None:
        signature = part.get("thoughtSignature")
        text = part.get("text")
        if text is not None:
            if part.get("thought"):
                if text:
                    events.append(ThinkingDelta(text))
            elif text:
                events.append(TextDelta(text))
            if signature:
                events.append(ThinkingFinished(signature=signature))
            return
        call = part.get("functionCall")
        if call is not None:
            index = self._calls
            self._calls += 1
            server_id = call.get("id")
            call_id = server_id or self._synthesized_id(index)
            args = call.get("args")
            events.append(ToolCallStarted(index, call_id, call.get("name") or "", server_id))
            events.append(
                ToolCallFinished(index, args if isinstance(args, dict) else {}, signature)
            )
        elif signature:
            events.append(ThinkingFinished(signature=signature))

    def _synthesized_id(self, index: int) -> str:
        if not self._call_prefix:
            self._call_prefix = secrets.token_hex(6)
        return f"call_{self._call_prefix}_{index}"

    def finish(self) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        if self._usage_meta is not None:
            # Every chunk repeats the running totals; only the last one counts.
            events.append(UsageReported(decode_usage(self._usage_meta)))
        raw = self._finish
        if raw is not None and raw.startswith("PROMPT_"):
            reason: StopReason = "content_filter"
        else:
            reason = FINISH_REASONS.get(raw or "", "unknown")
            if self._calls and reason in ("end_turn", "unknown"):
                reason = "tool_use"
        events.append(ResponseFinished(reason, raw))
        return events


def stream_error(
    provider: str, payload: Mapping[str, Any], request_id: str | None
) -> ProviderError:
    """An `{error: {code, message, status}}` object that arrived inside the stream."""
    error = payload.get("error")
    error = error if isinstance(error, dict) else {}
    code = error.get("code")
    status = code if isinstance(code, int) else None
    kind = error.get("status")
    return provider_error(
        provider,
        str(error.get("message") or "the provider reported an error mid-stream"),
        status=status,
        error_type=str(kind) if kind else None,
        request_id=request_id,
    )
