"""Which Copilot API route serves which model, as data.

Copilot hosts three wire dialects under one API host: chat completions for most models, the OpenAI
Responses API for the gpt-5 family and the Anthropic Messages API for Claude. Model ids are
route-specific (`claude-sonnet-4.6`, with a dot) and are sent exactly as written: rupu never guesses
an id by rewriting punctuation. When the API refuses an id, `model_refusal` says which ids the route
accepts, from the API's own `GET {api}/models` list.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from rupu.errors import ProviderError
from rupu.messages import ModelRequest, ToolResultPart

CopilotApi = Literal["chat", "responses", "messages"]
Initiator = Literal["user", "agent"]


@dataclass(frozen=True, slots=True)
class RouteSpec:
    """`path` is under the API host; `dialect` is the FACTORIES kind the route is delegated to
    (None: chat completions, spoken by the copilot provider itself)."""

    path: str
    title: str
    dialect: str | None


ROUTES: Mapping[CopilotApi, RouteSpec] = {
    "chat": RouteSpec("/chat/completions", "chat completions", None),
    "responses": RouteSpec("/responses", "Responses API", "openai-responses"),
    "messages": RouteSpec("/v1/messages", "Anthropic Messages API", "anthropic"),
}

# Model families served on another route than chat completions, by id prefix; first match wins.
FAMILY_ROUTES: tuple[tuple[str, CopilotApi], ...] = (
    ("claude-", "messages"),
    ("gpt-5", "responses"),
)
DEFAULT_ROUTE: CopilotApi = "chat"

MAX_LISTED_IDS = 40


def route_for(model: str) -> CopilotApi:
    lowered = model.lower()
    for prefix, route in FAMILY_ROUTES:
        if lowered.startswith(prefix):
            return route
    return DEFAULT_ROUTE


def initiator_of(request: ModelRequest) -> Initiator:
    """`user` when a person asked (the last message is the user's text), `agent` when the request
    only carries tool results back; Copilot bills premium requests by this header."""
    if not request.messages:
        return "agent"
    last = request.messages[-1]
    if last.role != "user" or any(isinstance(p, ToolResultPart) for p in last.parts):
        return "agent"
    return "user"


# What GitHub's own docs (and Atomic's) tell a user whose model Copilot answers "model not supported".
ENABLE_MODEL = (
    "enable it once in VS Code (Copilot Chat → model selector → select the model → Enable)"
)


def _not_supported(exc: ProviderError) -> bool:
    text = f"{exc.error_type or ''} {exc.message}".lower()
    return "model_not_supported" in text or "not supported" in text


def is_model_refusal(exc: ProviderError) -> bool:
    text = f"{exc.error_type or ''} {exc.message}".lower()
    return exc.status == 404 or "model_not_supported" in text or "unsupported_model" in text


@dataclass(frozen=True, slots=True)
class ListedModel:
    id: str
    endpoints: tuple[str, ...]
    policy: str | None


def listed_models(payload: Any) -> list[ListedModel]:
    """Chat models from `GET {api}/models` (`{"data": [{"id", "supported_endpoints", "policy"}]}`);
    anything unrecognised is skipped rather than trusted."""
    data = payload.get("data") if isinstance(payload, Mapping) else None
    out: list[ListedModel] = []
    for entry in data if isinstance(data, list) else ():
        if not isinstance(entry, Mapping) or not isinstance(entry.get("id"), str):
            continue
        capabilities = entry.get("capabilities")
        kind = capabilities.get("type") if isinstance(capabilities, Mapping) else None
        if kind not in (None, "chat"):
            continue
        raw_endpoints = entry.get("supported_endpoints")
        endpoints = (
            tuple(e for e in raw_endpoints if isinstance(e, str))
            if isinstance(raw_endpoints, list)
            else ()
        )
        policy = entry.get("policy")
        state = policy.get("state") if isinstance(policy, Mapping) else None
        out.append(ListedModel(entry["id"], endpoints, state if isinstance(state, str) else None))
    return out


def ids_for_route(models: Sequence[ListedModel], route: CopilotApi) -> list[str]:
    """Enabled ids the route serves: those listing its path, else (no `supported_endpoints`) those
    the family table sends there."""
    path = ROUTES[route].path
    ids: list[str] = []
    for model in models:
        if model.policy not in (None, "enabled"):
            continue
        serves = path in model.endpoints if model.endpoints else route_for(model.id) == route
        if serves and model.id not in ids:
            ids.append(model.id)
    return ids


def model_refusal(
    exc: ProviderError, model: str, route: CopilotApi, models: Sequence[ListedModel] | None
) -> ProviderError:
    """The API refused `model` on `route`: say which ids it accepts there, and why this one is not."""
    spec = ROUTES[route]
    message = f"model '{model}' is not available on Copilot's {spec.title} route ({spec.path})"
    advice = (
        "Copilot model ids are route-specific and sent exactly as written, e.g. claude-sonnet-4.6"
    )
    if models is None:
        hint = f"{advice}; see the ids your account can use in GitHub's Copilot model list"
    else:
        ids = ids_for_route(models, route)
        listed = next((m for m in models if m.id == model), None)
        if listed is not None and listed.policy not in (None, "enabled"):
            hint = (
                f"'{model}' is {listed.policy} for this account: {ENABLE_MODEL}, or in GitHub's "
                "Copilot settings (github.com/settings/copilot), or ask your organisation's admin"
            )
        elif listed is not None and listed.endpoints and spec.path not in listed.endpoints:
            hint = (
                f"Copilot serves '{model}' on {', '.join(listed.endpoints)}, not {spec.path}; "
                f"rupu routes it by family ({route_for(model)})"
            )
        elif ids:
            shown = ", ".join(ids[:MAX_LISTED_IDS]) + (", …" if len(ids) > MAX_LISTED_IDS else "")
            close = difflib.get_close_matches(model, ids, n=1, cutoff=0.6)
            suggest = f"did you mean '{close[0]}'? " if close else ""
            hint = f"{suggest}ids this route accepts: {shown}; {advice}"
        else:
            hint = f"{advice}; the account's model list names no model for this route"
    if _not_supported(exc) and "Enable" not in hint:
        hint += (
            f"; a model your account has not switched on yet is refused this way: {ENABLE_MODEL}"
        )
    return ProviderError(
        exc.provider,
        message,
        model=model,
        status=exc.status,
        error_type=exc.error_type,
        request_id=exc.request_id,
        hint=hint,
    )
