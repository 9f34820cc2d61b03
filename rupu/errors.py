"""The one exception tree of rupu.

```
RupuError                 exit 1   unexpected-but-explained failure
├── ConfigError           exit 2   a file or flag is wrong (file, line, field); raised before any token is spent
│   └── UsageError        exit 2   a command-line usage mistake
├── CredentialError       exit 4   no usable credential: missing, expired or refused (provider, places
│                                  tried, the command that fixes it)
├── ProviderError         exit 3   the provider refused or broke (provider, model, status, error type,
│   │                              request id, retry-after, rate-limit headers); classified once, where
│   │                              the provider's answer is read, into the class every decision reads:
│   ├── RateLimited               retried in place, or failed over and the route cooled down
│   ├── QuotaExhausted            quota, credit or billing used up: never retried, never failed over
│   ├── Overloaded                retried in place, or failed over
│   ├── ServerError               5xx (and 409): retried, then failed over
│   ├── StreamInterrupted         the stream ended early or carried something unreadable: retried
│   │   ├── ConnectionFailed      the connection failed: retried
│   │   └── TimedOut              no answer in time: retried
│   ├── AuthRejected              401: a sign-in token is refreshed once; otherwise surfaced
│   │   ├── AuthExpired           the provider said the credential expired
│   │   └── AccessDenied          403: the credential is valid but may not do this; no refresh
│   └── BadRequest                the request is wrong: surfaced; a workflow unit is not retried
│       ├── ContextOverflow       the conversation is too long: the agent loop trims and tries again
│       └── ContentRefused        refused under the provider's usage policy
├── LimitReached          exit 5   a limit rupu or the user set stopped the run (maxTurns, a timeout)
│   └── BudgetReached     exit 5   a spend limit (max_usd, max_tokens): the next call was not sent
├── RunFailed             exit 1   a workflow run ended with failed steps (run id, failed steps)
└── Interrupted           exit 130 the user pressed Ctrl-C
    └── Terminated        exit 143 the process got SIGTERM
```

A `ProviderError` of no subclass is a failure nobody could classify: surfaced, not retried in place.
Each class names itself to the router and the transcripts (`error_class`) and says whether the same
request is worth sending again (`retried`; `retryable` also honours the provider's `x-should-retry`).
`rupu.providers.failures.provider_error` picks the class; nothing downstream reads statuses or words.

The exit codes are a public contract (docs/errors.md): 0 success, 1, 2, 3, 4, 5, 130, 143 and nothing
else. Only `rupu.cli.main` turns these into exit codes. Every message says what to do next; `hint` holds
that advice when it is separate from the message. Messages never contain secrets.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import ClassVar, Literal


class RupuError(Exception):
    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        text = self.message if not self.hint else f"{self.message} ({self.hint})"
        return " ".join(text.split())


@dataclass(frozen=True, slots=True)
class Location:
    """Where in a file a problem sits; `line` is 1-based."""

    path: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        if self.line is None:
            return self.path
        if self.column is None:
            return f"{self.path}:{self.line}"
        return f"{self.path}:{self.line}:{self.column}"


class ConfigError(RupuError):
    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        location: Location | None = None,
        field: str | None = None,
        hint: str | None = None,
    ) -> None:
        prefix = f"{location}: " if location else ""
        super().__init__(prefix + message, hint=hint)
        self.location = location
        self.field = field


class UsageError(ConfigError):
    pass


class CredentialError(RupuError):
    exit_code = 4

    def __init__(self, provider: str, message: str, *, hint: str | None = None) -> None:
        super().__init__(f"{provider}: {message}", hint=hint)
        self.provider = provider


ErrorClass = Literal[
    "rate_limited",
    "overloaded",
    "server_error",
    "timeout",
    "network",
    "truncated",
    "auth_invalid",
    "auth_expired",
    "quota",
    "bad_request",
    "context_overflow",
    "content_policy",
    "unknown",
]
"""The router's and the transcripts' name for each `ProviderError` class (`error_class`)."""

RateLimits = dict[str, str | int | float]


class ProviderError(RupuError):
    """A provider failure nobody could classify further: surfaced, not retried in place. The
    subclasses say what went wrong; `retried` says whether the same request is worth sending again,
    unless the provider said otherwise (`should_retry`, from its `x-should-retry` header)."""

    exit_code = 3
    error_class: ClassVar[ErrorClass] = "unknown"
    retried: ClassVar[bool] = False

    def __init__(
        self,
        provider: str,
        message: str,
        *,
        model: str | None = None,
        status: int | None = None,
        error_type: str | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
        reset_after: float | None = None,
        rate_limits: Mapping[str, str | int | float] | None = None,
        should_retry: bool | None = None,
        hint: str | None = None,
    ) -> None:
        details = [d for d in (f"HTTP {status}" if status else None, error_type) if d]
        head = f"{provider}" + (f" ({', '.join(details)})" if details else "")
        tail = f" [request id {request_id}]" if request_id else ""
        super().__init__(f"{head}: {message}{tail}", hint=hint)
        self.detail = message  # the provider's own words, without the provider/status prefix
        self.provider = provider
        self.model = model
        self.status = status
        self.error_type = error_type
        self.request_id = request_id
        self.retry_after = retry_after
        self.reset_after = reset_after  # seconds until the provider's rate limit resets, if it said
        self.rate_limits: RateLimits = dict(rate_limits or {})  # the error response's quota headers
        self.should_retry = should_retry

    @property
    def retryable(self) -> bool:
        """Whether the retry policy sends the same request again."""
        return self.retried if self.should_retry is None else self.should_retry


class RateLimited(ProviderError):
    error_class: ClassVar[ErrorClass] = "rate_limited"
    retried = True


class QuotaExhausted(ProviderError):
    """Quota, credit or billing exhausted: not retryable, whatever the status or headers say, and
    never failed over (a fallback on another account would spend money the user did not choose to
    spend)."""

    error_class: ClassVar[ErrorClass] = "quota"

    @property
    def retryable(self) -> bool:
        return False


class Overloaded(ProviderError):
    error_class: ClassVar[ErrorClass] = "overloaded"
    retried = True


class ServerError(ProviderError):
    error_class: ClassVar[ErrorClass] = "server_error"
    retried = True


class StreamInterrupted(ProviderError):
    error_class: ClassVar[ErrorClass] = "truncated"
    retried = True


class ConnectionFailed(StreamInterrupted):
    error_class: ClassVar[ErrorClass] = "network"


class TimedOut(StreamInterrupted):
    error_class: ClassVar[ErrorClass] = "timeout"


class AuthRejected(ProviderError):
    """The credential was rejected; a sign-in token is worth refreshing once (`refresh_helps`)."""

    error_class: ClassVar[ErrorClass] = "auth_invalid"
    refresh_helps: ClassVar[bool] = True


class AuthExpired(AuthRejected):
    error_class: ClassVar[ErrorClass] = "auth_expired"


class AccessDenied(AuthRejected):
    """403: the credential was recognised but may not do this; a fresh token would not change it."""

    refresh_helps = False


class BadRequest(ProviderError):
    error_class: ClassVar[ErrorClass] = "bad_request"


class ContextOverflow(BadRequest):
    error_class: ClassVar[ErrorClass] = "context_overflow"


class ContentRefused(BadRequest):
    error_class: ClassVar[ErrorClass] = "content_policy"


class LimitReached(RupuError):
    """A limit stopped the run: `limit` names it (`maxTurns`, `timeout`, `max_turns`)."""

    exit_code = 5

    def __init__(
        self, limit: str, message: str, *, provider: str | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.limit = limit
        self.provider = provider


class BudgetReached(LimitReached):
    """A spend limit stopped the run before a call that could have crossed it (`limit` is
    `max_usd` or `max_tokens`): `budget` names it, `step` is where the call was, `spent_usd` and
    `spent_tokens` what its ledger had settled."""

    def __init__(
        self,
        limit: str,
        message: str,
        *,
        budget: str,
        step: str | None = None,
        spent_usd: float = 0.0,
        spent_tokens: int = 0,
        hint: str | None = None,
    ) -> None:
        super().__init__(limit, message, hint=hint)
        self.budget = budget
        self.step = step
        self.spent_usd = spent_usd
        self.spent_tokens = spent_tokens


class RunFailed(RupuError):
    exit_code = 1

    def __init__(
        self, run_id: str, message: str, *, failed: Iterable[str] = (), hint: str | None = None
    ):
        super().__init__(message, hint=hint)
        self.run_id = run_id
        self.failed = tuple(failed)


class Interrupted(RupuError):
    exit_code = 130

    def __init__(self, message: str = "interrupted", *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)


class Terminated(Interrupted):
    exit_code = 143

    def __init__(self, message: str = "terminated (SIGTERM)", *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)


EXIT_CODES = frozenset({0, 1, 2, 3, 4, 5, 130, 143})
"""Every exit code rupu may end with (click usage errors are 2)."""


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A ` (did you mean 'x'?)` suffix naming the nearest choice, or ''."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
