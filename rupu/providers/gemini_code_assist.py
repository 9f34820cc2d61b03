"""The Code Assist route: the endpoint Gemini CLI uses with a Google sign-in.

Requests are the generateContent body wrapped as `{model, project, user_prompt_id, request: {...,
session_id}}`; each streamed chunk is `{response: {...}, traceId}`. Every call bills a Google Cloud
project. When neither the credential (`extras["project"]`) nor the config (`project`) names one, it is
discovered the way Gemini CLI does it: `loadCodeAssist` reports the account's tier and project; an
account without a tier is onboarded with `onboardUser` (a long-running operation, polled until done).
The answer is cached for the process, so a workflow of many agents asks once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import anyio

from rupu.config.builtins import builtin_url
from rupu.errors import ProviderError
from rupu.providers.http import HttpClient
from rupu.providers.retry import Sleep

CODE_ASSIST_URL = builtin_url("gemini", "sso_base_url")
API_VERSION = "v1internal"
CLIENT_METADATA = {
    "ideType": "IDE_UNSPECIFIED",
    "platform": "PLATFORM_UNSPECIFIED",
    "pluginType": "GEMINI",
}
FREE_TIER = "free-tier"
LEGACY_TIER = "legacy-tier"
POLL_INTERVAL = 5.0
MAX_POLLS = 36
PROJECT_HINT = 'set project = "<your-gcp-project>" under [providers.gemini] in config.toml'

_projects: dict[tuple[str, ...], str] = {}
_locks: dict[tuple[str, ...], anyio.Lock] = {}


def method_url(base_url: str, method: str) -> str:
    return f"{base_url.rstrip('/')}/{API_VERSION}:{method}"


def wrap_request(
    body: Mapping[str, Any], *, model: str, project: str, prompt_id: str, session_id: str
) -> dict[str, Any]:
    return {
        "model": model,
        "project": project,
        "user_prompt_id": prompt_id,
        "request": {**body, "session_id": session_id},
    }


def forget_projects() -> None:
    """Drops the process cache (after `rupu auth logout`, say)."""
    _projects.clear()
    _locks.clear()


async def discover_project(
    http: HttpClient,
    base_url: str,
    headers: Mapping[str, str],
    *,
    cache_key: tuple[str, ...],
    sleep: Sleep,
) -> str:
    """The Cloud project Code Assist bills this account to (discovered once per process)."""
    cached = _projects.get(cache_key)
    if cached:
        return cached
    lock = _locks.setdefault(cache_key, anyio.Lock())
    async with lock:
        cached = _projects.get(cache_key)
        if cached:
            return cached
        project = await _discover(http, base_url, headers, sleep)
        _projects[cache_key] = project
        return project


async def _discover(
    http: HttpClient, base_url: str, headers: Mapping[str, str], sleep: Sleep
) -> str:
    provider = http.provider
    loaded, _ = await http.request_json(
        "POST",
        method_url(base_url, "loadCodeAssist"),
        headers=headers,
        body={"metadata": CLIENT_METADATA},
    )
    if not isinstance(loaded, dict):
        raise ProviderError(provider, "loadCodeAssist answered with something other than an object")
    if loaded.get("currentTier"):
        project = _project_id(loaded.get("cloudaicompanionProject"))
        if project:
            return project
        raise _no_project(provider, loaded)
    tier = _onboard_tier(loaded)
    if tier.get("userDefinedCloudaicompanionProject") and tier.get("id") != FREE_TIER:
        raise _no_project(provider, loaded)
    operation, _ = await http.request_json(
        "POST",
        method_url(base_url, "onboardUser"),
        headers=headers,
        body={"tierId": tier.get("id") or LEGACY_TIER, "metadata": CLIENT_METADATA},
    )
    polls = 0
    while isinstance(operation, dict) and not operation.get("done"):
        name = operation.get("name")
        if not name or polls >= MAX_POLLS:
            raise ProviderError(
                provider,
                "Code Assist onboarding did not finish",
                error_type="onboarding_incomplete",
                hint=f"try again in a minute, or {PROJECT_HINT}",
            )
        await sleep(POLL_INTERVAL)
        operation, _ = await http.request_json(
            "GET", f"{base_url.rstrip('/')}/{API_VERSION}/{name}", headers=headers
        )
        polls += 1
    if not isinstance(operation, dict):
        raise ProviderError(provider, "onboardUser answered with something other than an object")
    if isinstance(operation.get("error"), dict):
        error = operation["error"]
        raise ProviderError(
            provider,
            f"Code Assist onboarding failed: {error.get('message') or 'no reason given'}",
            error_type=str(error.get("status") or "onboarding_failed"),
            hint=PROJECT_HINT,
        )
    response = operation.get("response")
    project = (
        _project_id(response.get("cloudaicompanionProject")) if isinstance(response, dict) else None
    )
    if project:
        return project
    raise _no_project(provider, loaded)


def _project_id(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("id")
    return str(value) if isinstance(value, str) and value else None


def _onboard_tier(loaded: Mapping[str, Any]) -> dict[str, Any]:
    for tier in loaded.get("allowedTiers") or ():
        if isinstance(tier, dict) and tier.get("isDefault"):
            return tier
    return {"id": LEGACY_TIER, "userDefinedCloudaicompanionProject": True}


def _no_project(provider: str, loaded: Mapping[str, Any]) -> ProviderError:
    reasons = [
        str(t.get("reasonMessage"))
        for t in loaded.get("ineligibleTiers") or ()
        if isinstance(t, dict) and t.get("reasonMessage")
    ]
    why = "; ".join(reasons) if reasons else "this Google account needs a Google Cloud project"
    return ProviderError(
        provider,
        f"Code Assist has no project for this account: {why}",
        error_type="project_required",
        hint=PROJECT_HINT,
    )
