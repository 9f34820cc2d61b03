"""When a provider's rate limit resets, from the headers it sent.

Formats differ (wire-formats §7.7, §8 #14): OpenAI and most compatibles send durations
(`x-ratelimit-reset-requests: 6m0s`, `12ms`), Anthropic RFC 3339 timestamps
(`anthropic-ratelimit-tokens-reset`), some proxies `x-ratelimit-reset` (epoch or seconds) and
`x-ratelimit-reset-after` (seconds). `retry-after` is read separately (`http.parse_retry_after`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import datetime

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_EPOCH_THRESHOLD = 1_000_000_000


def parse_duration(text: str) -> float | None:
    """`6m0s`, `1h2m3.5s`, `12ms`, `20s` or a bare number of seconds; None if unparseable."""
    text = text.strip()
    try:
        value = float(text)
        return value if math.isfinite(value) and value >= 0 else None
    except ValueError:
        pass
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(float(number) * _UNIT[unit] for number, unit in parts)


def _timestamp(text: str) -> float | None:
    try:
        return datetime.fromisoformat(text.strip().replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def reset_after(headers: Mapping[str, str], *, now: float) -> float | None:
    """Seconds until the exhausted limit resets (the longest if several are exhausted, else the
    soonest named reset); None when the headers name none."""
    lowered = {k.lower(): v for k, v in headers.items()}
    exhausted: list[float] = []
    named: list[float] = []
    for name, value in lowered.items():
        seconds = _reset_seconds(name, value, now)
        if seconds is None:
            continue
        named.append(seconds)
        remaining = lowered.get(_remaining_header(name))
        if remaining is not None and remaining.strip() in ("0", "0.0"):
            exhausted.append(seconds)
    if exhausted:
        return max(exhausted)
    return min(named) if named else None


def _reset_seconds(name: str, value: str, now: float) -> float | None:
    if name.startswith("anthropic-ratelimit-") and name.endswith("-reset"):
        when = _timestamp(value)
        return max(when - now, 0.0) if when is not None else None
    if name.startswith("x-ratelimit-reset-") and name != "x-ratelimit-reset-after":
        return parse_duration(value)
    if name == "x-ratelimit-reset-after":
        return parse_duration(value)
    if name == "x-ratelimit-reset":
        seconds = parse_duration(value)
        if seconds is not None and seconds > _EPOCH_THRESHOLD:
            return max(seconds - now, 0.0)
        return seconds
    return None


def _remaining_header(reset_name: str) -> str:
    """`x-ratelimit-reset-requests` -> `x-ratelimit-remaining-requests`;
    `anthropic-ratelimit-tokens-reset` -> `anthropic-ratelimit-tokens-remaining`."""
    if reset_name.startswith("x-ratelimit-reset"):
        return reset_name.replace("x-ratelimit-reset", "x-ratelimit-remaining", 1)
    return reset_name[: -len("-reset")] + "-remaining"
