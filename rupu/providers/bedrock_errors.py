"""Bedrock's failures, classified with the core's classes (`providers/failures.py`).

A failed request answers with a status, the exception's name in `x-amzn-ErrorType` (or `__type` in
the body) and `{"message": ...}`; a failure mid-stream is an event-stream message of type
`exception` whose `:exception-type` is the same name in lower camel case. Either way the name picks
the class; a `ValidationException` worded as too much input is a context overflow.
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson

from rupu.errors import (
    AccessDenied,
    AuthExpired,
    AuthRejected,
    BadRequest,
    ContextOverflow,
    Overloaded,
    ProviderError,
    QuotaExhausted,
    RateLimited,
    ServerError,
    TimedOut,
)
from rupu.providers.failures import CONTEXT_MARKERS, class_for, provider_error
from rupu.providers.http import excerpt, parse_retry_after

# Exception names (lower-cased) to classes; the rest go through `failures.class_for`.
EXCEPTIONS: dict[str, type[ProviderError]] = {
    "throttlingexception": RateLimited,
    "modelnotreadyexception": Overloaded,
    "serviceunavailableexception": Overloaded,
    "servicequotaexceededexception": QuotaExhausted,
    "accessdeniedexception": AccessDenied,
    "expiredtokenexception": AuthExpired,
    "unrecognizedclientexception": AuthRejected,
    "invalidsignatureexception": AuthRejected,
    "incompletesignatureexception": AuthRejected,
    "missingauthenticationtokenexception": AuthRejected,
    "internalserverexception": ServerError,
    "modelerrorexception": ServerError,
    "modelstreamerrorexception": ServerError,
    "modeltimeoutexception": TimedOut,
    "resourcenotfoundexception": BadRequest,
    "validationexception": BadRequest,
}
BEDROCK_CONTEXT_MARKERS = (
    *CONTEXT_MARKERS,
    "too many input tokens",
    "input is too long",
    "max input tokens",
)
HINTS: dict[type[ProviderError], str] = {
    RateLimited: "Bedrock throttled the request: lower max_concurrency, or ask AWS for a higher "
    "quota (Service Quotas, Amazon Bedrock)",
    QuotaExhausted: "a Bedrock service quota is exhausted: raise it in Service Quotas; retrying "
    "will not help",
    AccessDenied: "the AWS identity may not call this model: grant bedrock:InvokeModel"
    "WithResponseStream on it, and enable the model under Bedrock > Model access",
    AuthExpired: "the AWS session has expired: renew it (`aws sso login`, or fresh keys)",
    AuthRejected: "AWS rejected the credentials: check the keys, profile and region "
    "(`rupu auth status` names the link of the chain in use)",
}


def exception_name(headers: Mapping[str, str], body: Mapping[str, object]) -> str | None:
    """`ThrottlingException` from `x-amzn-ErrorType: ThrottlingException:http://...` or `__type`."""
    raw = headers.get("x-amzn-errortype") or str(body.get("__type") or "") or None
    if raw is None:
        return None
    return raw.split(":", 1)[0].rsplit("#", 1)[-1] or None


def class_of(name: str | None, status: int | None, message: str) -> type[ProviderError]:
    known = EXCEPTIONS.get((name or "").lower())
    if known is BadRequest or known is None:
        text = message.lower()
        if any(marker in text for marker in BEDROCK_CONTEXT_MARKERS):
            return ContextOverflow
    if known is not None:
        return known
    return class_for(status, name, message)


def bedrock_error(
    provider: str,
    name: str | None,
    message: str,
    *,
    status: int | None,
    model: str | None = None,
    request_id: str | None = None,
    retry_after: float | None = None,
) -> ProviderError:
    cls = class_of(name, status, message)
    return provider_error(
        provider,
        f"{name}: {message}" if name else message,
        model=model,
        status=status,
        error_type=name,
        request_id=request_id,
        retry_after=retry_after,
        hint=HINTS.get(cls),
        cls=cls,
    )


def error_from_response(
    provider: str, status: int, headers: Mapping[str, str], raw: bytes
) -> ProviderError:
    try:
        parsed = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError:
        parsed = {}
    body: Mapping[str, object] = parsed if isinstance(parsed, dict) else {}
    message = str(body.get("message") or body.get("Message") or excerpt(raw))
    return bedrock_error(
        provider,
        exception_name(headers, body),
        message,
        status=status,
        request_id=headers.get("x-amzn-requestid"),
        retry_after=parse_retry_after(headers),
    )
