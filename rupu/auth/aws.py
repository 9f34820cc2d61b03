"""AWS credentials for providers whose record says `credentials = "aws"` (Amazon Bedrock): the
standard AWS chain, run by botocore (the optional extra `rupu[aws]`), never re-implemented here.

The chain, first found wins (botocore's order): environment keys and session token, an assume-role
profile, web identity (`AWS_WEB_IDENTITY_TOKEN_FILE`, IRSA), the SSO cache of `aws sso login`, the
shared credentials file, the config file, `credential_process`, container credentials
(`AWS_CONTAINER_CREDENTIALS_*`) and instance metadata. The profile is `profile` in the provider's
table, else `AWS_PROFILE`; the region is `region` in the table, else `AWS_REGION`, else
`AWS_DEFAULT_REGION` or the profile's `region`. botocore reads the process environment itself and
honours its own endpoint settings (`AWS_ENDPOINT_URL_STS`, `AWS_ENDPOINT_URL_SSO`, ...).

Refreshable credentials (SSO, web identity, container) refresh inside botocore, under its lock, when
their expiry comes close; `get()` runs the blocking chain in a worker thread. What users see of a
credential is the link that answered (botocore's `method`), never a key.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from rupu.auth.credentials import Credential, Secret
from rupu.config import LoadedConfig, ProviderConfig
from rupu.config.builtins import builtin_providers
from rupu.errors import ConfigError, CredentialError

if TYPE_CHECKING:
    from botocore.credentials import Credentials
    from botocore.session import Session

T = TypeVar("T")
INSTALL_HINT = "install the AWS extra: pip install 'rupu[aws]' (or uv tool install 'rupu[aws]')"
AWS_KINDS = frozenset(r.kind for r in builtin_providers().values() if r.credentials == "aws")
# botocore's credential `method` names, in words.
METHODS: dict[str, str] = {
    "env": "environment (AWS_ACCESS_KEY_ID)",
    "assume-role": "assume-role profile",
    "assume-role-with-web-identity": "web identity (AWS_WEB_IDENTITY_TOKEN_FILE)",
    "sso": "SSO cache (aws sso login)",
    "shared-credentials-file": "shared credentials file",
    "config-file": "config file",
    "custom-process": "credential_process",
    "container-role": "container credentials (AWS_CONTAINER_CREDENTIALS_*)",
    "iam-role": "instance metadata",
}
NO_CREDENTIALS_HINT = (
    "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, name a profile (`profile =` in "
    "[providers.bedrock] or AWS_PROFILE), or run `aws sso login`"
)


def uses_aws_chain(provider: str, loaded: LoadedConfig | None) -> bool:
    """Whether `provider` (built in, or declared with an AWS kind) takes AWS credentials."""
    record = builtin_providers().get(provider)
    if record is not None:
        return record.credentials == "aws"
    declared = loaded.config.providers.get(provider) if loaded is not None else None
    return declared is not None and declared.kind in AWS_KINDS


def require_botocore(provider: str) -> None:
    """A `ConfigError` (exit 2) naming the install line when the `aws` extra is missing."""
    try:
        import botocore  # noqa: F401  # lazy: the optional `aws` extra, checked where it is needed
    except ImportError:
        raise ConfigError(
            f"provider '{provider}' needs botocore for AWS credentials and signing, and it is "
            "not installed",
            field="provider",
            hint=INSTALL_HINT,
        ) from None


@dataclass(frozen=True, slots=True)
class AwsCredential(Credential):
    """A frozen set of AWS keys: `secret` is the secret access key; `region` is where requests go."""

    access_key: str = field(default="", repr=False)
    session_token: Secret | None = None
    region: str = ""
    method: str = ""

    def describe(self) -> str:
        return f"aws credentials from {self.source}"


def method_words(method: str, profile: str | None) -> str:
    """`config-file` -> `config file (profile dev) [config-file]`: words, profile, botocore's name."""
    words = METHODS.get(method, method)
    if profile and method in {
        "assume-role",
        "sso",
        "shared-credentials-file",
        "config-file",
        "custom-process",
    }:
        words = f"{words}, profile {profile}"
    return f"{words} [{method}]"


class AwsChain:
    """One botocore session for one provider, built on first use; `resolve` blocks (files, HTTP)."""

    def __init__(self, provider: str, config: ProviderConfig, env: Mapping[str, str]) -> None:
        self.provider = provider
        self.profile = config.profile or env.get("AWS_PROFILE", "").strip() or None
        # botocore itself reads only AWS_DEFAULT_REGION and the profile's region
        self._region = config.region or env.get("AWS_REGION", "").strip() or None
        self._configured_profile = config.profile
        self._session: Session | None = None
        self._credentials: Credentials | None = None
        self._lock = threading.Lock()

    def session(self) -> Session:
        if self._session is None:
            require_botocore(self.provider)
            import botocore.session  # lazy: botocore is the optional `aws` extra

            self._session = botocore.session.Session(profile=self._configured_profile)
        return self._session

    def region(self) -> str:
        region = self._region or self._botocore(
            lambda: self.session().get_config_variable("region")
        )
        if not region:
            raise ConfigError(
                f"provider '{self.provider}' has no AWS region",
                field=f"providers.{self.provider}.region",
                hint=f"set region in [providers.{self.provider}], AWS_REGION, or region in the "
                "AWS profile",
            )
        return str(region)

    def credentials(self, *, force_refresh: bool = False) -> Credentials:
        """botocore's credentials object (refreshing itself), found once per provider."""
        with self._lock:
            if force_refresh:  # a new session: botocore's keeps what it found first
                self._session = None
            if self._credentials is None or force_refresh:
                found = self._botocore(lambda: self.session().get_credentials())
                if found is None:
                    raise CredentialError(
                        self.provider,
                        "no AWS credentials found (looked in: environment, profiles in the shared "
                        "config and credentials files, SSO cache, container credentials, web "
                        "identity, instance metadata)",
                        hint=NO_CREDENTIALS_HINT,
                    )
                self._credentials = found
            return self._credentials

    def resolve(self, *, force_refresh: bool = False) -> AwsCredential:
        found = self.credentials(force_refresh=force_refresh)
        frozen = self._botocore(found.get_frozen_credentials)
        method = str(found.method)
        if not frozen.access_key or not frozen.secret_key:
            raise CredentialError(
                self.provider,
                f"the AWS credentials from {method_words(method, self.profile)} are incomplete",
                hint=NO_CREDENTIALS_HINT,
            )
        return AwsCredential(
            self.provider,
            "api-key",
            Secret(frozen.secret_key),
            source=method_words(method, self.profile),
            access_key=frozen.access_key,
            session_token=Secret(frozen.token) if frozen.token else None,
            region=self.region(),
            method=method,
        )

    def _botocore(self, call: Callable[[], T]) -> T:
        """`call()` with botocore's failures as one-line `CredentialError`s."""
        from botocore.exceptions import BotoCoreError, ClientError  # lazy: the `aws` extra

        try:
            return call()
        except ClientError as exc:  # STS or the SSO portal refused
            error = exc.response.get("Error", {})
            raise CredentialError(
                self.provider,
                f"AWS refused the credentials: {error.get('Code', '?')}: "
                f"{error.get('Message', '')}".rstrip(": "),
                hint=NO_CREDENTIALS_HINT,
            ) from None
        except BotoCoreError as exc:
            raise CredentialError(
                self.provider, f"AWS credential chain failed: {exc}", hint=NO_CREDENTIALS_HINT
            ) from None


@dataclass
class AwsCredentialSource:
    """A `CredentialSource` over an `AwsChain`; each `get` hands out botocore's current keys."""

    chain: AwsChain

    async def get(self, *, force_refresh: bool = False) -> Credential:
        import anyio  # lazy: anyio loads with the first request

        return await anyio.to_thread.run_sync(
            lambda: self.chain.resolve(force_refresh=force_refresh)
        )


def aws_source(
    provider: str, config: ProviderConfig, env: Mapping[str, str]
) -> AwsCredentialSource:
    require_botocore(provider)
    return AwsCredentialSource(AwsChain(provider, config, env))


def chain_status(
    provider: str, config: ProviderConfig, env: Mapping[str, str]
) -> tuple[str | None, str | None]:
    """For `rupu auth status`: (the link that answers, as `method_words`; None) or (None, why not).
    Runs the chain (it may call STS or the SSO portal); never returns a key."""
    try:
        chain = aws_source(provider, config, env).chain
        found = chain.credentials()
        region = chain.region()
    except (ConfigError, CredentialError) as exc:
        return None, exc.one_line()
    return f"{method_words(str(found.method), chain.profile)}, region {region}", None
