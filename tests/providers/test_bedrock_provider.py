"""The Bedrock provider over the loopback server: reasoning with its signature, text and usage with
cache reads and writes become one turn, and the reasoning is replayed on the next request as the API
wants it; `cache_points = true` puts cache points on the wire; the model id (an ARN too) is one
signed path segment. And the optional extra: `rupu --help` never loads botocore, and without it
`provider: bedrock` exits 2 with the install line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from rupu.auth.aws import AwsCredential
from rupu.auth.credentials import FixedCredential, Secret
from rupu.config import ProviderConfig
from rupu.messages import AssistantTurn, Message, ModelRequest, ThinkingPart
from rupu.providers.base import ProviderSetup, TurnBuilder
from rupu.providers.bedrock import create
from rupu.providers.retry import RetryPolicy
from tests.conftest import REPO_ROOT, Workspace, run_rupu
from tests.servers.bedrock import (
    BedrockServer,
    Reasoning,
    Text,
    Usage,
    converse_stream,
    stream_reply,
    text_reply,
)
from tests.servers.bedrock_setup import AGENT, isolate_aws
from tests.servers.bedrock_wire import AwsKeys

KEYS = AwsKeys("AKIAPROVIDER0001", "provider/secret", "provider-token")
MODEL = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"


def provider_for(server: BedrockServer, **config: object) -> ProviderSetup:
    credential = AwsCredential(
        "bedrock",
        "api-key",
        Secret(KEYS.secret_key),
        "environment (AWS_ACCESS_KEY_ID) [env]",
        access_key=KEYS.access_key,
        session_token=Secret(str(KEYS.token)),
        region=server.region,
    )
    return ProviderSetup(
        "bedrock",
        "bedrock",
        ProviderConfig.model_validate({"base_url": server.base_url, **config}),
        FixedCredential(credential),
        retry=RetryPolicy(max_retries=0),
    )


async def turns(setup: ProviderSetup, requests: list[ModelRequest]) -> list[AssistantTurn]:
    provider = create(setup)
    done: list[AssistantTurn] = []
    try:
        for request in requests:
            builder = TurnBuilder("bedrock")
            async for event in provider.stream(request):
                builder.add(event)
            done.append(builder.result())
    finally:
        await provider.aclose()
    return done


def test_reasoning_text_and_cache_usage_make_one_turn_and_reasoning_is_replayed() -> None:
    with BedrockServer({KEYS.access_key: KEYS}) as server:
        server.script.append(
            stream_reply(
                converse_stream(
                    [
                        Reasoning(["Weighing ", "it."], signature="sig-abc"),
                        Text(["Forty", "-two."]),
                    ],
                    usage=Usage(20, 9, cache_read=300, cache_write=50),
                )
            )
        )
        first = ModelRequest(model=MODEL, system="Answer.", messages=[Message.user("q?")])
        (turn,) = anyio.run(turns, provider_for(server), [first])
        assert turn.message.text() == "Forty-two."
        thinking = turn.message.parts[0]
        assert isinstance(thinking, ThinkingPart)
        assert (thinking.text, thinking.signature, thinking.provider) == (
            "Weighing it.",
            "sig-abc",
            "bedrock",
        )
        assert (turn.usage.input_tokens, turn.usage.output_tokens) == (20, 9)
        assert (turn.usage.cache_read_tokens, turn.usage.cache_write_tokens) == (300, 50)
        assert turn.stop_reason == "end_turn"
        assert turn.request_id == "6a1f0c4e-bedrock-req"
        assert turn.credential == "aws credentials from environment (AWS_ACCESS_KEY_ID) [env]"
        server.script.append(text_reply("ok"))
        again = ModelRequest(
            model=MODEL,
            system="Answer.",
            messages=[Message.user("q?"), turn.message, Message.user("sure?")],
        )
        anyio.run(turns, provider_for(server), [again])
    replayed = server.requests[1].body["messages"][1]["content"]
    assert replayed[0] == {
        "reasoningContent": {"reasoningText": {"text": "Weighing it.", "signature": "sig-abc"}}
    }


def test_cache_points_on_the_wire_when_configured() -> None:
    with BedrockServer({KEYS.access_key: KEYS}) as server:
        server.script.extend([text_reply("a"), text_reply("b")])
        request = ModelRequest(model=MODEL, system="Stable.", messages=[Message.user("q")])
        anyio.run(turns, provider_for(server, cache_points=True), [request])
        anyio.run(turns, provider_for(server), [request])
    cached, plain = (r.body for r in server.requests)
    assert cached["system"] == [{"text": "Stable."}, {"cachePoint": {"type": "default"}}]
    assert cached["messages"][0]["content"][-1] == {"cachePoint": {"type": "default"}}
    assert "cachePoint" not in str(plain)


def test_an_inference_profile_arn_is_one_signed_path_segment() -> None:
    arn = "arn:aws:bedrock:us-west-2:123456789012:application-inference-profile/a1b2c3"
    with BedrockServer({KEYS.access_key: KEYS}) as server:
        server.script.append(text_reply("hi"))
        request = ModelRequest(model=arn, system="", messages=[Message.user("q")])
        (turn,) = anyio.run(turns, provider_for(server), [request])
    assert turn.message.text() == "hi"
    assert server.requests[0].path == (
        "/model/arn:aws:bedrock:us-west-2:123456789012:application-inference-profile%2Fa1b2c3"
        "/converse-stream"
    )


def test_help_does_not_load_botocore() -> None:
    code = "import sys, runpy; sys.argv = ['rupu', '--help']\n"
    code += (
        "try:\n    runpy.run_module('rupu', run_name='__main__')\nexcept SystemExit:\n    pass\n"
    )
    code += "assert 'botocore' not in sys.modules, 'botocore was imported'\n"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "Usage" in done.stdout


def test_without_the_extra_bedrock_exits_2_with_the_install_line(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    isolate_aws(workspace, monkeypatch)
    shadow = tmp_path / "no-botocore" / "botocore"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError(\"No module named 'botocore'\")\n")
    workspace.write_agent("aws-reader", AGENT)
    result = run_rupu(
        "run",
        "--agent",
        "aws-reader",
        "hi",
        env={
            "PYTHONPATH": str(shadow.parent),
            "AWS_ACCESS_KEY_ID": "AKIAX",
            "AWS_SECRET_ACCESS_KEY": "s",
        },
    )
    assert result.code == 2, result.output
    assert "needs botocore" in result.stderr
    assert "pip install 'rupu[aws]'" in result.stderr
    assert "Traceback" not in result.stderr
