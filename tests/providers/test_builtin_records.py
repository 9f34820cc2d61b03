"""The built-in providers' records (`rupu/config/builtins.toml`) are the one place their facts live:
every record names a wire kind rupu can build, and the tables derived from them agree with the
sign-in endpoints and the model lists."""

from __future__ import annotations

from rupu.auth.oauth.endpoints import DEFAULTS as OAUTH_PROFILES
from rupu.auth.resolver import BUILTIN_KEY_VARS, SSO_PROVIDERS
from rupu.catalog.catalog import KIND_PRICE_SOURCE
from rupu.config import BUILTIN_PROVIDERS, ProviderConfig
from rupu.config.builtins import builtin_providers
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
