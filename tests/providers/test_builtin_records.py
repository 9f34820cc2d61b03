"""The built-in providers' records (`rupu/config/builtins.toml`) are the one place their facts live:
every record names a wire kind rupu can build, and the tables derived from them agree with the
sign-in endpoints and the model lists."""

from __future__ import annotations

from typing import get_args

from rupu.auth.oauth.endpoints import DEFAULTS as OAUTH_PROFILES
from rupu.auth.resolver import BUILTIN_KEY_VARS, SSO_PROVIDERS
from rupu.catalog.catalog import KIND_PRICE_SOURCE
from rupu.config import BUILTIN_PROVIDERS, ProviderConfig, ProviderKind
from rupu.config.builtins import builtin_providers, credential_headers
from rupu.modeldata.schema import load_baked
from rupu.providers.http import HttpSettings
from rupu.providers.registry import BUILTIN_KINDS, FACTORIES, KEYLESS_KINDS, needs_credential


def test_every_record_names_a_buildable_kind_and_a_declarable_dialect() -> None:
    records = builtin_providers()
    assert tuple(records) == BUILTIN_PROVIDERS
    for name, record in records.items():
        assert BUILTIN_KINDS[name] == record.kind
        assert record.kind in FACTORIES
        if record.dialect is not None:
            assert record.dialect in FACTORIES
            assert KIND_PRICE_SOURCE[record.dialect] == name


def test_credentials_follow_the_records() -> None:
    for name, record in builtin_providers().items():
        assert BUILTIN_KEY_VARS.get(name, ()) == tuple(record.key_env)
        assert (name in SSO_PROVIDERS) is record.sign_in
        assert (name in OAUTH_PROFILES) is record.sign_in
        assert needs_credential(record.kind, ProviderConfig()) is not record.keyless
        assert (record.kind in KEYLESS_KINDS) is record.keyless


def test_a_default_model_is_one_of_the_providers_baked_models() -> None:
    for name, record in builtin_providers().items():
        if record.default_model is not None:
            baked = load_baked(name)
            assert baked is not None
            assert record.default_model in {m.id for m in baked.models}


def test_the_declarable_kinds_are_the_records_dialects_plus_the_generic_ones() -> None:
    """`ProviderKind` stays a Literal (pydantic and mypy read it), so it is checked, not derived."""
    dialects = {r.dialect for r in builtin_providers().values() if r.dialect is not None}
    assert set(get_args(ProviderKind)) == dialects | {"openai-compatible", "claude-code"}


def test_a_key_header_is_one_the_endpoint_options_can_move() -> None:
    """`auth_header` moves a key out of whichever header its dialect's record named."""
    moved = HttpSettings(auth_header="api-key")
    for record in builtin_providers().values():
        header, value = record.key_auth("k")
        assert header in credential_headers()
        assert moved.apply({header: value, "accept": "*/*"}) == {"accept": "*/*", "api-key": "k"}
