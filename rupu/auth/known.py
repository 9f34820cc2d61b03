"""Every secret value this process knows about, for masking tool output and scrubbing the
environment of the commands the model runs.

Credentials (values rupu uses, or could use, to authenticate):
- the environment variables rupu reads keys from: each built-in provider's, each preset's, and
  `RUPU_<NAME>_API_KEY` of each configured provider; the sign-in tokens it takes from the
  environment (`CHATGPT_OAUTH_TOKEN`, ...) and the passphrase of the encrypted credential file;
- every `api_key` (and any other setting with a secret name, such as `client_secret` or an
  `Authorization` header) in each config file read, resolved: a literal as written, `$VAR` as the
  variable's value, `!command` as what the command printed once it has run;
- every entry of the credential store (access and refresh tokens, keys; keys written as `$VAR` or
  `!command` resolved the same way).

Other secrets: the value of every environment variable whose name says it holds one (`*_TOKEN`,
`*_PASSWORD`, ...). These are masked too, but a variable holding one may still be passed to commands
with `env_passthrough`.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rupu.auth.encrypted_store import PASSPHRASE_ENV
from rupu.auth.env_tokens import ENV_TOKEN_VARS
from rupu.auth.keyref import command_results, parse_key_ref
from rupu.auth.resolver import BUILTIN_KEY_VARS, custom_key_var
from rupu.config.presets import load_presets
from rupu.errors import RupuError
from rupu.redact import SecretValues, looks_secret_name

if TYPE_CHECKING:
    from rupu.auth.stored import CredentialStore, StoredCredential
    from rupu.config import LoadedConfig

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
SECRET_SETTINGS = frozenset({"api_key", "client_secret", "refresh_token", "access_token"})


def provider_key_vars(config: LoadedConfig | None) -> tuple[str, ...]:
    """Every environment variable rupu may read a provider key from."""
    names: list[str] = [var for group in BUILTIN_KEY_VARS.values() for var in group]
    names.extend(ENV_TOKEN_VARS.values())
    names.append(PASSPHRASE_ENV)
    for preset in load_presets().values():
        names.extend(preset.key_env)
    if config is not None:
        names.extend(custom_key_var(name) for name in config.config.providers)
    return tuple(dict.fromkeys(names))


class KnownSecrets:
    """Call it for the current `SecretValues`. `load()` reads the config files and the credential
    store once (blocking: call it in a thread); later calls only add the keys `!command`s printed
    since, so a key command run after the tools were opened is masked too."""

    def __init__(
        self,
        env: Mapping[str, str],
        config: LoadedConfig | None = None,
        *,
        store: CredentialStore | None = None,
    ) -> None:
        self.env = env
        self.config = config
        self.store = store
        self._lock = threading.Lock()
        self._base: SecretValues | None = None
        self._commands: tuple[str, ...] = ()
        self._current = SecretValues()

    def load(self) -> None:
        with self._lock:
            if self._base is not None:
                return
            credentials = set(self._environment_credentials())
            credentials.update(self._config_credentials())
            credentials.update(self._stored_credentials())
            others = {
                value.strip()
                for name, value in self.env.items()
                if value.strip() and _secret_setting(name, value) and not _is_path(value.strip())
            }
            self._base = SecretValues(frozenset(credentials), frozenset(others - credentials))
            self._refresh()

    def __call__(self) -> SecretValues:
        if self._base is None:
            self.load()
        with self._lock:
            if command_results() != self._commands:
                self._refresh()
            return self._current

    def _refresh(self) -> None:
        assert self._base is not None
        self._commands = command_results()
        self._current = SecretValues(
            self._base.credentials | frozenset(self._commands), self._base.others
        )

    def _environment_credentials(self) -> Iterator[str]:
        for var in provider_key_vars(self.config):
            value = self.env.get(var, "").strip()
            if value:
                yield value

    def _config_credentials(self) -> Iterator[str]:
        """From the merged config, and from each file (a key the project file overrides is still
        written in the global one)."""
        if self.config is None:
            return
        layers: list[Any] = [
            self.config.config.model_dump(mode="python"),
            *self.config.layers.values(),
        ]
        for layer in layers:
            for value in _secret_settings(layer):
                yield from self._resolved(value)

    def _stored_credentials(self) -> Iterator[str]:
        if self.store is None:
            return
        stored: list[StoredCredential] = []
        with contextlib.suppress(RupuError, OSError):
            # the keychain part reads the entries rupu recorded storing (it cannot list them)
            stored = self.store.list()
        for credential in stored:
            secret = credential.secret.get_secret_value()
            if credential.mode == "sso":  # a token as issued, never a reference
                yield secret
            else:
                yield from self._resolved(secret)
            if credential.refresh_token is not None:
                yield credential.refresh_token.get_secret_value()

    def _resolved(self, written: str) -> Iterator[str]:
        """The secret a setting stands for, when it can be known without running anything."""
        ref = parse_key_ref(written)
        if ref.form == "literal":
            variables = _VARIABLE.findall(written)
            if variables:  # a template such as "Bearer ${TOKEN}": the variables are the secrets
                yield from filter(None, (self.env.get(v, "").strip() for v in variables))
            elif written.strip():
                yield written.strip()
        elif ref.form == "env":
            value = self.env.get(ref.text, "").strip()
            if value:
                yield value
        # a `!command` result is added by __call__ once the command has run


def _secret_settings(data: Any, name: str = "") -> Iterable[str]:
    """String values of settings whose names say they hold secrets, anywhere in a config file
    (a header's or an MCP server's environment variable's name counts too)."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _secret_settings(value, str(key))
    elif isinstance(data, list):
        for item in data:
            yield from _secret_settings(item, name)
    elif isinstance(data, str) and _secret_setting(name, data):
        yield data


def _secret_setting(name: str, value: str) -> bool:
    lowered = name.lower()
    if lowered.endswith("url") or value.startswith(("http://", "https://")):
        return False  # token_url, token_exchange_url: where tokens come from
    return lowered in SECRET_SETTINGS or looks_secret_name(name)


def _is_path(value: str) -> bool:
    """`SECRETS_DIR=/run/secrets` names where secrets are, which is not one."""
    if not value.startswith(("/", "~/")):
        return False
    with contextlib.suppress(OSError, ValueError):
        return Path(value).expanduser().exists()
    return False
