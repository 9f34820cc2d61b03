"""Agent files: Markdown with YAML frontmatter. The frontmatter picks provider, model, auth mode, tools
and limits; the body is the system prompt, sent verbatim."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator

from rupu.errors import ConfigError, Location
from rupu.schemas import check_schema
from rupu.strict import StrictModel, validation_to_config_error
from rupu.textfiles import read_text
from rupu.yamldoc import parse_yaml, split_frontmatter

EFFORT_ALIASES = {"adaptive": "auto", "xhigh": "max"}
MAX_TURNS_LIMIT = 1000


class Frontmatter(StrictModel):
    name: str = Field(min_length=1)
    description: str | None = None
    provider: str | None = None
    model: str | None = None
    auth: Literal["api-key", "sso", "adc"] | None = None
    tools: list[str] | None = None
    max_turns: int | None = Field(default=None, alias="maxTurns", ge=1, le=MAX_TURNS_LIMIT)
    permission_mode: Literal["ask", "bypass", "readonly"] | None = Field(
        default=None, alias="permissionMode"
    )
    max_tokens: int | None = Field(default=None, alias="maxTokens", ge=1)
    effort: Literal["auto", "minimal", "low", "medium", "high", "max"] | None = None
    output_format: Literal["text", "json"] | None = Field(default=None, alias="outputFormat")
    output_schema: dict[str, Any] | None = Field(default=None, alias="outputSchema")
    fallback: list[str] | None = None
    service_tier: Literal["priority", "flex"] | None = Field(default=None, alias="serviceTier")
    fast: bool | None = None  # OpenAI's priority tier where it applies (rupu.routing.fast)
    # Tiers the agent may move the rest of its run to with the `set_model_tier` tool (opt-in).
    tiers: list[str] | None = None

    @field_validator("tiers", mode="before")
    @classmethod
    def _tiers_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("tiers")
    @classmethod
    def _tier_names(cls, value: list[str] | None) -> list[str] | None:
        for name in value or ():
            if not name.strip() or name.startswith("tier:") or " " in name.strip():
                raise ValueError(f"'{name}' is not a tier name (write fast, not tier:fast)")
        if value is not None and len(set(value)) != len(value):
            raise ValueError("a tier is listed twice")
        return value

    @field_validator("fallback", mode="before")
    @classmethod
    def _fallback_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("fallback")
    @classmethod
    def _fallback_entries(cls, value: list[str] | None) -> list[str] | None:
        for entry in value or ():
            if not entry.strip() or entry.startswith(":") or " " in entry.strip():
                raise ValueError(f"'{entry}' is not of the form provider:model (or provider)")
        return value

    @field_validator("effort", mode="before")
    @classmethod
    def _effort_alias(cls, value: Any) -> Any:
        return EFFORT_ALIASES.get(value, value) if isinstance(value, str) else value


class AgentSpec(StrictModel):
    """A parsed agent: its frontmatter, the system prompt and where it came from."""

    frontmatter: Frontmatter
    system_prompt: str
    path: Path
    scope: Literal["global", "project", "path"]

    @property
    def name(self) -> str:
        return self.frontmatter.name


def parse_agent(text: str, path: Path, scope: Literal["global", "project", "path"]) -> AgentSpec:
    shown = str(path)
    header, body = split_frontmatter(text, shown)
    data, doc = parse_yaml(path, header, first_line=2)
    if not isinstance(data, dict):
        raise ConfigError(
            "the frontmatter must be a YAML mapping of keys", location=Location(shown, 2)
        )
    try:
        frontmatter = Frontmatter.model_validate(data)
    except ValidationError as exc:
        raise validation_to_config_error(exc, Frontmatter, path=shown, find_line=doc.line) from None
    if frontmatter.output_schema is not None:
        check_schema(
            frontmatter.output_schema, location=doc.where(["outputSchema"]), field="outputSchema"
        )
    return AgentSpec(
        frontmatter=frontmatter, system_prompt=body.strip("\n"), path=path, scope=scope
    )


def load_agent_file(path: Path, scope: Literal["global", "project", "path"]) -> AgentSpec:
    return parse_agent(read_text(path, what="agent file"), path, scope)
