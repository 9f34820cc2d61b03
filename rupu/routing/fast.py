"""Fast mode (`fast: true`, `--fast`): OpenAI's priority service tier, on the two routes that serve it
from OpenAI itself: the `openai` provider with an API key, and with a ChatGPT sign-in. Everywhere else
(GitHub Copilot, Azure OpenAI, OpenRouter, other presets and custom providers) it is refused with a
note and the run goes on at its usual tier: those services price and queue on their own terms.
"""

from __future__ import annotations

import dataclasses

from rupu.routing.fallback import Candidate
from rupu.routing.plan import Route

FAST_TIER = "priority"
FAST_KINDS = frozenset({"openai"})  # the built-in openai provider: api.openai.com and ChatGPT
_AZURE_HOST = ".openai.azure.com"

_WHAT: dict[str, str] = {
    "copilot": "GitHub Copilot",
    "openrouter": "OpenRouter",
    "azure-openai-responses": "Azure OpenAI",
}


def fast_refusal(provider: str, kind: str, base_url: str | None) -> str | None:
    """None when fast mode applies to `provider` (of wire `kind`, at `base_url`); otherwise the
    note that says why it does not."""
    base = base_url or ""
    if kind in FAST_KINDS and _AZURE_HOST not in base:
        return None
    what = _WHAT.get(provider) or _WHAT.get(kind)
    if what is None:
        what = "Azure OpenAI" if _AZURE_HOST in base else "not OpenAI's own API"
    return (
        f"fast mode does not apply to {provider} ({what}); it runs at its usual tier. "
        "Fast mode is OpenAI's priority tier on the openai provider (API key or ChatGPT sign-in)"
    )


def candidate_refusal(candidate: Candidate) -> str | None:
    return fast_refusal(candidate.provider, candidate.kind, candidate.config.base_url)


def with_fast_mode(route: Route) -> tuple[Route, str | None]:
    """`route` sending the priority tier to its primary, or unchanged with the refusal note."""
    note = candidate_refusal(route.candidates[0])
    if note is not None:
        return route, note
    return dataclasses.replace(route, service_tier=FAST_TIER, fast=True), None


def fan_out_warning(step: str) -> str:
    return (
        f"warning: fast mode is on for step '{step}', which fans out: priority-tier pricing "
        "(about twice the standard price on OpenAI) multiplies with every unit it runs"
    )
