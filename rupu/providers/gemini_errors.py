"""Google's RPC error envelope, `{error: {code, message, status, details[]}}`, as a `ProviderError`.

What the generic mapping in `http.py` cannot see lives in `details`: `RetryInfo.retryDelay` ("34.07s",
the wait a 429 asks for, honoured like `retry-after`), `QuotaFailure` (a per-day quota is exhausted
until it resets, so retrying is pointless) and `ErrorInfo.reason` (`API_KEY_INVALID`,
`SERVICE_DISABLED`), which say what the user has to fix.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from rupu.errors import ProviderError, QuotaExhausted, RateLimited
from rupu.providers.failures import provider_error
from rupu.providers.http import error_from_response, excerpt, parse_error_body

_RETRY_IN = re.compile(r"retry in ([0-9.]+)\s*(ms|s)\b", re.I)
_RESET_AFTER = re.compile(r"reset after (?:(\d+)h)?(?:(\d+)m)?(?:([0-9.]+)s)?", re.I)


@dataclass(slots=True)
class GoogleErrorDetails:
    retry_delay: float | None = None
    quota_ids: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)


def parse_duration(value: Any) -> float | None:
    """A protobuf Duration as JSON: `"34.07s"`, or `{seconds, nanos}`."""
    if isinstance(value, str) and value.endswith("s"):
        try:
            seconds = float(value[:-1])
        except ValueError:
            return None
    elif isinstance(value, Mapping):
        try:
            seconds = float(value.get("seconds") or 0) + float(value.get("nanos") or 0) / 1e9
        except (TypeError, ValueError):
            return None
    else:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def parse_details(raw: bytes) -> GoogleErrorDetails:
    found = GoogleErrorDetails()
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return found
    if isinstance(data, list) and data:
        data = data[0]
    error = data.get("error") if isinstance(data, dict) else None
    details = error.get("details") if isinstance(error, dict) else None
    for detail in details if isinstance(details, list) else ():
        if not isinstance(detail, dict):
            continue
        kind = str(detail.get("@type", ""))
        if kind.endswith("google.rpc.RetryInfo"):
            found.retry_delay = parse_duration(detail.get("retryDelay"))
        elif kind.endswith("google.rpc.QuotaFailure"):
            for violation in detail.get("violations") or ():
                if isinstance(violation, dict) and violation.get("quotaId"):
                    found.quota_ids.append(str(violation["quotaId"]))
        elif kind.endswith("google.rpc.ErrorInfo") and detail.get("reason"):
            found.reasons.append(str(detail["reason"]))
    return found


def delay_from_message(message: str | None) -> float | None:
    """ "Please retry in 34.07s" or "Your quota will reset after 1h2m3s"."""
    if not message:
        return None
    match = _RETRY_IN.search(message)
    if match:
        value = float(match.group(1))
        return value / 1000 if match.group(2).lower() == "ms" else value
    match = _RESET_AFTER.search(message)
    if match and any(match.groups()):
        hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
        return hours * 3600 + minutes * 60 + seconds
    return None


def google_error_from_response(
    provider: str, status: int, headers: Mapping[str, str], raw: bytes
) -> ProviderError:
    generic = error_from_response(provider, status, headers, raw)
    error_type, message = parse_error_body(raw)
    details = parse_details(raw)
    cls, hint = type(generic), generic.hint
    retry_after = generic.retry_after
    if retry_after is None:
        retry_after = details.retry_delay
    if retry_after is None and status == 429:
        retry_after = delay_from_message(message)
    if status == 429:
        if any("perday" in q.lower() for q in details.quota_ids):
            cls = QuotaExhausted
            hint = (
                "the daily quota for this model is used up; it resets at midnight Pacific time. "
                "Use another model, or a billed project/key for higher limits"
            )
        elif retry_after is not None and headers.get("x-should-retry") != "false":
            # Google words per-minute limits as "check your plan and billing"; a RetryInfo delay
            # says the limit is transient, so this is a rate limit rather than exhausted billing.
            cls = RateLimited
            hint = "rate limited: rupu waits the delay Google asks for; lower max_concurrency if it persists"
    if "API_KEY_INVALID" in details.reasons:
        hint = "the API key was rejected: set GEMINI_API_KEY to a valid AI Studio key (aistudio.google.com/apikey)"
    elif "SERVICE_DISABLED" in details.reasons:
        hint = "the API is disabled for this Google Cloud project: enable it in the Cloud console, or set another `project`"
    return provider_error(
        provider,
        message or excerpt(raw),
        status=status,
        error_type=error_type,
        request_id=generic.request_id,
        retry_after=retry_after,
        should_retry=generic.should_retry,
        hint=hint,
        cls=cls,
    )
