"""`rupu models refresh`: fetch each provider's model list with its resolved credential and write
`$RUPU_HOME/cache/models/<provider>.json`. Providers are fetched concurrently and independently: one
provider's failure is reported and never stops the others."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from rupu.auth.credentials import Credential, CredentialSource, FixedCredential, Secret
from rupu.catalog.listing import LISTERS, ModelLister, PageRequest, lister_for
from rupu.config import BUILTIN_PROVIDERS, LoadedConfig, ProviderConfig
from rupu.config.builtins import builtin_providers
from rupu.config.presets import expand_base_url
from rupu.errors import CredentialError, ProviderError, RupuError
from rupu.modeldata.schema import LiveCache, LiveModel, write_live
from rupu.paths import Paths
from rupu.providers.copilot import CopilotBearerSource
from rupu.providers.copilot_token import CopilotTokenCache, exchange_url_for
from rupu.providers.http import HttpClient, HttpSettings
from rupu.providers.registry import needs_credential, provider_kind

MAX_PAGES = 100
LIST_TIMEOUT = 30.0

CredentialLookup = Callable[[str], CredentialSource]
Status = Literal["ok", "skipped", "failed"]


@dataclass(frozen=True, slots=True)
class RefreshResult:
    provider: str
    status: Status
    models: int = 0
    pages: int = 0
    path: Path | None = None
    reason: str | None = None
    exit_code: int = 0

    def line(self) -> str:
        if self.status == "ok":
            pages = f" ({self.pages} pages)" if self.pages > 1 else ""
            return f"{self.provider}: {self.models} models{pages} -> {self.path}"
        return f"{self.provider}: {self.status}: {self.reason}"


async def fetch_models(
    lister: ModelLister, http: HttpClient, *, max_pages: int = MAX_PAGES
) -> tuple[list[LiveModel], int, str]:
    """Every page of the list: (models, pages fetched, the first page's URL)."""
    request: PageRequest | None = lister.first()
    assert request is not None
    first_url = request.url
    seen: set[str] = set()
    models: dict[str, LiveModel] = {}
    pages = 0
    while request is not None:
        if request.url in seen or pages >= max_pages:
            raise ProviderError(
                lister.provider,
                f"the model list did not end after {pages} pages",
                error_type="pagination_loop",
            )
        seen.add(request.url)
        body, _ = await http.request_json("GET", request.url, headers=request.headers)
        page, request = lister.parse(body, request)
        pages += 1
        for model in page:
            models.setdefault(model.id, model)
    return list(models.values()), pages, first_url


async def refresh_provider(
    provider: str,
    *,
    loaded: LoadedConfig,
    paths: Paths,
    credentials: CredentialLookup,
    skip_without_credential: bool = False,
    now: Callable[[], dt.datetime] | None = None,
    env: Mapping[str, str] | None = None,
) -> RefreshResult:
    """Fetches and caches one provider's list; every expected failure becomes a result line.
    `env` fills `${VAR}` in a preset's base_url (a local server's host)."""
    try:
        kind = provider_kind(provider, loaded)
        config = loaded.provider(provider)
        if config.base_url:
            base = expand_base_url(provider, config.base_url, env or {})
            config = config.model_copy(update={"base_url": base})
        if kind not in LISTERS:
            return RefreshResult(provider, "skipped", reason="its model list is fixed")
        try:
            source: CredentialSource = (
                credentials(provider) if needs_credential(kind, config) else _NO_KEY
            )
            credential = await source.get()
        except CredentialError as exc:
            if skip_without_credential:
                return RefreshResult(provider, "skipped", reason=f"no credential ({exc.hint})")
            raise
        http = HttpClient(provider, HttpSettings(timeout=LIST_TIMEOUT, idle_timeout=LIST_TIMEOUT))
        try:
            adapt = CREDENTIAL_ADAPTERS.get(kind)
            if adapt is not None:
                credential = await adapt(provider, config, source, http).get()
            lister = lister_for(provider, kind, config, credential)
            assert lister is not None
            models, pages, first_url = await fetch_models(lister, http)
        finally:
            await http.aclose()
        if not models:
            return RefreshResult(
                provider,
                "failed",
                pages=pages,
                reason="the provider listed no models; the cache was left as it was",
                exit_code=3,
            )
        fetched_at = (now or _utc_now)().isoformat(timespec="seconds")
        cache = LiveCache(provider=provider, fetched_at=fetched_at, source=first_url, models=models)
        path = write_live(paths, cache)
        return RefreshResult(provider, "ok", len(models), pages, path)
    except RupuError as exc:
        return RefreshResult(provider, "failed", reason=exc.one_line(), exit_code=exc.exit_code)


# A keyless endpoint (a local server): the list request carries no credential.
_NO_KEY = FixedCredential(Credential("", "api-key", Secret(""), source="none (no key needed)"))


def copilot_token_source(
    provider: str, config: ProviderConfig, github: CredentialSource, http: HttpClient
) -> CredentialSource:
    """Copilot's API takes a short-lived Copilot token, exchanged for the GitHub token."""
    tokens = CopilotTokenCache(
        github,
        http=http,
        exchange_url=exchange_url_for(config),
        provider=provider,
    )
    return CopilotBearerSource(provider, tokens)


# Kinds whose stored credential is exchanged for another before the list request.
CREDENTIAL_ADAPTERS: dict[
    str, Callable[[str, ProviderConfig, CredentialSource, HttpClient], CredentialSource]
] = {"copilot": copilot_token_source}


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def refreshable_providers(loaded: LoadedConfig) -> list[str]:
    """Every provider with a list endpoint: the built-ins with one (not mock, the local claude-code
    CLI or antigravity, whose list is baked in), then the declared ones. A built-in on AWS
    credentials (Bedrock) only when it has a table in config: running the AWS chain may reach
    instance metadata, and needs botocore."""
    declared = sorted(
        p
        for p in loaded.config.providers
        if p not in BUILTIN_PROVIDERS and loaded.config.providers[p].kind != "claude-code"
    )
    builtins = [
        name
        for name, record in builtin_providers().items()
        if (record.models or record.sso_models)
        and (record.credentials != "aws" or name in loaded.config.providers)
    ]
    return builtins + declared


async def refresh_all(
    providers: Sequence[str],
    *,
    loaded: LoadedConfig,
    paths: Paths,
    credentials: CredentialLookup,
    skip_without_credential: bool = False,
    env: Mapping[str, str] | None = None,
) -> list[RefreshResult]:
    """Refreshes `providers` concurrently; results come back in the order asked."""
    import anyio

    results: dict[str, RefreshResult] = {}

    async def one(name: str) -> None:
        results[name] = await refresh_provider(
            name,
            loaded=loaded,
            paths=paths,
            credentials=credentials,
            skip_without_credential=skip_without_credential,
            env=env,
        )

    async with anyio.create_task_group() as group:
        for name in providers:
            group.start_soon(one, name)
    return [results[name] for name in providers]
