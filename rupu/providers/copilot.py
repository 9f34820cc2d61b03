"""GitHub Copilot: an endpoint, not a dialect. A GitHub token is exchanged for a short-lived Copilot
token (`copilot_token`), the API host comes from the exchange (or `[providers.copilot] base_url`),
and each request goes to the route its model family needs (`copilot_routes`): chat completions, the
Responses API or the Anthropic Messages API, each spoken by that dialect with Copilot's URL, headers
and quirks and the Copilot token as a bearer. `CopilotDialect` picks the route per request and hands
the encoding and decoding to the route's dialect; the one HTTP provider does the rest.

A 401 on a token that had not expired yet (revoked, or a clock off) re-mints once and retries once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from rupu.auth.credentials import Credential, CredentialSource
from rupu.clock import Clock
from rupu.errors import AuthRejected, CredentialError, ProviderError
from rupu.messages import ModelRequest, StreamEvent
from rupu.providers.anthropic import MessagesDialect
from rupu.providers.base import ProviderSetup
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
    EDITOR_HEADERS,
    CopilotToken,
    CopilotTokenCache,
    exchange_url_for,
)
from rupu.providers.dialect import BaseDialect, Dialect, StreamDecoder, WireRequest
from rupu.providers.http import DEFAULT_TIMEOUT, HttpClient, HttpSettings
from rupu.providers.http_provider import HttpProvider
from rupu.providers.openai_chat import ChatDialect, ChatTarget
from rupu.providers.openai_responses import ResponsesDialect

OPENAI_INTENT = "conversation-edits"


@dataclass(slots=True)
class CopilotBearerSource:
    """The Copilot token as a bearer credential, for the dialects Copilot's routes delegate to.
    `extras["auth_scheme"] == "bearer"` tells a dialect to send `Authorization: Bearer` and nothing
    that belongs to its vendor's own sign-in (OAuth betas, account headers). `force_refresh`
    re-mints."""

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

    def __init__(self, copilot: CopilotDialect) -> None:
        self._copilot = copilot

    async def target(self, request: ModelRequest, credential: Credential | None) -> ChatTarget:
        if credential is None:
            raise CredentialError(self._copilot.provider, "no Copilot token was minted")
        url = self._copilot.api_base(credential) + ROUTES["chat"].path
        return ChatTarget(url, self._copilot.request_headers(credential, initiator_of(request)))


class CopilotDialect(BaseDialect):
    """Copilot's routes: each request is encoded and decoded by the dialect of the route its model
    needs (cached per route, initiator and API host; the `WireRequest.variant` names that key)."""

    def __init__(
        self, setup: ProviderSetup, bearer: CredentialSource, *, lister: HttpClient
    ) -> None:
        super().__init__(setup.name)
        self._setup = setup
        self._bearer = bearer
        self._lister = lister  # GitHub's side (the token exchange's client): no endpoint options
        self._chat = ChatDialect(setup, CopilotChatEndpoint(self))
        self._routes: dict[str, Dialect] = {}

    def api_base(self, credential: Credential) -> str:
        """`[providers.copilot] base_url` when set, else the host the token exchange named."""
        return (self._setup.config.base_url or credential.extras.get("api_base", "")).rstrip("/")

    def request_headers(self, credential: Credential, initiator: Initiator) -> dict[str, str]:
        return {
            **EDITOR_HEADERS,
            "x-initiator": initiator,
            "openai-intent": OPENAI_INTENT,
            **lowered(self._setup.config.headers),
            "authorization": f"Bearer {credential.secret.reveal()}",
        }

    def refreshable(self, credential: Credential) -> bool:
        return True  # a re-minted Copilot token may be accepted where a revoked one was not

    async def encode(
        self, request: ModelRequest, credential: Credential | None, *, http: HttpClient
    ) -> WireRequest:
        credential = self.require(credential, "no Copilot token was minted")
        key, dialect = self._route(request, credential)
        wire = await dialect.encode(request, credential, http=http)
        return replace(wire, variant=key)

    def decoder(
        self, request: ModelRequest, wire: WireRequest, headers: Mapping[str, str]
    ) -> StreamDecoder:
        return self._routes[wire.variant].decoder(request, wire, headers)

    def decode_body(
        self, request: ModelRequest, data: Any, headers: Mapping[str, str]
    ) -> Iterable[StreamEvent]:
        return self._chat.decode_body(request, data, headers)

    async def annotate(
        self, error: ProviderError, request: ModelRequest, credential: Credential | None
    ) -> ProviderError:
        if credential is None:
            return await super().annotate(error, request, credential)
        _, dialect = self._route(request, credential)
        error = await dialect.annotate(error, request, credential)
        if isinstance(error, AuthRejected) and error.refresh_helps:
            error.hint = (
                "Copilot refused a freshly minted token: check that the account's Copilot "
                f"subscription is active, then run `rupu auth login --provider {self.provider}` "
                "or replace the GitHub token"
            )
        elif is_model_refusal(error):
            models = await self._listed_models(credential)
            return model_refusal(error, request.model, route_for(request.model), models)
        return error

    def _route(self, request: ModelRequest, credential: Credential) -> tuple[str, Dialect]:
        route = route_for(request.model)
        if ROUTES[route].dialect is None:
            self._routes[route] = self._chat
            return route, self._chat
        initiator = initiator_of(request)
        api = self.api_base(credential)
        key = f"{route} {initiator} {api}"
        dialect = self._routes.get(key)
        if dialect is None:
            dialect = self._routes[key] = self._delegate(route, initiator, api)
        return key, dialect

    def _delegate(self, route: CopilotApi, initiator: Initiator, api: str) -> Dialect:
        setup = delegate_setup(
            self._setup,
            route,
            api_base=api,
            initiator=initiator,
            credentials=self._bearer,
        )
        if route == "messages":
            return MessagesDialect(setup)
        return ResponsesDialect(setup)

    async def _listed_models(self, credential: Credential) -> list[ListedModel] | None:
        """`GET {api}/models`, or None when the list is unavailable (the refusal is reported either
        way)."""
        headers = {**self.request_headers(credential, "agent"), "accept": "application/json"}
        try:
            payload, _ = await self._lister.request_json(
                "GET", self.api_base(credential) + "/models", headers=headers
            )
        except ProviderError:
            return None
        return listed_models(payload)


class CopilotProvider(HttpProvider):
    """The HTTP provider on `CopilotDialect`, its credential the Copilot token minted from the
    GitHub token (`tokens`); `clock` (default `setup.clock`) dates the Copilot token's expiry."""

    def __init__(self, setup: ProviderSetup, *, clock: Clock | None = None) -> None:
        if setup.credentials is None:
            raise CredentialError(
                setup.name,
                "no GitHub token to exchange for a Copilot token",
                hint=(
                    "set COPILOT_GITHUB_TOKEN (or GH_TOKEN / GITHUB_TOKEN), or run "
                    f"`rupu auth login --provider {setup.name} --mode sso`"
                ),
            )
        self._exchange = HttpClient(
            setup.name, HttpSettings(timeout=setup.config.timeout or DEFAULT_TIMEOUT)
        )
        self.tokens = CopilotTokenCache(
            setup.credentials,
            http=self._exchange,
            exchange_url=exchange_url_for(setup.config),
            clock=clock or setup.clock,
            provider=setup.name,
        )
        bearer = CopilotBearerSource(setup.name, self.tokens)
        self.copilot = CopilotDialect(setup, bearer, lister=self._exchange)
        super().__init__(replace(setup, credentials=bearer), self.copilot)

    def credential_source(self) -> CredentialSource:
        # One source per attempt: a 401 re-mints only if the token this attempt was refused with
        # is still the current one (fifty concurrent refusals mint once).
        return CopilotBearerSource(self.name, self.tokens)

    async def aclose(self) -> None:
        await super().aclose()
        await self._exchange.aclose()


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
        clock=setup.clock,
    )


def lowered(headers: Mapping[str, str]) -> dict[str, str]:
    """Configured headers with lower-case names, so `Editor-Version = ...` replaces the built-in one
    instead of being sent beside it."""
    return {name.lower(): value for name, value in headers.items()}


def create(setup: ProviderSetup) -> CopilotProvider:
    return CopilotProvider(setup)
