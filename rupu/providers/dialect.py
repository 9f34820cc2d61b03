"""What a wire dialect supplies to the one HTTP provider (`http_provider.HttpProvider`).

A dialect knows the wire format and the endpoint's auth, nothing about I/O policy:

- `encode` turns a `ModelRequest` and the credential into a `WireRequest` (URL, headers, body,
  streamed or not);
- `decoder` returns a `StreamDecoder` for the response to one `WireRequest`: SSE data payloads in
  (or the raw bytes, for `framing="bytes"`), `StreamEvent`s out; `decode_body` does the same for a
  non-streamed JSON answer;
- `explain_error` classifies a non-2xx answer (`http.error_from_response` unless the dialect has its
  own envelope), and `annotate` adds what only it knows (a hint naming its console) to any
  `ProviderError` of a request;
- `refreshable` says whether a refreshed credential may cure a 401 (default: a sign-in token).

Retries, 401 re-authentication, `max_concurrency`, rate-limit headers, timeouts and the SSE framing
are the provider's, written once. `BaseDialect` supplies the defaults; a dialect subclasses it or
implements the protocol in full.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from rupu.errors import CredentialError, ProviderError
from rupu.providers.http import error_from_response
from rupu.providers.retry import is_sign_in

if TYPE_CHECKING:
    from rupu.auth.credentials import Credential
    from rupu.messages import ModelRequest, StreamEvent
    from rupu.providers.http import HttpClient


@dataclass(frozen=True, slots=True)
class WireRequest:
    """One HTTP request of a dialect. `streamed`: the answer is SSE (else one JSON body)."""

    url: str
    headers: Mapping[str, str] = field(repr=False)  # carries the credential
    body: Any
    streamed: bool = True
    method: str = "POST"
    variant: str = ""  # the dialect's own tag for `decoder` (Gemini: the Code Assist envelope)
    # `sse`: the decoder is fed SSE data payloads; `bytes`: the raw body as it arrives (a binary
    # framing the decoder splits itself, as Bedrock's event stream)
    framing: Literal["sse", "bytes"] = "sse"


class StreamDecoder(Protocol):
    """Decodes one streamed response. `done` turns true at the terminal event (nothing after it is
    read); `finish` runs once at the end and raises `StreamInterrupted` when the stream stopped
    short."""

    @property
    def done(self) -> bool: ...

    def feed(self, payload: bytes) -> Iterable[StreamEvent]: ...

    def finish(self) -> Iterable[StreamEvent]: ...


class Dialect(Protocol):
    provider: str

    async def encode(
        self, request: ModelRequest, credential: Credential | None, *, http: HttpClient
    ) -> WireRequest: ...

    def decoder(
        self, request: ModelRequest, wire: WireRequest, headers: Mapping[str, str]
    ) -> StreamDecoder: ...

    def decode_body(
        self, request: ModelRequest, data: Any, headers: Mapping[str, str]
    ) -> Iterable[StreamEvent]: ...

    def explain_error(
        self, status: int, headers: Mapping[str, str], body: bytes
    ) -> ProviderError: ...

    async def annotate(
        self, error: ProviderError, request: ModelRequest, credential: Credential | None
    ) -> ProviderError: ...

    def refreshable(self, credential: Credential) -> bool: ...


class BaseDialect:
    """Defaults: errors classified by `http.error_from_response`, annotated with the request's
    model; no non-streamed answers."""

    provider: str

    def __init__(self, provider: str) -> None:
        self.provider = provider

    def decode_body(
        self, request: ModelRequest, data: Any, headers: Mapping[str, str]
    ) -> Iterable[StreamEvent]:
        raise ProviderError(self.provider, "this dialect has no non-streamed answers")

    def explain_error(self, status: int, headers: Mapping[str, str], body: bytes) -> ProviderError:
        return error_from_response(self.provider, status, headers, body)

    async def annotate(
        self, error: ProviderError, request: ModelRequest, credential: Credential | None
    ) -> ProviderError:
        error.model = error.model or request.model
        return error

    def refreshable(self, credential: Credential) -> bool:
        return is_sign_in(credential)

    def require(self, credential: Credential | None, hint: str) -> Credential:
        """The credential, or the `CredentialError` a dialect that needs one raises."""
        if credential is None:
            raise CredentialError(
                self.provider, "no credential was given to the provider", hint=hint
            )
        return credential
