"""The AWS wire pieces the Bedrock loopback server needs, each checked against botocore itself:

- `frame`: one `application/vnd.amazon.eventstream` message (prelude, CRC32 of the prelude, typed
  headers, payload, CRC32 of the whole), written by hand here and read back by botocore's own
  `EventStreamBuffer` and its ConverseStream parser in tests/providers/test_bedrock_wire.py;
- `verify_sigv4`: re-signs a received request with botocore's own `SigV4Auth` (the canonical request
  rebuilt from the raw path, the signed headers and the raw body) and compares signatures;
- `validate_input`: the body checked against the bedrock-runtime service model with botocore's own
  `ParamValidator` (required members, types, enums, unknown keys).
"""

from __future__ import annotations

import binascii
import datetime
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import orjson
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import ReadOnlyCredentials
from botocore.loaders import create_loader
from botocore.model import OperationModel, ServiceModel
from botocore.validate import ParamValidator

STRING_HEADER = 7
MAX_SKEW = datetime.timedelta(minutes=15)


def frame(headers: Mapping[str, str], payload: bytes) -> bytes:
    """One event-stream message with string-typed headers."""
    encoded = b""
    for name, value in headers.items():
        raw_name, raw_value = name.encode(), value.encode()
        encoded += struct.pack(">B", len(raw_name)) + raw_name
        encoded += struct.pack(">BH", STRING_HEADER, len(raw_value)) + raw_value
    total = 12 + len(encoded) + len(payload) + 4
    prelude = struct.pack(">II", total, len(encoded))
    prelude += struct.pack(">I", binascii.crc32(prelude) & 0xFFFFFFFF)
    body = prelude + encoded + payload
    return body + struct.pack(">I", binascii.crc32(body) & 0xFFFFFFFF)


def event(event_type: str, data: Mapping[str, Any]) -> bytes:
    # Bedrock pads every event with a `p` member (its length hides the content's); parsers ignore it.
    payload = orjson.dumps({**data, "p": "abcdefgh"})
    return frame(
        {
            ":event-type": event_type,
            ":content-type": "application/json",
            ":message-type": "event",
        },
        payload,
    )


def exception(exception_type: str, message: str) -> bytes:
    return frame(
        {
            ":exception-type": exception_type,
            ":content-type": "application/json",
            ":message-type": "exception",
        },
        orjson.dumps({"message": message}),
    )


@dataclass(frozen=True)
class AwsKeys:
    access_key: str
    secret_key: str
    token: str | None = None


class SignatureInvalid(Exception):
    pass


def verify_sigv4(
    *,
    method: str,
    host: str,
    raw_path: str,
    headers: Mapping[str, str],
    body: bytes,
    keys: Mapping[str, AwsKeys],
    service: str,
    region: str,
    now: datetime.datetime | None = None,
) -> AwsKeys:
    """The keys that signed the request, or `SignatureInvalid` saying what is wrong. `headers` are
    lower-cased."""
    authorization = headers.get("authorization", "")
    algorithm, _, rest = authorization.partition(" ")
    if algorithm != "AWS4-HMAC-SHA256":
        raise SignatureInvalid(f"not a SigV4 authorization header: {algorithm or '(none)'}")
    fields = dict(part.strip().split("=", 1) for part in rest.split(","))
    access_key, date, scope_region, scope_service, terminator = fields["Credential"].split("/")
    signed_names = fields["SignedHeaders"].split(";")
    found = keys.get(access_key)
    if found is None:
        raise SignatureInvalid(f"unknown access key {access_key[:4]}...")
    if (scope_region, scope_service, terminator) != (region, service, "aws4_request"):
        raise SignatureInvalid(f"wrong scope {scope_region}/{scope_service}/{terminator}")
    stamp = headers.get("x-amz-date", "")
    if not stamp.startswith(date):
        raise SignatureInvalid("x-amz-date does not match the credential scope date")
    signed_at = datetime.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.UTC)
    if abs((now or datetime.datetime.now(datetime.UTC)) - signed_at) > MAX_SKEW:
        raise SignatureInvalid("the signature is more than 15 minutes old")
    for required in ("host", "x-amz-date"):
        if required not in signed_names:
            raise SignatureInvalid(f"{required} is not signed")
    if found.token is not None:
        if headers.get("x-amz-security-token") != found.token:
            raise SignatureInvalid("x-amz-security-token is missing or not this key's session")
        if "x-amz-security-token" not in signed_names:
            raise SignatureInvalid("x-amz-security-token is not signed")
    request = AWSRequest(
        method=method,
        url=f"http://{host}{raw_path}",
        data=body,
        headers={name: headers[name] for name in signed_names if name in headers},
    )
    request.context["timestamp"] = stamp
    signer = SigV4Auth(
        ReadOnlyCredentials(found.access_key, found.secret_key, found.token), service, region
    )
    expected_names = signer.signed_headers(signer.headers_to_sign(request))
    if expected_names != fields["SignedHeaders"]:
        raise SignatureInvalid(f"signed headers {fields['SignedHeaders']} != {expected_names}")
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if expected != fields["Signature"]:
        raise SignatureInvalid("the signature does not match (botocore re-signed the request)")
    return found


@cache
def service_model(name: str) -> ServiceModel:
    return ServiceModel(create_loader().load_service_model(name, "service-2"), name)


def operation(service: str, name: str) -> OperationModel:
    return service_model(service).operation_model(name)


def validate_input(service: str, name: str, params: Mapping[str, Any]) -> str | None:
    """botocore's own validation of an operation's input; the report, or None when valid."""
    shape = operation(service, name).input_shape
    assert shape is not None
    report = ParamValidator().validate(dict(params), shape)
    return report.generate_report() if report.has_errors() else None
