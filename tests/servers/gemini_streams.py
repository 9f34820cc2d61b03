"""Scripted Gemini replies for tests/servers/gemini.py: `GenerateContentResponse` chunks, streams
rendered for whichever route asked (Code Assist wraps each chunk as `{response, traceId}`), and
Google RPC error envelopes. What these produce is parsed by google-genai in the fidelity tests."""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from tests.servers.base import RecordedRequest, Reply

MODEL_VERSION = "gemini-2.5-flash-001"
TRACE_ID = "trace-7f3a"


def signature(label: str) -> str:
    """A thought signature as the API sends it: opaque base64."""
    return base64.b64encode(f"sig:{label}".encode()).decode()


def text_part(text: str, *, sig: str | None = None) -> dict[str, Any]:
    part: dict[str, Any] = {"text": text}
    if sig:
        part["thoughtSignature"] = sig
    return part


def thought_part(text: str, *, sig: str | None = None) -> dict[str, Any]:
    return {**text_part(text, sig=sig), "thought": True}


def call_part(
    name: str, args: dict[str, Any], *, sig: str | None = None, call_id: str | None = None
) -> dict[str, Any]:
    call: dict[str, Any] = {"name": name, "args": args}
    if call_id:
        call["id"] = call_id
    part: dict[str, Any] = {"functionCall": call}
    if sig:
        part["thoughtSignature"] = sig
    return part


def usage(
    prompt: int = 12, candidates: int = 5, *, thoughts: int = 0, cached: int = 0
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": candidates,
        "totalTokenCount": prompt + candidates + thoughts,
    }
    if thoughts:
        meta["thoughtsTokenCount"] = thoughts
    if cached:
        meta["cachedContentTokenCount"] = cached
    return meta


def chunk(
    parts: Sequence[dict[str, Any]] = (),
    *,
    finish: str | None = None,
    meta: dict[str, Any] | None = None,
    model_version: str = MODEL_VERSION,
) -> dict[str, Any]:
    candidate: dict[str, Any] = {"index": 0}
    if parts:
        candidate["content"] = {"role": "model", "parts": list(parts)}
    if finish:
        candidate["finishReason"] = finish
    response: dict[str, Any] = {
        "candidates": [candidate],
        "modelVersion": model_version,
        "responseId": "resp-4d2c",
    }
    if meta:
        response["usageMetadata"] = meta
    return response


def text_chunks(
    pieces: Sequence[str],
    *,
    thoughts: Sequence[str] = (),
    thought_sig: str | None = None,
    final_sig: str | None = None,
    finish: str = "STOP",
    meta: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Thought parts (the last one signed with `thought_sig`), then text pieces; `final_sig` rides
    on an empty last text part, as Gemini 3 sends it; the last chunk carries finish and usage."""
    chunks = [
        chunk([thought_part(t, sig=thought_sig if i == len(thoughts) - 1 else None)])
        for i, t in enumerate(thoughts)
    ]
    chunks += [chunk([text_part(p)]) for p in pieces]
    last = [text_part("", sig=final_sig)] if final_sig else []
    chunks.append(chunk(last, finish=finish, meta=meta or usage()))
    return chunks


def call_chunks(
    calls: Sequence[tuple[str, dict[str, Any]]],
    *,
    sig: str | None = None,
    ids: Sequence[str] | None = None,
    preface: str | None = None,
    meta: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Function calls, whole, in one chunk (the first signed, as Gemini does for parallel calls);
    the turn ends with STOP like any other."""
    parts = [text_part(preface)] if preface else []
    parts += [
        call_part(name, args, sig=sig if i == 0 else None, call_id=ids[i] if ids else None)
        for i, (name, args) in enumerate(calls)
    ]
    return [chunk(parts), chunk(finish="STOP", meta=meta or usage())]


def encode_sse(payload: Any) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\r\n\r\n"


def stream(
    chunks: Sequence[dict[str, Any]],
    *,
    drop_after: int | None = None,
    headers: dict[str, str] | None = None,
) -> Callable[[RecordedRequest], Reply]:
    """A reply for the route that asks: Code Assist gets each chunk in its envelope."""

    def render(request: RecordedRequest) -> Reply:
        wrap = request.path.startswith("/v1internal")
        body = [encode_sse({"response": c, "traceId": TRACE_ID} if wrap else c) for c in chunks]
        return Reply(chunks=body, drop_after=drop_after, headers=dict(headers or {}))

    return render


def google_error(
    code: int, message: str, status: str, details: Sequence[dict[str, Any]] = ()
) -> bytes:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = list(details)
    return orjson.dumps({"error": error})


def error_reply(
    code: int,
    message: str,
    status: str,
    *,
    details: Sequence[dict[str, Any]] = (),
    headers: dict[str, str] | None = None,
) -> Reply:
    return Reply(
        status=code,
        body=google_error(code, message, status, details),
        content_type="application/json",
        headers=headers or {},
    )


def retry_info(delay: str) -> dict[str, Any]:
    return {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}


def quota_failure(quota_id: str) -> dict[str, Any]:
    return {
        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
        "violations": [
            {
                "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                "quotaId": quota_id,
            }
        ],
    }


def error_info(reason: str) -> dict[str, Any]:
    return {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": reason,
        "domain": "googleapis.com",
    }


def rate_limited(
    delay: str = "34.07s", quota_id: str = "PerMinutePerProjectPerModel-FreeTier"
) -> Reply:
    """AI Studio's per-minute 429: worded like billing, but with a RetryInfo delay."""
    return error_reply(
        429,
        "You exceeded your current quota, please check your plan and billing details.",
        "RESOURCE_EXHAUSTED",
        details=[quota_failure(quota_id), retry_info(delay)],
    )


def html_bad_gateway() -> Reply:
    return Reply(
        status=502,
        body=b"<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>",
        content_type="text/html",
    )
