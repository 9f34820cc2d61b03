"""`rupu models refresh` on Bedrock: ListFoundationModels (on-demand text models only), then every
page of ListInferenceProfiles, each request signed (the loopback server re-signs with botocore);
the live list then shows in `rupu models list`. Without a `[providers.bedrock]` table a plain
`rupu models refresh` leaves Bedrock out (no AWS chain run, no botocore needed)."""

from __future__ import annotations

import orjson
import pytest

from tests.conftest import Workspace, run_rupu
from tests.servers.bedrock import BedrockServer
from tests.servers.bedrock_setup import AwsFiles, bedrock_config, isolate_aws
from tests.servers.bedrock_wire import AwsKeys

KEYS = AwsKeys("AKIAMODELS000001", "models/secret/key")
ENV = {"AWS_ACCESS_KEY_ID": KEYS.access_key, "AWS_SECRET_ACCESS_KEY": KEYS.secret_key}


@pytest.fixture
def aws_files(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> AwsFiles:
    return isolate_aws(workspace, monkeypatch)


def foundation(
    model_id: str, name: str, *, on_demand: bool = True, text: bool = True
) -> dict[str, object]:
    return {
        "modelArn": f"arn:aws:bedrock:us-west-2::foundation-model/{model_id}",
        "modelId": model_id,
        "modelName": name,
        "providerName": "Test",
        "inputModalities": ["TEXT"],
        "outputModalities": ["TEXT"] if text else ["EMBEDDING"],
        "responseStreamingSupported": True,
        "inferenceTypesSupported": ["ON_DEMAND"] if on_demand else ["INFERENCE_PROFILE"],
        "modelLifecycle": {"status": "ACTIVE"},
    }


def profile(profile_id: str, name: str) -> dict[str, object]:
    return {
        "inferenceProfileName": name,
        "inferenceProfileArn": f"arn:aws:bedrock:us-west-2:123456789012:inference-profile/{profile_id}",
        "inferenceProfileId": profile_id,
        "models": [],
        "status": "ACTIVE",
        "type": "SYSTEM_DEFINED",
    }


def test_refresh_reads_foundation_models_and_every_profile_page(
    workspace: Workspace, aws_files: AwsFiles
) -> None:
    with BedrockServer({KEYS.access_key: KEYS}) as server:
        server.foundation_models = [
            foundation("amazon.nova-pro-v1:0", "Nova Pro"),
            foundation("anthropic.claude-sonnet-4-6", "Claude Sonnet 4.6", on_demand=False),
            foundation("amazon.titan-embed-text-v2:0", "Titan Embeddings", text=False),
        ]
        server.inference_profiles = [
            [profile("us.anthropic.claude-sonnet-4-6", "US Claude Sonnet 4.6")],
            [profile("global.anthropic.claude-future-1", "Global Claude Future")],
        ]
        workspace.write_config(bedrock_config(server, f'control_base_url = "{server.base_url}"\n'))
        refreshed = run_rupu("models", "refresh", "--provider", "bedrock", env=ENV)
        listed = run_rupu("models", "list", "-p", "bedrock", "--format", "json")
    assert refreshed.code == 0, refreshed.stderr
    cache = workspace.home / "cache" / "models" / "bedrock.json"
    assert refreshed.stdout.strip() == f"bedrock: 3 models (3 pages) -> {cache}"
    paths = [r.path for r in server.requests]
    assert paths == ["/foundation-models", "/inference-profiles", "/inference-profiles"]
    assert server.requests[2].query == {"maxResults": "1000", "nextToken": "1"}
    assert server.signed_by.access_keys == [KEYS.access_key] * 3
    cached = orjson.loads(cache.read_bytes())
    assert [m["id"] for m in cached["models"]] == [
        "amazon.nova-pro-v1:0",
        "us.anthropic.claude-sonnet-4-6",
        "global.anthropic.claude-future-1",
    ]
    assert KEYS.secret_key not in refreshed.output + cache.read_text()
    assert listed.code == 0, listed.stderr
    assert "global.anthropic.claude-future-1" in listed.stdout


def test_plain_refresh_leaves_out_an_unconfigured_bedrock(
    workspace: Workspace, aws_files: AwsFiles
) -> None:
    result = run_rupu("models", "refresh", env=ENV)
    assert "bedrock" not in result.output
