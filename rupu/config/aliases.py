"""`[aliases]` in config.toml: short model names for `provider:model`, usable wherever a model is
named (an agent's `model:`, a workflow step's `model:`, `--model`). The Claude Code names `sonnet`,
`opus` and `haiku` are built in (Anthropic's current models); a table entry of the same name replaces
them, e.g. `sonnet = "openai:gpt-5"` runs every agent that asks for sonnet on OpenAI."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from pydantic import AfterValidator

from rupu.strict import StrictModel

BUILTIN_ALIASES: dict[str, str] = {
    "sonnet": "anthropic:claude-sonnet-4-6",
    "opus": "anthropic:claude-opus-4-7",
    "haiku": "anthropic:claude-haiku-4-5",
}


def check_alias_name(name: str) -> str:
    if not name or ":" in name or any(ch.isspace() for ch in name):
        raise ValueError(f"alias name {name!r} may not be empty or hold ':' or spaces")
    return name


def check_alias_value(value: str) -> str:
    provider, _, model = value.strip().partition(":")
    if not provider or not model or any(ch.isspace() for ch in value.strip()):
        raise ValueError(f"'{value}' is not of the form provider:model")
    return value.strip()


AliasName = Annotated[str, AfterValidator(check_alias_name)]
AliasValue = Annotated[str, AfterValidator(check_alias_value)]


class AgentsConfig(StrictModel):
    """`[agents]`: `claude_code = false` stops reading `.claude/agents/` and `~/.claude/agents/`."""

    claude_code: bool = True


def all_aliases(configured: Mapping[str, str]) -> dict[str, str]:
    """The built-in aliases with the configured ones on top."""
    return {**BUILTIN_ALIASES, **configured}


def expand_alias(model: str | None, configured: Mapping[str, str]) -> tuple[str, str] | None:
    """`(provider, model)` when `model` is an alias, else None."""
    if not model:
        return None
    value = all_aliases(configured).get(model)
    if value is None:
        return None
    provider, _, target = value.partition(":")
    return provider, target
