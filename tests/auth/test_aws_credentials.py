"""`rupu.auth.aws` in process: which providers take the AWS chain, where the profile and the region
come from (config, then the environment, then the profile), that a credential never shows its keys,
that botocore's failures become one-line credential errors, and that `auth login` points Bedrock
users at the AWS CLI instead of storing a key."""

from __future__ import annotations

import os

import anyio
import pytest

from rupu.auth.aws import (
    AwsChain,
    AwsCredential,
    aws_source,
    chain_status,
    method_words,
    uses_aws_chain,
)
from rupu.auth.credentials import Secret
from rupu.auth.resolver import CredentialResolver
from rupu.config import LoadedConfig, ProviderConfig, load_config
from rupu.errors import ConfigError, CredentialError
from rupu.paths import Paths
from tests.conftest import Workspace, run_rupu
from tests.servers.bedrock_setup import AwsFiles, isolate_aws

KEY_ID = "AKIAUNIT00000001"
SECRET = "unit/secret/key+0001"


@pytest.fixture
def aws_files(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> AwsFiles:
    return isolate_aws(workspace, monkeypatch)


def loaded(workspace: Workspace, text: str) -> LoadedConfig:
    workspace.write_config(text)
    return load_config(Paths.discover(os.environ, workspace.project))


def test_which_providers_take_the_aws_chain(workspace: Workspace) -> None:
    config = loaded(
        workspace,
        '[providers.bedrock-eu]\nkind = "bedrock"\nregion = "eu-west-1"\n'
        '[providers.other]\nkind = "anthropic"\nbase_url = "http://127.0.0.1:9"\n',
    )
    assert uses_aws_chain("bedrock", None)
    assert uses_aws_chain("bedrock-eu", config)
    assert not uses_aws_chain("other", config)
    assert not uses_aws_chain("anthropic", config)
    assert not uses_aws_chain("bedrock-eu", None)


def test_the_resolver_hands_bedrock_the_chain_and_the_region_precedence(
    workspace: Workspace, aws_files: AwsFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    aws_files.config.parent.mkdir(parents=True, exist_ok=True)
    aws_files.config.write_text("[default]\nregion = ap-south-1\n")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    resolver = CredentialResolver({}, config=loaded(workspace, ""))
    source = resolver.source("bedrock")
    credential = anyio.run(source.get)
    assert isinstance(credential, AwsCredential)
    assert (credential.access_key, credential.secret.reveal()) == (KEY_ID, SECRET)
    assert (credential.region, credential.method) == ("ap-south-1", "env")
    assert credential.session_token is None
    assert credential.describe() == "aws credentials from environment (AWS_ACCESS_KEY_ID) [env]"
    assert SECRET not in repr(credential) and KEY_ID not in repr(credential)
    env_region = AwsChain("bedrock", ProviderConfig(), {"AWS_REGION": "us-east-2"})
    assert env_region.region() == "us-east-2"
    configured = AwsChain("bedrock", ProviderConfig(region="eu-west-3"), {"AWS_REGION": "x"})
    assert configured.region() == "eu-west-3"


def test_the_profile_comes_from_config_before_aws_profile(
    aws_files: AwsFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    aws_files.credentials.parent.mkdir(parents=True, exist_ok=True)
    aws_files.credentials.write_text(
        "[a]\naws_access_key_id = AKIAA\naws_secret_access_key = sa\n"
        "[b]\naws_access_key_id = AKIAB\naws_secret_access_key = sb\n"
    )
    monkeypatch.setenv("AWS_PROFILE", "a")
    from_env = AwsChain("bedrock", ProviderConfig(region="us-east-1"), {"AWS_PROFILE": "a"})
    assert from_env.resolve().access_key == "AKIAA"
    assert from_env.profile == "a"
    configured = AwsChain("bedrock", ProviderConfig(region="us-east-1", profile="b"), {})
    found = configured.resolve()
    assert (found.access_key, found.source) == (
        "AKIAB",
        "shared credentials file, profile b [shared-credentials-file]",
    )


def test_failures_are_one_line_credential_and_config_errors(aws_files: AwsFiles) -> None:
    missing = AwsChain("bedrock", ProviderConfig(region="us-east-1", profile="nope"), {})
    with pytest.raises(CredentialError, match=r"AWS credential chain failed: .*nope"):
        missing.resolve()
    nothing = AwsChain("bedrock", ProviderConfig(region="us-east-1"), {})
    with pytest.raises(CredentialError, match="no AWS credentials found") as raised:
        nothing.resolve()
    assert "aws sso login" in str(raised.value.hint)
    no_region = AwsChain("bedrock", ProviderConfig(), {})
    with pytest.raises(ConfigError, match="no AWS region"):
        no_region.region()
    source, problem = chain_status("bedrock", ProviderConfig(region="us-east-1"), {})
    assert source is None and problem is not None and "no AWS credentials found" in problem


def test_force_refresh_runs_the_chain_again(
    aws_files: AwsFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFIRST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s1")
    source = aws_source("bedrock", ProviderConfig(region="us-east-1"), {})
    first = anyio.run(source.get)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIASECOND")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s2")
    assert isinstance(first, AwsCredential)
    cached = anyio.run(source.get)
    assert isinstance(cached, AwsCredential) and cached.access_key == "AKIAFIRST"

    async def refreshed() -> AwsCredential:
        fresh = await source.get(force_refresh=True)
        assert isinstance(fresh, AwsCredential)
        return fresh

    assert anyio.run(refreshed).access_key == "AKIASECOND"


def test_method_words_name_the_link_and_its_profile() -> None:
    assert method_words("sso", "dev") == "SSO cache (aws sso login), profile dev [sso]"
    assert method_words("env", "dev") == "environment (AWS_ACCESS_KEY_ID) [env]"
    assert method_words("something-new", None) == "something-new [something-new]"
    credential = AwsCredential(
        "bedrock", "api-key", Secret("x"), "env", access_key="AKIA", session_token=Secret("t")
    )
    assert "AKIA" not in repr(credential) and "'t'" not in repr(credential)


def test_auth_login_points_bedrock_at_the_aws_cli(workspace: Workspace) -> None:
    result = run_rupu("auth", "login", "--provider", "bedrock", "--mode", "api-key")
    assert result.code == 2
    assert "bedrock takes its credentials from the AWS chain; rupu stores none" in result.stderr
    assert "aws sso login" in result.stderr
