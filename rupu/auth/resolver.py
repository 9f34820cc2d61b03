"""Picks the credential a provider gets.

Precedence, first found wins:

1. an agent's or step's `auth:` (or `rupu run --auth`) forces the mode: `sso` looks only at the
   stored sign-in, `api-key` skips it;
2. the stored sign-in (SSO), when present and refreshable (a sign-in whose refresh already failed
   is an error here, never a silent switch to an API key); then a sign-in token from the
   environment (`CHATGPT_OAUTH_TOKEN`, `ANTHROPIC_OAUTH_TOKEN`, `GEMINI_OAUTH_TOKEN`, ...; see
   `rupu.auth.env_tokens`), used as is and an error once its JWT expiry has passed;
3. the stored API key;
4. `api_key` in `[providers.<name>]` of config.toml;
5. the environment: `ANTHROPIC_API_KEY`, `OPENAI_API_KEY`, `GEMINI_API_KEY`/`GOOGLE_API_KEY`,
   `COPILOT_GITHUB_TOKEN`/`GH_TOKEN`/`GITHUB_TOKEN`, and `RUPU_<NAME>_API_KEY` for
   config-declared providers.

Stored and configured keys may be `!command` or an environment variable's name (`rupu.auth.keyref`).
`plan()` answers without side effects (for `rupu auth status`); `source()` also runs key commands
and builds the refreshing source. Both block (store reads); async code calls them in a thread.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from rupu.auth.aws import aws_source, uses_aws_chain
from rupu.auth.credentials import AuthMode, Credential, CredentialSource, FixedCredential, Secret
from rupu.auth.env_tokens import EnvTokenSource, expired_error, read_env_token
from rupu.auth.files import StoreError
from rupu.auth.keyref import KeyRef, parse_key_ref, resolve_key_ref
from rupu.auth.refresh import REFRESH_WINDOW, login_hint
from rupu.auth.stored import CredentialStore, StoredCredential
from rupu.clock import SYSTEM_CLOCK, Clock
from rupu.config import LoadedConfig, ProviderConfig
from rupu.config.builtins import builtin_providers
from rupu.config.presets import preset_key_vars
from rupu.errors import CredentialError, UsageError

if TYPE_CHECKING:
    from rupu.paths import Paths

BUILTIN_KEY_VARS: dict[str, tuple[str, ...]] = {
    name: tuple(record.key_env) for name, record in builtin_providers().items() if record.key_env
}
SSO_PROVIDERS = tuple(name for name, record in builtin_providers().items() if record.sign_in)
SIGN_IN_ONLY = tuple(name for name, record in builtin_providers().items() if record.sign_in_only)
HEADLESS_WARNING = (
    "warning: this non-interactive run uses a Claude subscription sign-in; Anthropic's consumer "
    "terms cover interactive use, so prefer an API key for automation "
    "(rupu auth login --provider anthropic --mode api-key)"
)

CandidateKind = Literal["stored-sso", "env-sso", "stored-key", "config-key", "env"]
_warned_headless: set[Callable[[str], None]] = set()
_warned_lock = threading.Lock()


def custom_key_var(provider: str) -> str:
    """`RUPU_<NAME>_API_KEY`, the name upper-cased with every non-alphanumeric as `_`."""
    cleaned = "".join(ch if ch.isalnum() else "_" for ch in provider.upper())
    return f"RUPU_{cleaned}_API_KEY"


def key_vars(provider: str) -> tuple[str, ...]:
    if provider in BUILTIN_KEY_VARS:
        return BUILTIN_KEY_VARS[provider]

    return (*preset_key_vars(provider), custom_key_var(provider))


def supports_sso(provider: str) -> bool:
    return provider in SSO_PROVIDERS


@dataclass(frozen=True, slots=True)
class Candidate:
    """One place a credential may come from. `where` is what users read; `note` says why it is not
    usable or how long it lasts."""

    kind: CandidateKind
    mode: AuthMode
    where: str
    found: bool
    note: str = ""
    stored: StoredCredential | None = None
    ref: KeyRef | None = None
    value: str = ""

    def __repr__(self) -> str:
        return f"Candidate({self.kind!r}, {self.where!r}, found={self.found})"


@dataclass(frozen=True, slots=True)
class Plan:
    provider: str
    forced: AuthMode | None
    candidates: tuple[Candidate, ...]
    chosen: Candidate | None
    blocked: CredentialError | None = None
    store_error: StoreError | None = None

    @property
    def shadowed(self) -> tuple[Candidate, ...]:
        if self.chosen is None:
            return ()
        index = self.candidates.index(self.chosen)
        return tuple(c for c in self.candidates[index + 1 :] if c.found)


@dataclass
class CredentialResolver:
    env: Mapping[str, str]
    store: CredentialStore | None = None
    config: LoadedConfig | None = None
    interactive: bool = True
    warn: Callable[[str], None] | None = None
    clock: Clock = SYSTEM_CLOCK
    lock_dir: Path | None = None

    @classmethod
    def from_environment(
        cls,
        paths: Paths,
        env: Mapping[str, str],
        config: LoadedConfig | None = None,
        *,
        warn: Callable[[str], None] | None = None,
    ) -> CredentialResolver:
        """The resolver commands use: the configured store under RUPU_HOME, warnings on stderr."""
        # lazy: keyring takes ~0.1 s to import; commands that never read a stored key skip it
        from rupu.auth.store import AuthStorage

        say = warn or _stderr
        storage = AuthStorage(paths.home, env=env, notice=say)
        return cls(
            env,
            store=storage,
            config=config,
            interactive=sys.stdin.isatty(),
            warn=say,
            lock_dir=storage.lock_dir,
        )

    # -- planning -----------------------------------------------------------------------------------
    def plan(self, provider: str, *, mode: AuthMode | None = None) -> Plan:
        candidates: list[Candidate] = []
        store_error: StoreError | None = None
        label = self.store.label if self.store is not None else "store"
        modes: tuple[AuthMode, ...] = (mode,) if mode else ("sso", "api-key")
        if provider in SIGN_IN_ONLY:
            modes = ("sso",)
        if "sso" in modes and supports_sso(provider):
            try:
                candidates.append(self._stored_sso(provider, label))
            except StoreError as exc:
                store_error = exc
            candidates.extend(self._env_sso(provider))
        if "api-key" in modes:
            try:
                candidates.append(self._stored_key(provider, label))
            except StoreError as exc:
                store_error = store_error or exc
            candidates.extend(self._configured(provider))
            candidates.extend(self._environment(provider))
        chosen = next((c for c in candidates if c.found), None)
        blocked = None
        if chosen is not None and chosen.kind == "stored-sso" and chosen.stored is not None:
            error = chosen.stored.refresh_error
            if error:
                blocked = CredentialError(
                    provider,
                    f"the stored sign-in can no longer be refreshed ({error}); rupu does not fall "
                    "back to an API key",
                    hint=login_hint(provider)
                    + f", or remove it (rupu auth logout --provider {provider} --mode sso)",
                )
        if chosen is not None and chosen.kind == "env-sso":
            token = read_env_token(provider, self.env)
            if token is not None and token.expired(self.clock.time()):
                blocked = expired_error(token)
        return Plan(provider, mode, tuple(candidates), chosen, blocked, store_error)

    def _stored_sso(self, provider: str, label: str) -> Candidate:
        where = f"stored sign-in ({label})"
        stored = self.store.get(provider, "sso") if self.store is not None else None
        if stored is None:
            return Candidate("stored-sso", "sso", where, False, "none")
        now = self.clock.time()
        expired = stored.expires_at is not None and stored.expires_at <= now
        if stored.refresh_error:
            return Candidate(
                "stored-sso", "sso", where, True, f"refresh failed ({stored.refresh_error})", stored
            )
        if expired and stored.refresh_token is None:
            return Candidate("stored-sso", "sso", where, False, "expired, no refresh token", stored)
        return Candidate("stored-sso", "sso", where, True, expiry_note(stored, now), stored)

    def _env_sso(self, provider: str) -> list[Candidate]:
        """A sign-in token from the environment, listed only when its variable is set."""
        token = read_env_token(provider, self.env)
        if token is None:
            return []
        note = token.note(self.clock.time())
        return [Candidate("env-sso", "sso", token.where, True, note, value=token.secret.reveal())]

    def _stored_key(self, provider: str, label: str) -> Candidate:
        where = f"stored API key ({label})"
        stored = self.store.get(provider, "api-key") if self.store is not None else None
        if stored is None:
            return Candidate("stored-key", "api-key", where, False, "none")
        ref = parse_key_ref(stored.secret.get_secret_value())
        note = "" if ref.form == "literal" else ref.describe()
        return Candidate("stored-key", "api-key", where, True, note, stored, ref)

    def _configured(self, provider: str) -> list[Candidate]:
        if self.config is None:
            return []
        value = self.config.provider(provider).api_key
        where = f"config {self.config.provider_location(provider)} api_key"
        if not value:
            return []
        ref = parse_key_ref(value)
        if ref.form == "env" and not self.env.get(ref.text, "").strip():
            return [
                Candidate(
                    "config-key", "api-key", where, False, f"{ref.describe()} not set", ref=ref
                )
            ]
        note = "" if ref.form == "literal" else ref.describe()
        return [Candidate("config-key", "api-key", where, True, note, ref=ref, value=value)]

    def _environment(self, provider: str) -> list[Candidate]:
        found = []
        for var in key_vars(provider):
            value = self.env.get(var, "").strip()
            found.append(
                Candidate(
                    "env",
                    "api-key",
                    f"env {var}",
                    bool(value),
                    "" if value else "not set",
                    value=value,
                )
            )
        return found

    # -- resolving ----------------------------------------------------------------------------------
    def source(self, provider: str, *, mode: AuthMode | None = None) -> CredentialSource:
        """The credential source for `provider`, or a `CredentialError` naming every place looked
        and the command that fixes it."""
        if uses_aws_chain(provider, self.config):
            config = self.config.provider(provider) if self.config else ProviderConfig()
            return aws_source(provider, config, self.env)
        if mode == "sso" and not supports_sso(provider):
            raise UsageError(  # asking for what does not exist is a usage error, not a credential one
                f"{provider}: this provider has no sign-in (SSO); it takes an API key",
                field="auth",
                hint=f"drop `auth: sso`, then run `rupu auth login --provider {provider} --mode api-key`",
            )
        if mode == "api-key" and provider in SIGN_IN_ONLY:
            raise UsageError(
                f"{provider}: this provider takes only a sign-in (SSO), not an API key",
                field="auth",
                hint=f"drop `auth: api-key`, then run `rupu auth login --provider {provider} --mode sso`",
            )
        plan = self.plan(provider, mode=mode)
        if plan.blocked is not None:
            raise plan.blocked
        chosen = plan.chosen
        if chosen is None:
            if plan.store_error is not None:
                raise plan.store_error
            raise self._nothing_found(plan)
        if plan.store_error is not None and self.warn is not None:
            self.warn(f"warning: {plan.store_error.one_line()}; using {chosen.where}")
        if chosen.mode == "sso" and provider == "anthropic":
            self._warn_headless()
        if chosen.kind == "stored-sso":
            assert chosen.stored is not None
            return self._sso_source(chosen.stored)
        if chosen.kind == "env-sso":
            token = read_env_token(provider, self.env)
            assert token is not None
            return EnvTokenSource(token, clock=self.clock)
        return FixedCredential(self._key_credential(provider, chosen))

    def _warn_headless(self) -> None:
        if self.interactive or self.warn is None:
            return
        with _warned_lock:
            first = self.warn not in _warned_headless
            _warned_headless.add(self.warn)
        if first:  # once per process (and per warning sink), not once per step
            self.warn(HEADLESS_WARNING)

    def _key_credential(self, provider: str, chosen: Candidate) -> Credential:
        if chosen.kind == "env":
            return Credential(provider, "api-key", Secret(chosen.value), source=chosen.where)
        if chosen.kind == "stored-key":
            assert chosen.stored is not None and chosen.ref is not None
            raw = chosen.stored.secret.get_secret_value()
            label = self.store.label if self.store is not None else "store"
            source = label if chosen.ref.form == "literal" else f"{chosen.ref.describe()} ({label})"
            value = resolve_key_ref(provider, chosen.ref, raw, self.env, where=chosen.where)
            return Credential(provider, "api-key", Secret(value), source=source)
        assert chosen.ref is not None
        value = resolve_key_ref(provider, chosen.ref, chosen.value, self.env, where=chosen.where)
        source = chosen.where.removesuffix(" api_key") + (
            "" if chosen.ref.form == "literal" else f" ({chosen.ref.describe()})"
        )
        return Credential(provider, "api-key", Secret(value), source=source)

    def _sso_source(self, stored: StoredCredential) -> CredentialSource:
        # lazy: only a stored sign-in needs the OAuth client and its refresh machinery
        from rupu.auth.oauth.endpoints import oauth_profile
        from rupu.auth.oauth.tokens import TokenClient
        from rupu.auth.refresh import SsoCredentialSource

        assert self.store is not None
        overrides = self.config.provider(stored.provider).oauth if self.config else None
        lock_dir = self.lock_dir or getattr(self.store, "lock_dir", None)
        if lock_dir is None:
            raise CredentialError(stored.provider, "no lock directory for refreshing the sign-in")
        return SsoCredentialSource(
            stored,
            store=self.store,
            refresher=TokenClient(oauth_profile(stored.provider, overrides)),
            lock_dir=lock_dir,
            where=self.store.label,
            clock=self.clock,
        )

    def _nothing_found(self, plan: Plan) -> CredentialError:
        provider = plan.provider
        looked = "; ".join(f"{c.where}: {c.note or 'none'}" for c in plan.candidates)
        key_login = f"rupu auth login --provider {provider} --mode api-key"
        env = " or ".join(key_vars(provider))
        if plan.forced == "sso" or provider in SIGN_IN_ONLY:
            hint = f"run `rupu auth login --provider {provider} --mode sso`"
        elif supports_sso(provider):
            hint = f"run `{key_login}` (or `--mode sso` to sign in), or set {env}"
        else:
            hint = f"run `{key_login}`, or set {env}"
        forced = f" for auth: {plan.forced}" if plan.forced else ""
        return CredentialError(
            provider, f"no credential found{forced} (looked in: {looked})", hint=hint
        )


def expiry_note(stored: StoredCredential, now: float) -> str:
    if stored.expires_at is None:
        return "no expiry"
    left = stored.expires_at - now
    if left <= 0:
        return "expired, refreshes on next use"
    if left < REFRESH_WINDOW:
        return f"expires in {left:.0f}s, refreshes on next use"
    return f"expires in {format_duration(left)}"


def format_duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds >= 86400:
        return f"{seconds // 86400}d{(seconds % 86400) // 3600}h"
    if seconds >= 3600:
        return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m"
    return f"{seconds}s"


def _stderr(message: str) -> None:
    sys.stderr.write(f"rupu: {message}\n")
    sys.stderr.flush()
