"""The loopback Bedrock is held to botocore itself: botocore's own bedrock-runtime client (signing,
serialising) is accepted by the server, and botocore's own event-stream parser reads the server's
frames into the ConverseStream output shape; a frame with a broken CRC is refused by botocore and
by rupu alike; a request signed with the wrong secret, or changed after signing, is refused."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio
import botocore.session
import httpx
import pytest
from botocore.eventstream import ChecksumMismatch, EventStream, EventStreamBuffer
from botocore.exceptions import EventStreamError
from botocore.model import StructureShape
from botocore.parsers import EventStreamJSONParser
from hypothesis import given, settings
from hypothesis import strategies as st

from rupu.auth.aws import AwsCredential
from rupu.auth.credentials import FixedCredential, Secret
from rupu.config import ProviderConfig
from rupu.errors import ProviderError, StreamInterrupted
from rupu.messages import Message, ModelRequest, ResponseFinished, StreamEvent
from rupu.providers.base import ProviderSetup, TurnBuilder
from rupu.providers.bedrock import ConverseEvents, converse_url, create, signed_headers
from rupu.providers.bedrock_decode import ConverseStreamDecoder
from rupu.providers.retry import RetryPolicy
from tests.servers.bedrock import (
    BedrockServer,
    Reasoning,
    Text,
    ToolUse,
    Usage,
    converse_stream,
    stream_reply,
    text_reply,
)
from tests.servers.bedrock_wire import AwsKeys, exception, frame, operation, validate_input

KEYS = AwsKeys("AKIAWIRETEST0001", "wire/test/secret", "wire-session-token")
MODEL = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"


class RawStream:
    """What botocore's `EventStream` reads from: `.stream()` yields the body's chunks."""

    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks = chunks

    def stream(self) -> Iterator[bytes]:
        yield from self._chunks

    def close(self) -> None:
        pass


def parse_with_botocore(frames: list[bytes]) -> list[dict[str, Any]]:
    output = operation("bedrock-runtime", "ConverseStream").output_shape
    assert output is not None
    shape = output.members["stream"]
    assert isinstance(shape, StructureShape)
    stream: EventStream[dict[str, Any]] = EventStream(
        RawStream(frames), shape, EventStreamJSONParser(), "ConverseStream"
    )
    return list(stream)


def test_botocores_parser_reads_the_servers_stream_into_the_output_shape() -> None:
    frames = converse_stream(
        [
            Reasoning(["Let me ", "think."], signature="sig-1"),
            Text(["Hello", " there"]),
            ToolUse("tooluse_1", "read_file", ['{"path":', ' "a.txt"}']),
        ],
        stop="tool_use",
        usage=Usage(12, 7, cache_read=100, cache_write=20),
    )
    events = parse_with_botocore(frames)
    assert events[0] == {"messageStart": {"role": "assistant"}}
    deltas = [e["contentBlockDelta"]["delta"] for e in events if "contentBlockDelta" in e]
    assert deltas[:3] == [
        {"reasoningContent": {"text": "Let me "}},
        {"reasoningContent": {"text": "think."}},
        {"reasoningContent": {"signature": "sig-1"}},
    ]
    assert {"text": " there"} in deltas
    starts = [e["contentBlockStart"] for e in events if "contentBlockStart" in e]
    assert starts == [
        {
            "contentBlockIndex": 2,
            "start": {"toolUse": {"toolUseId": "tooluse_1", "name": "read_file"}},
        }
    ]
    assert events[-2] == {"messageStop": {"stopReason": "tool_use"}}
    assert events[-1]["metadata"]["usage"] == {
        "inputTokens": 12,
        "outputTokens": 7,
        "totalTokens": 139,
        "cacheReadInputTokens": 100,
        "cacheWriteInputTokens": 20,
    }


def test_botocore_raises_the_servers_stream_exception() -> None:
    frames = [converse_stream([])[0], exception("throttlingException", "slow down")]
    with pytest.raises(EventStreamError) as raised:
        parse_with_botocore(frames)
    assert raised.value.response["Error"] == {"Code": "throttlingException", "Message": "slow down"}


def test_a_broken_crc_is_refused_by_botocore_and_by_rupu() -> None:
    good = converse_stream([Text(["hi"])])
    broken = bytearray(good[1])
    broken[-6] ^= 0x01  # a payload byte: the message CRC no longer matches
    buffer = EventStreamBuffer()
    buffer.add_data(bytes(broken))
    with pytest.raises(ChecksumMismatch):
        next(buffer)
    with BedrockServer({KEYS.access_key: KEYS}) as server:
        server.script.append(stream_reply([good[0], bytes(broken), *good[2:]]))
        with pytest.raises(StreamInterrupted) as raised:
            anyio.run(drive, server.base_url, KEYS)
    assert raised.value.error_type == "malformed_stream"


def test_botocores_own_client_is_accepted_and_reads_the_answer() -> None:
    """The oracle both ways: botocore signs and serialises, the server verifies and answers."""
    with BedrockServer({KEYS.access_key: KEYS}) as server:
        server.script.append(text_reply("Hello ", "from loopback"))
        session = botocore.session.Session()
        client = session.create_client(
            "bedrock-runtime",
            region_name=server.region,
            endpoint_url=server.base_url,
            aws_access_key_id=KEYS.access_key,
            aws_secret_access_key=KEYS.secret_key,
            aws_session_token=KEYS.token,
        )
        answer = client.converse_stream(  # type: ignore[attr-defined]
            modelId=MODEL,
            messages=[{"role": "user", "content": [{"text": "hi"}]}],
            inferenceConfig={"maxTokens": 100},
        )
        events = list(answer["stream"])
        client.close()
    server.assert_clean()
    texts = [e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e]
    assert texts == ["Hello ", "from loopback"]
    assert server.signed_by.access_keys == [KEYS.access_key]


async def drive(base_url: str, keys: AwsKeys) -> TurnBuilder:
    credential = AwsCredential(
        "bedrock",
        "api-key",
        Secret(keys.secret_key),
        "test",
        access_key=keys.access_key,
        session_token=Secret(keys.token) if keys.token else None,
        region="us-west-2",
    )
    setup = ProviderSetup(
        "bedrock",
        "bedrock",
        ProviderConfig(base_url=base_url),
        FixedCredential(credential),
        retry=RetryPolicy(max_retries=0),
    )
    provider = create(setup)
    builder = TurnBuilder("bedrock")
    try:
        request = ModelRequest(model=MODEL, system="", messages=[Message.user("hi")])
        async for event in provider.stream(request):
            builder.add(event)
    finally:
        await provider.aclose()
    return builder


def test_a_wrong_secret_or_a_changed_body_is_refused() -> None:
    with BedrockServer({KEYS.access_key: KEYS}) as server:
        wrong = AwsKeys(KEYS.access_key, "not/the/secret", KEYS.token)
        with pytest.raises(Exception, match="SigV4: the signature does not match"):
            anyio.run(drive, server.base_url, wrong)
        assert len(server.take_violations()) == 1
        credential = AwsCredential(
            "bedrock",
            "api-key",
            Secret(KEYS.secret_key),
            "test",
            access_key=KEYS.access_key,
            session_token=Secret(str(KEYS.token)),
            region=server.region,
        )
        url = converse_url(server.base_url, server.region, MODEL)
        headers = signed_headers(credential, "POST", url, b'{"messages":[]}', {})
        assert headers["x-amz-security-token"] == KEYS.token
        assert headers["authorization"].startswith(
            f"AWS4-HMAC-SHA256 Credential={KEYS.access_key}/"
        )
        assert "/us-west-2/bedrock/aws4_request" in headers["authorization"]
        assert KEYS.secret_key not in str(headers)
        signed = b'{"messages":[{"role":"user","content":[{"text":"a"}]}]}'
        sent = signed.replace(b'"a"', b'"b"')
        headers = signed_headers(
            credential, "POST", url, signed, {"content-type": "application/json"}
        )
        answer = httpx.post(url, content=sent, headers=headers)
        assert answer.status_code == 400
        assert server.take_violations() == [
            "SigV4: the signature does not match (botocore re-signed the request)"
        ]
        answer = httpx.post(url, content=signed, headers=headers)
        assert answer.status_code == 500  # accepted; nothing was scripted to answer it


def test_the_servers_validator_is_botocores() -> None:
    """A body botocore's validator rejects (an unknown member) is refused by the server too."""
    report = validate_input(
        "bedrock-runtime",
        "ConverseStream",
        {"modelId": MODEL, "messages": [], "temperature": 0.5},
    )
    assert report is not None and "temperature" in report


def decode_in_chunks(body: bytes, cuts: list[int]) -> list[StreamEvent]:
    events = ConverseEvents(
        ConverseStreamDecoder("bedrock", model=MODEL, request_id=None, credential=None)
    )
    out: list[StreamEvent] = []
    start = 0
    for cut in [*sorted(set(cuts)), len(body)]:
        out.extend(events.feed(body[start:cut]))
        start = cut
    out.extend(events.finish())
    return out


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=4000), max_size=12))
def test_decoding_does_not_depend_on_how_the_stream_is_chunked(cuts: list[int]) -> None:
    body = b"".join(
        converse_stream(
            [
                Reasoning(["a", "b"], signature="s"),
                Text(["x", "y", "z"]),
                ToolUse("t", "ls", ['{"p"', ": 1}"]),
            ],
            stop="tool_use",
        )
    )
    whole = decode_in_chunks(body, [])
    assert decode_in_chunks(body, [c % (len(body) + 1) for c in cuts]) == whole
    assert isinstance(whole[-1], ResponseFinished)


def test_an_error_message_in_the_stream_is_a_provider_error() -> None:
    failure = frame(
        {":message-type": "error", ":error-code": "InternalFailure", ":error-message": "boom"},
        b"",
    )
    with BedrockServer({KEYS.access_key: KEYS}) as server:
        server.script.append(stream_reply([converse_stream([])[0], failure]))
        with pytest.raises(ProviderError, match="InternalFailure: boom") as raised:
            anyio.run(drive, server.base_url, KEYS)
    assert raised.value.request_id == "6a1f0c4e-bedrock-req"
