"""Amazon Bedrock's Converse API (`POST {base}/model/{modelId}/converse-stream`), as a dialect of the
one HTTP provider (`http_provider`).

The credential is an `AwsCredential` from the AWS chain (`rupu.auth.aws`); every request is signed
with SigV4 by botocore's own signer (service `bedrock`, the credential's region), never by hand. The
answer is an `application/vnd.amazon.eventstream`: binary frames with CRCs, split by botocore's own
parser (`EventStreamBuffer`) and decoded by `bedrock_decode`. botocore is the optional `aws` extra and
is imported only when a Bedrock request is made.

Request encoding lives in `bedrock_encode`, event decoding in `bedrock_decode`, error classification
in `bedrock_errors`; this module holds the endpoint: URL, signing and the stream's framing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import quote

import orjson

from rupu.auth.aws import AwsCredential, require_botocore
from rupu.auth.credentials import Credential
from rupu.config.builtins import builtin_url
from rupu.errors import CredentialError, ProviderError, StreamInterrupted
from rupu.messages import ModelRequest, StreamEvent
from rupu.providers.base import ProviderSetup
from rupu.providers.bedrock_decode import ConverseStreamDecoder
from rupu.providers.bedrock_encode import encode_request
from rupu.providers.bedrock_errors import error_from_response
from rupu.providers.dialect import BaseDialect, WireRequest
from rupu.providers.http import HttpClient
from rupu.providers.http_provider import HttpProvider
from rupu.version import __version__

if TYPE_CHECKING:
    from botocore.eventstream import EventStreamBuffer

SIGNING_NAME = "bedrock"  # the SigV4 service name of both bedrock-runtime and the control plane
EVENT_STREAM = "application/vnd.amazon.eventstream"
DEFAULT_BASE_URL = builtin_url("bedrock", "base_url")


def regional(url: str, region: str) -> str:
    """A record's host with its `{region}` filled (a configured `base_url` may use it too)."""
    return url.replace("{region}", region).rstrip("/")


def converse_url(base_url: str, region: str, model: str) -> str:
    """The model id (an inference profile id or an ARN, with `:` and `/`) is one path segment. `:`
    stays as is: the HTTP client would decode `%3A` before sending, and the signature must cover
    the path as sent."""
    return f"{regional(base_url, region)}/model/{quote(model, safe=':')}/converse-stream"


def signed_headers(
    credential: AwsCredential, method: str, url: str, body: bytes, headers: Mapping[str, str]
) -> dict[str, str]:
    """`headers` plus SigV4's (`authorization`, `x-amz-date`, `x-amz-security-token`), from
    botocore's `SigV4Auth` over exactly this method, URL and body."""
    require_botocore(credential.provider)
    from botocore.auth import SigV4Auth  # lazy: botocore is the optional `aws` extra
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import ReadOnlyCredentials

    keys = ReadOnlyCredentials(
        credential.access_key,
        credential.secret.reveal(),
        credential.session_token.reveal() if credential.session_token else None,
    )
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers))
    SigV4Auth(keys, SIGNING_NAME, credential.region).add_auth(request)
    return {name.lower(): str(value) for name, value in request.headers.items()}


def aws_credential(provider: str, credential: Credential | None) -> AwsCredential:
    if not isinstance(credential, AwsCredential):
        raise CredentialError(
            provider,
            "Bedrock takes AWS credentials (the AWS chain), and none were given",
            hint="set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a profile; see `rupu auth status`",
        )
    return credential


class ConverseEvents:
    """A `StreamDecoder` over the raw body: event-stream frames (CRC-checked by botocore) to
    `ConverseStreamDecoder`; `done` at `metadata`, and a stream that ends before it is an error."""

    def __init__(self, decoder: ConverseStreamDecoder) -> None:
        from botocore.eventstream import EventStreamBuffer  # lazy: the `aws` extra

        self._decoder = decoder
        self._frames: EventStreamBuffer = EventStreamBuffer()

    @property
    def done(self) -> bool:
        return self._decoder.finished

    def feed(self, payload: bytes) -> Iterable[StreamEvent]:
        # lazy: botocore is the optional `aws` extra
        from botocore.eventstream import ParserError
        from botocore.exceptions import EventStreamError

        self._frames.add_data(payload)
        events: list[StreamEvent] = []
        try:
            for message in self._frames:
                headers = cast("Mapping[str, Any]", message.headers)  # the stubs say int
                events.extend(self._message(headers, message.payload))
                if self._decoder.finished:
                    break
        except (ParserError, EventStreamError, orjson.JSONDecodeError, KeyError, TypeError) as exc:
            reason = f"the event stream is not readable ({type(exc).__name__})"
            raise self._malformed(reason) from None
        return events

    def _message(self, headers: Mapping[str, Any], payload: bytes) -> list[StreamEvent]:
        data = orjson.loads(payload) if payload else {}
        kind = headers.get(":message-type")
        if kind == "event":
            return self._decoder.feed(str(headers.get(":event-type")), data)
        if kind == "exception":
            name = str(headers.get(":exception-type") or "exception")
            raise self._decoder.exception(name[:1].upper() + name[1:], data)
        if kind == "error":
            raise self._decoder.exception(
                str(headers.get(":error-code") or "error"),
                {"message": headers.get(":error-message") or ""},
            )
        return []

    def _malformed(self, message: str) -> StreamInterrupted:
        decoder = self._decoder
        return StreamInterrupted(
            decoder.provider,
            message,
            model=decoder.model,
            error_type="malformed_stream",
            request_id=decoder.request_id,
            hint="check that base_url is a Bedrock runtime endpoint",
        )

    def finish(self) -> Iterable[StreamEvent]:
        if self._decoder.finished:
            return ()
        raise StreamInterrupted(
            self._decoder.provider,
            "the stream ended before its metadata event; the response is incomplete",
            model=self._decoder.model,
            error_type="truncated_stream",
            request_id=self._decoder.request_id,
        )


class ConverseDialect(BaseDialect):
    def __init__(self, setup: ProviderSetup) -> None:
        super().__init__(setup.name)
        self._setup = setup
        self.base_url = setup.config.base_url or DEFAULT_BASE_URL

    async def encode(
        self, request: ModelRequest, credential: Credential | None, *, http: HttpClient
    ) -> WireRequest:
        aws = aws_credential(self.provider, credential)
        config = self._setup.config
        body = encode_request(
            request, provider=self.provider, cache_points=bool(config.cache_points)
        )
        url = converse_url(self.base_url, aws.region, request.model)
        headers = {
            **{k.lower(): v for k, v in config.headers.items()},
            "content-type": "application/json",
            "accept": EVENT_STREAM,
            "user-agent": f"rupu/{__version__}",
        }
        # HttpClient sends `orjson.dumps(body)`: the same bytes are signed here.
        signed = signed_headers(aws, "POST", url, orjson.dumps(body), headers)
        # `variant` carries the credential's description (never a key) to the decoder.
        return WireRequest(url, signed, body, framing="bytes", variant=aws.describe())

    def decoder(
        self, request: ModelRequest, wire: WireRequest, headers: Mapping[str, str]
    ) -> ConverseEvents:
        return ConverseEvents(
            ConverseStreamDecoder(
                self.provider,
                model=request.model,
                request_id=headers.get("x-amzn-requestid"),
                credential=wire.variant or None,
            )
        )

    def explain_error(self, status: int, headers: Mapping[str, str], body: bytes) -> ProviderError:
        return error_from_response(self.provider, status, headers, body)

    def refreshable(self, credential: Credential) -> bool:
        return False  # botocore refreshes expiring AWS credentials itself

    async def annotate(
        self, error: ProviderError, request: ModelRequest, credential: Credential | None
    ) -> ProviderError:
        error.model = error.model or request.model
        if error.status == 404 and error.hint is None:
            error.hint = (
                f"check the model id '{request.model}' (an inference profile such as "
                "us.anthropic.claude-sonnet-4-6 for newer models) and the region"
            )
        return error


def create(setup: ProviderSetup) -> HttpProvider:
    require_botocore(setup.name)
    return HttpProvider(setup, ConverseDialect(setup))
