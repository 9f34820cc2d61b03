"""Agent files: Markdown with YAML frontmatter. The frontmatter picks provider, model, auth mode, tools
and limits; the body is the system prompt, sent verbatim. A Claude Code agent file (one in a
`.claude/agents/` directory) is read through `rupu.agents.claude_code`, which maps its keys first."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator

from rupu.agents.claude_code import (
    is_claude_agent_path,
    map_claude_frontmatter,
    quote_plain_values,
)
from rupu.config import McpServerConfig
from rupu.errors import ConfigError, Location
from rupu.schemas import check_schema
from rupu.strict import StrictModel, validation_to_config_error
from rupu.textfiles import read_text
from rupu.yamldoc import YamlDoc, parse_yaml, split_frontmatter

EFFORT_ALIASES = {"adaptive": "auto", "xhigh": "max"}
MAX_TURNS_LIMIT = 1000
AgentScope = Literal["global", "project", "path", "claude-user", "claude-project"]
MCP_TRANSPORTS = {"stdio": "command", "http": "url", "streamable-http": "url"}


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
    # The agents this one may hand work to (names or paths to .md files): the `dispatch_agent` and
    # `dispatch_agents` tools (rupu.agents.subagents).
    agents: list[str] | None = None
    service_tier: Literal["priority", "flex"] | None = Field(default=None, alias="serviceTier")
    fast: bool | None = None  # OpenAI's priority tier where it applies (rupu.routing.fast)
    # Tiers the agent may move the rest of its run to with the `set_model_tier` tool (opt-in).
    tiers: list[str] | None = None
    # Tools taken away from `tools:` (or from every built-in tool when there is no `tools:`).
    disallowed_tools: list[str] | None = Field(default=None, alias="disallowedTools")
    # MCP servers of this agent alone, started when it starts and stopped when it ends: an inline
    # server table, or None for a server of `[mcp.servers]` in config.toml named here.
    mcp_servers: dict[str, McpServerConfig | None] | None = Field(default=None, alias="mcpServers")

    @field_validator("disallowed_tools", mode="before")
    @classmethod
    def _disallowed_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("mcp_servers", mode="before")
    @classmethod
    def _servers_table(cls, value: Any) -> Any:
        return normalize_servers(value)

    @field_validator("mcp_servers")
    @classmethod
    def _server_names(
        cls, value: dict[str, McpServerConfig | None] | None
    ) -> dict[str, McpServerConfig | None] | None:
        for name in value or {}:
            if not name or not all(ch.isalnum() or ch in "-_" for ch in name):
                raise ValueError(f"server name {name!r} may hold only letters, digits, '-' and '_'")
        return value

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

    @field_validator("agents", mode="before")
    @classmethod
    def _agents_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("agents")
    @classmethod
    def _agent_references(cls, value: list[str] | None) -> list[str] | None:
        for entry in value or ():
            if not entry.strip():
                raise ValueError(
                    "an entry is empty (write an agent name or a path to its .md file)"
                )
        if value is not None and len(set(value)) != len(value):
            raise ValueError("an agent is listed twice")
        return value

    @field_validator("effort", mode="before")
    @classmethod
    def _effort_alias(cls, value: Any) -> Any:
        return EFFORT_ALIASES.get(value, value) if isinstance(value, str) else value


def normalize_servers(value: Any) -> Any:
    """`mcpServers` as a mapping `{name: table or None}`. Claude Code writes a list whose items are a
    configured server's name or a one-key mapping `{name: table}`; a table may say its `type`."""
    if isinstance(value, list):
        table: dict[str, Any] = {}
        for item in value:
            if isinstance(item, str):
                table[item] = None
            elif isinstance(item, dict) and len(item) == 1:
                table.update(item)
            else:
                raise ValueError("each entry is a server name or a mapping {name: {command: ...}}")
        value = table
    if not isinstance(value, dict):
        return value
    return {name: _without_type(name, server) for name, server in value.items()}


def _without_type(name: str, server: Any) -> Any:
    if not isinstance(server, dict) or "type" not in server:
        return server
    server = dict(server)
    kind = server.pop("type")
    needs = MCP_TRANSPORTS.get(kind) if isinstance(kind, str) else None
    if needs is None:
        raise ValueError(
            f"server '{name}': type {kind!r} is not supported (stdio with command, or http with "
            "url for streamable HTTP)"
        )
    if needs not in server:
        raise ValueError(f"server '{name}': type {kind} needs {needs}")
    return server


FRONTMATTER_KEYS = frozenset(f.alias or name for name, f in Frontmatter.model_fields.items())


class AgentSpec(StrictModel):
    """A parsed agent: its frontmatter, the system prompt and where it came from. `notes` says what
    was read but is not used (a Claude Code file's keys and tools rupu has no counterpart for)."""

    frontmatter: Frontmatter
    system_prompt: str
    path: Path
    scope: AgentScope
    notes: list[str] = Field(default_factory=list)

    @property
    def name(self) -> str:
        return self.frontmatter.name


def parse_agent(text: str, path: Path, scope: AgentScope) -> AgentSpec:
    shown = str(path)
    header, body = split_frontmatter(text, shown)
    claude = scope in ("claude-user", "claude-project") or is_claude_agent_path(path)
    data, doc = parse_header(header, path, claude=claude)
    if not isinstance(data, dict):
        raise ConfigError(
            "the frontmatter must be a YAML mapping of keys", location=Location(shown, 2)
        )
    notes: list[str] = []
    if claude:
        data, notes = map_claude_frontmatter(data, doc.where, rupu_keys=FRONTMATTER_KEYS)
    try:
        frontmatter = Frontmatter.model_validate(data)
    except ValidationError as exc:
        raise validation_to_config_error(exc, Frontmatter, path=shown, find_line=doc.line) from None
    if frontmatter.output_schema is not None:
        check_schema(
            frontmatter.output_schema, location=doc.where(["outputSchema"]), field="outputSchema"
        )
    return AgentSpec(
        frontmatter=frontmatter,
        system_prompt=body.strip("\n"),
        path=path,
        scope=scope,
        notes=notes,
    )


def parse_header(header: str, path: Path, *, claude: bool) -> tuple[Any, YamlDoc]:
    """The frontmatter's YAML; a Claude Code file's one-line values holding `: ` are read as
    Claude Code reads them (see `rupu.agents.claude_code.quote_plain_values`)."""
    try:
        return parse_yaml(path, header, first_line=2)
    except ConfigError:
        quoted = quote_plain_values(header) if claude else None
        if quoted is None:
            raise
        return parse_yaml(path, quoted, first_line=2)


def front_doc(path: Path) -> YamlDoc:
    """The frontmatter of the agent file at `path`, for finding a key's line."""
    header, _ = split_frontmatter(path.read_text(encoding="utf-8-sig"), str(path))
    return parse_header(header, path, claude=is_claude_agent_path(path))[1]


def load_agent_file(path: Path, scope: AgentScope) -> AgentSpec:
    return parse_agent(read_text(path, what="agent file"), path, scope)
