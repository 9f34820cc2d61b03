"""Acceptance for Bedrock's credentials (issue 17, acceptance 1): an agent runs a tool-use
conversation against the loopback Bedrock through each link of botocore's chain (environment keys
with a session token, a shared-credentials profile named in config, `AWS_PROFILE` with a config-file
profile, the SSO cache, container credentials and web identity against loopback stand-ins), every
request's SigV4 signature re-checked by botocore's own signer with the keys that link issued; and
`rupu auth status` names the link, never a key."""

from __future__ import annotations

import hashlib
import json

import orjson
import pytest

from tests.conftest import Workspace, run_rupu
from tests.servers.aws_identity import ACCOUNT_ID, ROLE_ARN, ROLE_NAME, AwsIdentityServer
from tests.servers.bedrock import BedrockServer, text_reply
from tests.servers.bedrock_setup import (
    REGION,
    AwsFiles,
    assert_conversation,
    bedrock_config,
    isolate_aws,
    run_tool_conversation,
)
from tests.servers.bedrock_wire import AwsKeys

ENV_KEYS = AwsKeys("ASIAENVKEY0001", "env/secret+key/0001", "env-session-token-0001")
PROFILE_KEYS = AwsKeys("AKIAPROFILE0002", "profile/secret/0002")
CONFIG_KEYS = AwsKeys("AKIACONFIG0003", "config/secret/0003")
START_URL = "https://rupu-test.awsapps.com/start"
AGENT_FOR_TRUST = "---\nname: aws-reader\nprovider: bedrock\n---\nYou read.\n"


@pytest.fixture
def aws_files(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> AwsFiles:
    return isolate_aws(workspace, monkeypatch)


def status_source(workspace: Workspace, env: dict[str, str] | None = None) -> dict[str, object]:
    return status_source_of(workspace, "bedrock", env)


def status_source_of(
    workspace: Workspace, provider: str, env: dict[str, str] | None = None
) -> dict[str, object]:
    result = run_rupu("auth", "status", "--format", "json", env=env)
    assert result.code == 0, result.stderr
    report = orjson.loads(result.stdout)
    (bedrock,) = [p for p in report["providers"] if p["provider"] == provider]
    assert isinstance(bedrock, dict)
    return bedrock


def assert_no_secret(text: str, keys: AwsKeys) -> None:
    assert keys.secret_key not in text
    assert keys.token is None or keys.token not in text


def test_environment_keys_with_a_session_token(workspace: Workspace, aws_files: AwsFiles) -> None:
    env = {
        "AWS_ACCESS_KEY_ID": ENV_KEYS.access_key,
        "AWS_SECRET_ACCESS_KEY": ENV_KEYS.secret_key,
        "AWS_SESSION_TOKEN": str(ENV_KEYS.token),
    }
    with BedrockServer({ENV_KEYS.access_key: ENV_KEYS}) as server:
        workspace.write_config(bedrock_config(server))
        result = run_tool_conversation(workspace, server, env)
        assert_conversation(result, server)
        status = status_source(workspace, env)
    assert server.signed_by.access_keys == [ENV_KEYS.access_key] * 2
    assert server.requests[0].headers["x-amz-security-token"] == ENV_KEYS.token
    assert "aws credentials from environment (AWS_ACCESS_KEY_ID) [env]" in result.stderr
    assert status["in_use"] == {
        "mode": "aws",
        "source": f"aws chain: environment (AWS_ACCESS_KEY_ID) [env], region {REGION}",
    }
    assert_no_secret(result.output + json.dumps(status), ENV_KEYS)
    table = run_rupu("auth", "status", env=env)
    (row,) = [line for line in table.stdout.splitlines() if line.startswith("bedrock")]
    assert row.split()[1:3] == ["-", "aws"]
    assert "aws chain: environment (AWS_ACCESS_KEY_ID) [env], region us-west-2" in row
    assert_no_secret(table.output, ENV_KEYS)


def test_a_profile_named_in_config_reads_the_shared_credentials_file(
    workspace: Workspace, aws_files: AwsFiles
) -> None:
    aws_files.credentials.parent.mkdir(parents=True, exist_ok=True)
    aws_files.credentials.write_text(
        "[default]\naws_access_key_id = AKIAWRONG\naws_secret_access_key = wrong\n\n"
        f"[dev]\naws_access_key_id = {PROFILE_KEYS.access_key}\n"
        f"aws_secret_access_key = {PROFILE_KEYS.secret_key}\n"
    )
    with BedrockServer({PROFILE_KEYS.access_key: PROFILE_KEYS}) as server:
        workspace.write_config(bedrock_config(server, 'profile = "dev"\n'))
        result = run_tool_conversation(workspace, server)
        assert_conversation(result, server)
        status = status_source(workspace)
    assert server.signed_by.access_keys == [PROFILE_KEYS.access_key] * 2
    assert "x-amz-security-token" not in server.requests[0].headers
    assert status["in_use"] == {
        "mode": "aws",
        "source": "aws chain: shared credentials file, profile dev [shared-credentials-file], "
        f"region {REGION}",
    }
    assert_no_secret(result.output + json.dumps(status), PROFILE_KEYS)


def test_aws_profile_picks_a_config_file_profile_and_its_region(
    workspace: Workspace, aws_files: AwsFiles
) -> None:
    aws_files.config.parent.mkdir(parents=True, exist_ok=True)
    aws_files.config.write_text(
        "[profile ops]\nregion = eu-central-1\n"
        f"aws_access_key_id = {CONFIG_KEYS.access_key}\n"
        f"aws_secret_access_key = {CONFIG_KEYS.secret_key}\n"
    )
    env = {"AWS_PROFILE": "ops"}
    with BedrockServer({CONFIG_KEYS.access_key: CONFIG_KEYS}, region="eu-central-1") as server:
        workspace.write_config(bedrock_config(server, region=None))
        result = run_tool_conversation(workspace, server, env)
        assert_conversation(result, server)
        status = status_source(workspace, env)
    assert status["in_use"] == {
        "mode": "aws",
        "source": "aws chain: config file, profile ops [config-file], region eu-central-1",
    }
    assert_no_secret(result.output + json.dumps(status), CONFIG_KEYS)


SSO_PROFILES = {
    # `aws configure sso` with an sso-session (the cache file is named after the session)
    "sso-session": (
        "[profile sso-dev]\nsso_session = corp\n"
        f"sso_account_id = {ACCOUNT_ID}\nsso_role_name = {ROLE_NAME}\nregion = {REGION}\n"
        f"[sso-session corp]\nsso_start_url = {START_URL}\nsso_region = us-east-1\n"
        "sso_registration_scopes = sso:account:access\n",
        "corp",
    ),
    # the legacy form (the cache file is named after the start URL)
    "legacy": (
        "[profile sso-dev]\n"
        f"sso_start_url = {START_URL}\nsso_region = us-east-1\n"
        f"sso_account_id = {ACCOUNT_ID}\nsso_role_name = {ROLE_NAME}\nregion = {REGION}\n",
        START_URL,
    ),
}


@pytest.mark.parametrize("form", list(SSO_PROFILES))
def test_the_sso_cache_of_aws_sso_login(
    workspace: Workspace, aws_files: AwsFiles, form: str
) -> None:
    keys: dict[str, AwsKeys] = {}
    with AwsIdentityServer(keys) as identity, BedrockServer(keys) as server:
        profile, cache_name = SSO_PROFILES[form]
        aws_files.config.write_text(profile)
        cache_key = hashlib.sha1(cache_name.encode()).hexdigest()
        (aws_files.sso_cache / f"{cache_key}.json").write_text(
            json.dumps(
                {
                    "startUrl": START_URL,
                    "region": "us-east-1",
                    "accessToken": identity.sso_access_token,
                    "expiresAt": "2099-01-01T00:00:00Z",
                }
            )
        )
        env = {"AWS_ENDPOINT_URL_SSO": identity.base_url}
        workspace.write_config(bedrock_config(server, 'profile = "sso-dev"\n', region=None))
        result = run_tool_conversation(workspace, server, env)
        assert_conversation(result, server)
        status = status_source(workspace, env)
    issued = [k for source, k in identity.issued if source == "sso"]
    assert server.signed_by.access_keys == [issued[0].access_key] * 2
    assert status["in_use"] == {
        "mode": "aws",
        "source": f"aws chain: SSO cache (aws sso login), profile sso-dev [sso], region {REGION}",
    }
    for k in issued:
        assert_no_secret(result.output + json.dumps(status), k)
    assert identity.sso_access_token not in result.output


def test_container_credentials_from_a_loopback_endpoint(
    workspace: Workspace, aws_files: AwsFiles
) -> None:
    keys: dict[str, AwsKeys] = {}
    with AwsIdentityServer(keys) as identity, BedrockServer(keys) as server:
        env = {
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": f"{identity.base_url}/container-credentials",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN": identity.container_token,
        }
        workspace.write_config(bedrock_config(server))
        result = run_tool_conversation(workspace, server, env)
        assert_conversation(result, server)
        status = status_source(workspace, env)
    (first, *_) = [k for source, k in identity.issued if source == "container"]
    assert server.signed_by.access_keys == [first.access_key] * 2
    assert server.requests[1].headers["x-amz-security-token"] == first.token
    assert status["in_use"] == {
        "mode": "aws",
        "source": "aws chain: container credentials (AWS_CONTAINER_CREDENTIALS_*) "
        f"[container-role], region {REGION}",
    }
    assert_no_secret(result.output + json.dumps(status), first)
    assert identity.container_token not in result.output


def test_web_identity_through_a_loopback_sts(workspace: Workspace, aws_files: AwsFiles) -> None:
    keys: dict[str, AwsKeys] = {}
    with AwsIdentityServer(keys) as identity, BedrockServer(keys) as server:
        token_file = workspace.home.parent / "irsa-token"
        token_file.write_text(identity.web_identity_token)
        env = {
            "AWS_WEB_IDENTITY_TOKEN_FILE": str(token_file),
            "AWS_ROLE_ARN": ROLE_ARN,
            "AWS_ROLE_SESSION_NAME": "rupu-ci",
            "AWS_ENDPOINT_URL_STS": identity.base_url,
        }
        workspace.write_config(bedrock_config(server))
        result = run_tool_conversation(workspace, server, env)
        assert_conversation(result, server)
        status = status_source(workspace, env)
    (first, *_) = [k for source, k in identity.issued if source == "webid"]
    assert server.signed_by.access_keys == [first.access_key] * 2
    assert status["in_use"] == {
        "mode": "aws",
        "source": "aws chain: web identity (AWS_WEB_IDENTITY_TOKEN_FILE) "
        f"[assume-role-with-web-identity], region {REGION}",
    }
    assert_no_secret(result.output + json.dumps(status), first)
    assert identity.web_identity_token not in result.output


def test_no_credentials_anywhere_is_a_credential_error(
    workspace: Workspace, aws_files: AwsFiles
) -> None:
    with BedrockServer({}) as server:
        workspace.write_config(bedrock_config(server))
        result = run_tool_conversation(workspace, server)
        status = status_source(workspace)
    assert result.code == 4, result.output
    assert "no AWS credentials found" in result.stderr
    assert "aws sso login" in result.stderr
    assert "Traceback" not in result.stderr
    assert server.requests == []
    assert status["in_use"] is None
    assert "no AWS credentials found" in str(status["problem"])


@pytest.mark.parametrize(
    ("table", "what"),
    [
        (
            '[providers.bedrock]\nbase_url = "{url}"\n',
            "base_url would send your bedrock credential",
        ),
        (
            '[providers.aws-x]\nkind = "bedrock"\ncontrol_base_url = "{url}"\n',
            "control_base_url would send your aws-x credential",
        ),
        ('[providers.bedrock]\nprofile = "prod"\n', "profile picks one of your AWS profiles"),
    ],
)
def test_an_untrusted_project_cannot_point_aws_credentials_elsewhere(
    workspace: Workspace, aws_files: AwsFiles, table: str, what: str
) -> None:
    """Even with no AWS variable set (the chain may still answer from files or instance metadata),
    a project's endpoint or profile for an AWS provider needs `rupu trust` first."""
    with BedrockServer({}) as server:
        config = workspace.write_config(table.format(url=server.base_url), project=True)
        workspace.write_agent("aws-reader", AGENT_FOR_TRUST, project=True)
        result = run_rupu("run", "--agent", "aws-reader", "hi")
    assert result.code == 2, result.output
    line = table.count("\n")  # the setting is the table's last line
    assert f"{config}:{line}: [providers." in result.stderr
    assert what in result.stderr
    assert "rupu trust" in result.stderr
    assert server.requests == []


def test_a_declared_bedrock_provider_in_another_region(
    workspace: Workspace, aws_files: AwsFiles
) -> None:
    env = {
        "AWS_ACCESS_KEY_ID": PROFILE_KEYS.access_key,
        "AWS_SECRET_ACCESS_KEY": PROFILE_KEYS.secret_key,
    }
    with BedrockServer({PROFILE_KEYS.access_key: PROFILE_KEYS}, region="eu-central-1") as server:
        workspace.write_config(
            f'[providers.bedrock-eu]\nkind = "bedrock"\nregion = "eu-central-1"\n'
            f'base_url = "{server.base_url}"\n'
        )
        workspace.write_agent(
            "eu", "---\nname: eu\nprovider: bedrock-eu\nmodel: eu.amazon.nova-pro-v1:0\n---\nHi.\n"
        )
        server.script.append(text_reply("Guten Tag."))
        result = run_rupu("run", "--agent", "eu", "hallo", env=env)
        status = status_source_of(workspace, "bedrock-eu", env)
    assert result.code == 0, result.stderr
    assert result.stdout == "Guten Tag.\n"
    assert server.requests[0].path == "/model/eu.amazon.nova-pro-v1:0/converse-stream"
    assert status["in_use"] == {
        "mode": "aws",
        "source": "aws chain: environment (AWS_ACCESS_KEY_ID) [env], region eu-central-1",
    }
