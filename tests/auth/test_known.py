"""The secrets rupu knows of: provider variables, every secret setting of each config file (resolved),
the credential store, and the keys `!command`s printed, including ones run after the first look."""

from __future__ import annotations

import time
from pathlib import Path

from pydantic import SecretStr

from rupu.auth.keyref import run_key_command
from rupu.auth.known import KnownSecrets, provider_key_vars
from rupu.auth.store import AuthStorage
from rupu.auth.stored import MemoryStore, StoredCredential
from rupu.config import Config, LoadedConfig, load_config
from rupu.paths import Paths
from tests.auth.keyrings import MemoryKeyring
from tests.conftest import Workspace

GLOBAL = """\
[providers.oracle]
kind = "openai-compatible"
base_url = "http://127.0.0.1:9/v1"
api_key = "$ORACLE_KEY"

[providers.literal]
kind = "openai-compatible"
base_url = "http://127.0.0.1:9/v1"
api_key = "literal-config-key-0001"
headers = { Authorization = "Bearer ${GATEWAY_TOKEN}", X-Title = "rupu-title" }

[providers.bare]
kind = "openai-compatible"
base_url = "http://127.0.0.1:9/v1"
api_key = "BARE_KEY_VAR"

[providers.anthropic.oauth]
client_secret = "oauth-client-secret-0002"
token_url = "http://127.0.0.1:9/oauth/token"

[providers.copilot]
token_exchange_url = "http://127.0.0.1:9/copilot_internal/v2/token"

[mcp.servers.gh]
command = "gh-mcp"
env = { GITHUB_PERSONAL_ACCESS_TOKEN = "${MCP_GH}", LOG_LEVEL = "debuglevel" }
"""
PROJECT = """\
[providers.literal]
api_key = "project-config-key-0003"
"""


def loaded_config(workspace: Workspace) -> LoadedConfig:
    workspace.write_config(GLOBAL)
    workspace.write_config(PROJECT, project=True)
    return load_config(Paths.discover({"RUPU_HOME": str(workspace.home)}, workspace.project))


def test_every_secret_setting_of_every_config_file_is_known(workspace: Workspace) -> None:
    env = {
        "ORACLE_KEY": "oracle-env-value-0004",
        "BARE_KEY_VAR": "bare-env-value-0005",
        "GATEWAY_TOKEN": "gateway-token-0006",
        "MCP_GH": "mcp-gh-token-0007",
        "PATH": "/usr/bin",
    }
    values = KnownSecrets(env, loaded_config(workspace))()
    assert {
        "oracle-env-value-0004",
        "bare-env-value-0005",
        "literal-config-key-0001",  # shadowed by the project file, still in the global one
        "project-config-key-0003",
        "oauth-client-secret-0002",
        "gateway-token-0006",
        "mcp-gh-token-0007",
    } <= values.credentials
    assert (
        not {
            "rupu-title",
            "debuglevel",
            "/usr/bin",
            "$ORACLE_KEY",
            "http://127.0.0.1:9/oauth/token",
            "http://127.0.0.1:9/copilot_internal/v2/token",
        }
        & values.every()
    )


def test_provider_variables_are_credentials_and_other_secret_names_are_masked_only() -> None:
    env = {
        "ANTHROPIC_API_KEY": "anthropic-env-0008",
        "GH_TOKEN": "gh-env-0009",
        "GROQ_API_KEY": "groq-env-0010",
        "RUPU_ORACLE_API_KEY": "custom-env-0011",
        "NPM_TOKEN": "npm-env-0012",
        "RUPU_HOME": "/home/someone/.rupu",
        "SECRETS_DIR": "/usr/bin",
        "ACTIONS_ID_TOKEN_REQUEST_URL": "https://pipelines.example/idtoken",
        "PASSWORD_FILE_SLASHED": "/not/a/real/path/abc",
        "HOME": "/home/someone",
    }
    config = LoadedConfig(config_of({"oracle": {}}))
    values = KnownSecrets(env, config)()
    assert {
        "anthropic-env-0008",
        "gh-env-0009",
        "groq-env-0010",
        "custom-env-0011",
    } <= values.credentials
    assert "npm-env-0012" in values.others and "npm-env-0012" not in values.credentials
    assert (
        not {
            "/home/someone/.rupu",
            "/home/someone",
            "/usr/bin",
            "https://pipelines.example/idtoken",
        }
        & values.every()
    )
    assert "/not/a/real/path/abc" in values.others
    assert "GROQ_API_KEY" in provider_key_vars(None)


def config_of(providers: dict[str, dict[str, str]]) -> Config:
    return Config.model_validate(
        {
            "providers": {
                n: {"kind": "openai-compatible", "base_url": "http://x/v1", **p}
                for n, p in providers.items()
            }
        }
    )


def test_stored_credentials_are_known(workspace: Workspace) -> None:
    store = MemoryStore()
    now = time.time()
    store.put(
        StoredCredential(
            provider="anthropic",
            mode="sso",
            secret=SecretStr("STORED_ACCESS_0013"),  # would read as a variable's name
            refresh_token=SecretStr("stored-refresh-0014"),
            expires_at=now + 3600,
            updated_at=now,
        )
    )
    store.put(
        StoredCredential(
            provider="oracle", mode="api-key", secret=SecretStr("$STORED_REF"), updated_at=now
        )
    )
    values = KnownSecrets({"STORED_REF": "stored-ref-value-0015"}, None, store=store)()
    assert {"STORED_ACCESS_0013", "stored-refresh-0014", "stored-ref-value-0015"} <= (
        values.credentials
    )
    assert "$STORED_REF" not in values.every()


def test_auth_json_entries_are_known(workspace: Workspace) -> None:
    storage = AuthStorage(workspace.home, env={"RUPU_AUTH_BACKEND": "file"})
    storage.put(
        StoredCredential(
            provider="openai",
            mode="api-key",
            secret=SecretStr("auth-json-key-0016"),
            updated_at=time.time(),
        )
    )
    values = KnownSecrets({}, None, store=AuthStorage(workspace.home))()
    assert "auth-json-key-0016" in values.credentials


def test_keychain_entries_rupu_stored_are_known(workspace: Workspace) -> None:
    backend = MemoryKeyring()
    storage = AuthStorage(workspace.home, keyring_backend=backend)
    storage.put(
        StoredCredential(
            provider="gemini",
            mode="api-key",
            secret=SecretStr("keychain-key-0019"),
            updated_at=time.time(),
        )
    )
    assert backend.items, "the credential went to the keychain"
    again = AuthStorage(workspace.home, keyring_backend=backend)
    assert "keychain-key-0019" in KnownSecrets({}, None, store=again)().credentials


def test_an_unreadable_store_leaves_the_other_sources(workspace: Workspace) -> None:
    (workspace.home / "auth.json").write_text("{not json")
    (workspace.home / "auth.json").chmod(0o600)
    known = KnownSecrets(
        {"OPENAI_API_KEY": "openai-env-0017"}, None, store=AuthStorage(workspace.home)
    )
    assert known().credentials == {"openai-env-0017"}


def test_key_commands_run_later_are_added(tmp_path: Path) -> None:
    known = KnownSecrets({"PATH": "/usr/bin:/bin"}, None)
    known.load()
    before = known()
    assert "command-key-0018" not in before.credentials
    run_key_command("x", "printf command-key-0018", {"PATH": "/usr/bin:/bin"}, where="test")
    assert "command-key-0018" in known().credentials
    assert known() is known()  # rebuilt only when a command ran


def test_sign_in_tokens_and_the_passphrase_from_the_environment_are_credentials() -> None:
    assert {"CHATGPT_OAUTH_TOKEN", "ANTHROPIC_OAUTH_TOKEN", "GEMINI_OAUTH_TOKEN"} <= set(
        provider_key_vars(None)
    )
    env = {
        "CHATGPT_OAUTH_TOKEN": "eyJ-env-token-CANARY-0001",
        "RUPU_AUTH_PASSPHRASE": "passphrase-CANARY-0002",
    }
    known = KnownSecrets(env)()
    assert set(env.values()) <= known.credentials
