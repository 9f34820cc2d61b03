"""GitHub Copilot: an endpoint, not a dialect. A GitHub token is exchanged for a short-lived Copilot
token (`copilot_token`), the API host comes from the exchange (or `[providers.copilot] base_url`),
and each request goes to the route its model family needs (`copilot_routes`): chat completions are
spoken here through `openai_chat` with Copilot's URL, headers and quirks; the Responses and Messages
routes are handed to those dialects' factories with a derived setup whose credential is the Copilot
token as a bearer.

A 401 on a token that had not expired yet (revoked, or a clock off) re-mints once and retries once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field, replace

from rupu.auth.credentials import Credential, CredentialSource
from rupu.clock import SYSTEM_CLOCK, Clock
from rupu.errors import AuthRejected, ConfigError, CredentialError, ProviderError
from rupu.messages import ModelRequest, StreamEvent
from rupu.providers.base import Provider, ProviderSetup
from rupu.providers.copilot_routes import (
    ROUTES,
    CopilotApi,
    Initiator,
    ListedModel,
    initiator_of,
    is_model_refusal,
    listed_models,
    model_refusal,
    route_for,
)
from rupu.providers.copilot_token import (
    DEFAULT_EXCHANGE_URL,
    EDITOR_HEADERS,
    CopilotToken,
    CopilotTokenCache,
)
from rupu.providers.http import DEFAULT_TIMEOUT, HttpClient, HttpSettings
from rupu.providers.openai_chat import ChatTarget, OpenAIChatProvider
from rupu.providers.registry import factory_for
from rupu.providers.retry import RetryPolicy, stream_with_retries

OPENAI_INTENT = "conversation-edits"
_NOT_CONTENT = frozenset(
    {"response_started", "usage_reported", "rate_limit_observed", "retry_scheduled"}
)


@dataclass(slots=True)
class CopilotBearerSource:
    """The Copilot token as a bearer credential, for the dialects Copilot's routes delegate to.
    `extras["auth_scheme"] == "bearer"` tells a dialect to send `Authorization: Bearer` and nothing
    that belongs to its vendor's own sign-in (OAuth betas, account headers)."""

    provider: str
    tokens: CopilotTokenCache
    _last: CopilotToken | None = field(default=None, repr=False)

    async def get(self, *, force_refresh: bool = False) -> Credential:
        token = await self.tokens.get(reject=self._last if force_refresh else None)
        self._last = token
        return Credential(
            self.provider,
            "api-key",
            token.secret,
            source="Copilot token exchange",
            extras={"auth_scheme": "bearer", "api_base": token.api_base},
            expires_at=token.expires_at,
        )


class CopilotChatEndpoint:
    """Copilot's chat-completions route: `{api}/chat/completions`, the Copilot bearer, editor headers;
    no `reasoning_effort` (the route refuses it)."""

    sends_reasoning_effort = False

    def __init__(self, copilot: CopilotProvider) -> None:
        self._copilot = copilot

    async def target(self, request: ModelRequest, credential: Credential | None) -> ChatTarget:
        token = await self._copilot.tokens.get()
        url = self._copilot.api_base(token) + ROUTES["chat"].path
        return ChatTarget(url, self._copilot.request_headers(token, initiator_of(request)))


class CopilotProvider:
    def __init__(self, setup: ProviderSetup, *, clock: Clock = SYSTEM_CLOCK) -> None:
        if setup.credentials is None:
            raise CredentialError(
                setup.name,
                "no GitHub token to exchange for a Copilot token",
                hint=(
                    "set COPILOT_GITHUB_TOKEN (or GH_TOKEN / GITHUB_TOKEN), or run "
                    f"`rupu auth login --provider {setup.name} --mode sso`"
                ),
            )
        self.name = setup.name
        self._setup = setup
        self._http = HttpClient(
            setup.name, HttpSettings(timeout=setup.config.timeout or DEFAULT_TIMEOUT)
        )
        self.tokens = CopilotTokenCache(
            setup.credentials,
            http=self._http,
            exchange_url=setup.config.token_exchange_url or DEFAULT_EXCHANGE_URL,
            clock=clock,
            provider=setup.name,
        )
        # Retries happen around the token exchange as well, so the routes themselves try once.
        self._single_try = replace(setup, retry=RetryPolicy(max_retries=0))
        # The chat route's credential is the Copilot token its endpoint fetches, not the GitHub token.
        self._chat = OpenAIChatProvider(
            replace(self._single_try, credentials=None), endpoint=CopilotChatEndpoint(self)
        )
        self._bearer = CopilotBearerSource(setup.name, self.tokens)
        self._delegates: dict[tuple[CopilotApi, Initiator, str], Provider] = {}

    def api_base(self, token: CopilotToken) -> str:
        """`[providers.copilot] base_url` when set, else the host the token exchange named."""
        return (self._setup.config.base_url or token.api_base).rstrip("/")

    def request_headers(self, token: CopilotToken, initiator: Initiator) -> dict[str, str]:
        return {
            **EDITOR_HEADERS,
            "x-initiator": initiator,
            "openai-intent": OPENAI_INTENT,
            **lowered(self._setup.config.headers),
            "authorization": f"Bearer {token.secret.reveal()}",
        }

    def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        kwargs = {"sleep": self._setup.sleep} if self._setup.sleep else {}
        return stream_with_retries(lambda: self._attempt(request), self._setup.retry, **kwargs)

    async def _attempt(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        """One attempt: a token (exchanging if needed), then the route's single try. A 401 re-mints
        and tries again at once, one time; everything else goes to the retry policy."""
        route = route_for(request.model)
        for remint in range(2):
            token = await self.tokens.get()
            provider = self._provider_for(route, initiator_of(request), token)
            emitted = False
            try:
                async for event in provider.stream(request):
                    if not emitted and event.kind not in _NOT_CONTENT:
                        emitted = True
                    yield event
                return
            except ProviderError as exc:
                if emitted:
                    raise
                rejected = isinstance(exc, AuthRejected) and exc.refresh_helps
                if rejected and remint == 0:
                    await self.tokens.get(reject=token)
                    continue
                if rejected:
                    exc.hint = (
                        "Copilot refused a freshly minted token: check that the account's Copilot "
                        f"subscription is active, then run `rupu auth login --provider {self.name}` "
                        "or replace the GitHub token"
                    )
                    raise
                if is_model_refusal(exc):
                    models = await self._listed_models(token)
                    raise model_refusal(exc, request.model, route, models) from None
                raise

    def _provider_for(
        self, route: CopilotApi, initiator: Initiator, token: CopilotToken
    ) -> Provider:
        spec = ROUTES[route]
        if spec.dialect is None:
            return self._chat
        api = self.api_base(token)
        key = (route, initiator, api)
        provider = self._delegates.get(key)
        if provider is None:
            provider = self._delegates[key] = self._delegate(route, initiator, api)
        return provider

    def _delegate(self, route: CopilotApi, initiator: Initiator, api: str) -> Provider:
        setup = delegate_setup(
            self._single_try, route, api_base=api, initiator=initiator, credentials=self._bearer
        )
        try:
            return factory_for(setup.kind, self.name)(setup)
        except ConfigError as exc:
            raise ConfigError(
                f"Copilot serves this model on its {ROUTES[route].title} route, which needs the "
                f"'{setup.kind}' dialect: {exc.message}",
                field="model",
                hint="pick a model Copilot serves on chat completions, or upgrade rupu",
            ) from None

    async def _listed_models(self, token: CopilotToken) -> list[ListedModel] | None:
        """`GET {api}/models`, or None when the list is unavailable (the refusal is reported either
        way)."""
        headers = {**self.request_headers(token, "agent"), "accept": "application/json"}
        try:
            payload, _ = await self._http.request_json(
                "GET", self.api_base(token) + "/models", headers=headers
            )
        except ProviderError:
            return None
        return listed_models(payload)

    async def aclose(self) -> None:
        await self._chat.aclose()
        for provider in self._delegates.values():
            await provider.aclose()
        self._delegates.clear()
        await self._http.aclose()


def delegate_setup(
    setup: ProviderSetup,
    route: CopilotApi,
    *,
    api_base: str,
    initiator: Initiator,
    credentials: CredentialSource,
) -> ProviderSetup:
    """The setup a delegated dialect gets: the Copilot API host as its base_url, Copilot's editor and
    intent headers as its configured headers, the Copilot bearer as its credentials, the retry
    policy and sleep of `setup`."""
    dialect = ROUTES[route].dialect
    if dialect is None:
        raise ValueError(f"route {route} is not delegated")
    config = setup.config.model_copy(
        update={
            "base_url": api_base,
            "token_exchange_url": None,
            "headers": {
                **EDITOR_HEADERS,
                "x-initiator": initiator,
                "openai-intent": OPENAI_INTENT,
                **lowered(setup.config.headers),
            },
        }
    )
    return ProviderSetup(
        name=setup.name,
        kind=dialect,
        config=config,
        credentials=credentials,
        retry=setup.retry,
        sleep=setup.sleep,
    )


def lowered(headers: Mapping[str, str]) -> dict[str, str]:
    """Configured headers with lower-case names, so `Editor-Version = ...` replaces the built-in one
    instead of being sent beside it."""
    return {name.lower(): value for name, value in headers.items()}


def create(setup: ProviderSetup) -> CopilotProvider:
    return CopilotProvider(setup)
