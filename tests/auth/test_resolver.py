"""Credential precedence (acceptance 4), key references, and the errors that list every place."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from pydantic import SecretStr

from rupu.auth.credentials import AuthMode, Credential, CredentialSource
from rupu.auth.keyref import KeyRef, parse_key_ref
from rupu.auth.refresh import SsoCredentialSource
from rupu.auth.resolver import HEADLESS_WARNING, CredentialResolver
from rupu.auth.stored import MemoryStore, StoredCredential
from rupu.config import LoadedConfig, load_config
from rupu.errors import CredentialError, UsageError
from rupu.paths import Paths
from tests.conftest import Workspace

NOW = time.time()


def stored_key(provider: str, value: str) -> StoredCredential:
    return StoredCredential(
        provider=provider, mode="api-key", secret=SecretStr(value), updated_at=NOW
    )


def stored_sso(
    provider: str, *, left: float = 3600, refresh: str | None = "rt", error: str | None = None
) -> StoredCredential:
    return StoredCredential(
        provider=provider,
        mode="sso",
        secret=SecretStr(f"{provider}-access"),
        refresh_token=SecretStr(refresh) if refresh else None,
        expires_at=NOW + left,
        updated_at=NOW,
        refresh_error=error,
    )


def config(workspace: Workspace, text: str = "") -> LoadedConfig:
    workspace.write_config(text)
    return load_config(Paths.discover({"RUPU_HOME": str(workspace.home)}, workspace.project))


def resolver(
    store: MemoryStore,
    env: dict[str, str] | None = None,
    loaded: LoadedConfig | None = None,
    *,
    interactive: bool = True,
    warnings: list[str] | None = None,
    tmp: Path | None = None,
) -> CredentialResolver:
    return CredentialResolver(
        env or {},
        store=store,
        config=loaded,
        interactive=interactive,
        warn=(warnings.append if warnings is not None else None),
        lock_dir=tmp or Path("/nonexistent-locks"),
    )


async def credential_of(source: CredentialSource) -> Credential:
    return await source.get()


def described(source: CredentialSource) -> str:
    credential = getattr(source, "credential", None)
    assert isinstance(credential, Credential)
    return credential.describe()


@pytest.mark.parametrize(
    ("stored", "env", "forced", "expected"),
    [
        ([], {"ANTHROPIC_API_KEY": "e"}, None, "api-key from env ANTHROPIC_API_KEY"),
        (["key"], {"ANTHROPIC_API_KEY": "e"}, None, "api-key from memory"),
        (["key", "sso"], {"ANTHROPIC_API_KEY": "e"}, None, "sso from memory"),
        (["key", "sso"], {}, "api-key", "api-key from memory"),
        (["sso"], {"ANTHROPIC_API_KEY": "e"}, "api-key", "api-key from env ANTHROPIC_API_KEY"),
        (["sso"], {}, "sso", "sso from memory"),
    ],
)
def test_precedence(
    stored: list[str], env: dict[str, str], forced: AuthMode | None, expected: str
) -> None:
    store = MemoryStore()
    if "key" in stored:
        store.put(stored_key("anthropic", "stored-key"))
    if "sso" in stored:
        store.put(stored_sso("anthropic"))
    source = resolver(store, env).source("anthropic", mode=forced)
    assert described(source) == expected


def test_plan_names_the_winner_and_what_it_shadows() -> None:
    """C20: env and stored both present: stored wins, env is reported as shadowed."""
    store = MemoryStore()
    store.put(stored_key("openai", "stored"))
    plan = resolver(store, {"OPENAI_API_KEY": "from-env"}).plan("openai")
    assert plan.chosen is not None and plan.chosen.where == "stored API key (memory)"
    assert [c.where for c in plan.shadowed] == ["env OPENAI_API_KEY"]


def test_nothing_found_lists_every_place_and_the_fix() -> None:
    with pytest.raises(CredentialError) as caught:
        resolver(MemoryStore()).source("gemini")
    message = caught.value.one_line()
    for place in (
        "stored sign-in (memory): none",
        "stored API key (memory): none",
        "env GEMINI_API_KEY: not set",
        "env GOOGLE_API_KEY: not set",
    ):
        assert place in message
    assert "rupu auth login --provider gemini --mode api-key" in message
    assert caught.value.exit_code == 4


def test_forced_sso_without_a_sign_in_says_how_to_sign_in() -> None:
    store = MemoryStore()
    store.put(stored_key("openai", "k"))
    with pytest.raises(CredentialError) as caught:
        resolver(store, {"OPENAI_API_KEY": "e"}).source("openai", mode="sso")
    assert "rupu auth login --provider openai --mode sso" in caught.value.one_line()


def test_copilot_and_gemini_env_fallbacks_in_order() -> None:
    env = {"GH_TOKEN": "gh", "GITHUB_TOKEN": "github"}
    assert described(resolver(MemoryStore(), env).source("copilot")) == "api-key from env GH_TOKEN"
    env = {"GOOGLE_API_KEY": "g"}
    assert (
        described(resolver(MemoryStore(), env).source("gemini"))
        == "api-key from env GOOGLE_API_KEY"
    )


def test_declared_provider_reads_rupu_name_api_key(workspace: Workspace) -> None:
    loaded = config(workspace, '[providers.my-vllm]\nbase_url = "http://127.0.0.1:1/v1"\n')
    source = resolver(MemoryStore(), {"RUPU_MY_VLLM_API_KEY": "v"}, loaded).source("my-vllm")
    assert described(source) == "api-key from env RUPU_MY_VLLM_API_KEY"
    with pytest.raises(UsageError, match="no sign-in"):
        resolver(MemoryStore(), {}, loaded).source("my-vllm", mode="sso")


@pytest.mark.anyio
async def test_config_api_key_literal_command_and_env_name(
    workspace: Workspace, tmp_path: Path
) -> None:
    counter = tmp_path / "ran"
    loaded = config(
        workspace,
        '[providers.a]\nbase_url = "http://127.0.0.1:1"\napi_key = "literal-key"\n'
        f'[providers.b]\nbase_url = "http://127.0.0.1:1"\napi_key = "!echo run >> {counter}; printf cmd-key"\n'
        '[providers.c]\nbase_url = "http://127.0.0.1:1"\napi_key = "$C_KEY_VAR"\n'
        '[providers.d]\nbase_url = "http://127.0.0.1:1"\napi_key = "D_KEY_VAR"\n',
    )
    env = {"C_KEY_VAR": "c-key", "D_KEY_VAR": "d-key", "RUPU_A_API_KEY": "shadowed"}
    r = resolver(MemoryStore(), env, loaded)
    values = {}
    for name in "abcd":
        values[name] = (await credential_of(r.source(name))).secret.reveal()
    assert values == {"a": "literal-key", "b": "cmd-key", "c": "c-key", "d": "d-key"}
    await credential_of(r.source("b"))
    assert counter.read_text() == "run\n"  # cached for the process
    assert "!command" in described(r.source("b")) and "echo" not in described(r.source("b"))
    plan = r.plan("a")
    assert plan.chosen is not None and plan.chosen.kind == "config-key"
    assert [c.where for c in plan.shadowed] == ["env RUPU_A_API_KEY"]


def test_stored_key_may_be_a_reference() -> None:
    store = MemoryStore()
    store.put(stored_key("openai", "$MY_OPENAI"))
    source = resolver(store, {"MY_OPENAI": "sk-from-var"}).source("openai")
    assert described(source) == "api-key from env MY_OPENAI (memory)"
    with pytest.raises(CredentialError, match="MY_OPENAI, which is not set"):
        resolver(store, {}).source("openai")


def test_failing_key_command_reports_status_not_output() -> None:
    store = MemoryStore()
    store.put(stored_key("openai", "!echo sk-LEAKED-OUTPUT; exit 3"))
    with pytest.raises(CredentialError) as caught:
        resolver(store).source("openai")
    assert "exit status 3" in caught.value.one_line()
    assert "sk-LEAKED" not in caught.value.one_line()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sk-ant-api03-abc", KeyRef("literal")),
        ("!pass show x", KeyRef("command", "pass show x")),
        ("$FOO", KeyRef("env", "FOO")),
        ("${FOO_BAR}", KeyRef("env", "FOO_BAR")),
        ("OPENAI_API_KEY_PROD", KeyRef("env", "OPENAI_API_KEY_PROD")),
        ("ABCDEF", KeyRef("literal")),
        ("!", KeyRef("literal")),
    ],
)
def test_key_reference_forms(text: str, expected: KeyRef) -> None:
    assert parse_key_ref(text) == expected


def test_failed_sign_in_blocks_instead_of_falling_back_to_a_key() -> None:
    """A sign-in whose refresh failed is an error, even with an API key stored."""
    store = MemoryStore()
    store.put(stored_key("openai", "k"))
    store.put(stored_sso("openai", error="invalid_grant"))
    with pytest.raises(CredentialError) as caught:
        resolver(store, {"OPENAI_API_KEY": "e"}).source("openai")
    message = caught.value.one_line()
    assert (
        "does not fall back" in message
        and "rupu auth login --provider openai --mode sso" in message
    )
    assert described(resolver(store).source("openai", mode="api-key")) == "api-key from memory"


def test_expired_sign_in_without_refresh_token_is_not_refreshable() -> None:
    store = MemoryStore()
    store.put(stored_sso("openai", left=-10, refresh=None))
    store.put(stored_key("openai", "k"))
    plan = resolver(store).plan("openai")
    assert plan.candidates[0].note == "expired, no refresh token"
    assert described(resolver(store).source("openai")) == "api-key from memory"


def test_sso_source_refreshes_and_headless_anthropic_warns(tmp_path: Path) -> None:
    store = MemoryStore()
    store.put(stored_sso("anthropic"))
    store.put(stored_sso("openai"))
    warnings: list[str] = []
    headless = resolver(store, interactive=False, warnings=warnings, tmp=tmp_path)
    assert isinstance(headless.source("anthropic"), SsoCredentialSource)
    assert warnings == [HEADLESS_WARNING]
    headless.source("openai")
    resolver(store, interactive=True, warnings=warnings, tmp=tmp_path).source("anthropic")
    assert warnings == [HEADLESS_WARNING]
