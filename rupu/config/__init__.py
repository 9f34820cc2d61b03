"""`config.toml`: the global file (`$RUPU_HOME/config.toml`) with the project's `.rupu/config.toml`
layered on top (tables merge, arrays replace). Each file is validated on its own first, so an error
names the file and line it is in."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, ValidationError, field_validator, model_validator

from rupu.config.aliases import AgentsConfig, AliasName, AliasValue
from rupu.config.builtins import builtin_providers
from rupu.config.chat_compat import ChatCompat
from rupu.config.presets import is_preset, load_presets
from rupu.config.routing import RoutingConfig
from rupu.errors import ConfigError, Location
from rupu.filemodes import check_private
from rupu.paths import Paths
from rupu.strict import LineFinder, StrictModel, validation_to_config_error

BUILTIN_PROVIDERS = tuple(builtin_providers())
# The built-in records' dialects plus the generic kinds; a Literal so pydantic and mypy read it
# (tests/providers/test_builtin_records.py checks it against the records).
ProviderKind = Literal[
    "openai-compatible", "openai-responses", "anthropic", "gemini", "bedrock", "claude-code"
]
ServiceTier = Literal["priority", "flex"]
_REGIONAL_KINDS = frozenset(r.kind for r in builtin_providers().values() if r.credentials == "aws")
PermissionMode = Literal["ask", "bypass", "readonly"]


class ModelEntry(StrictModel):
    id: str = Field(min_length=1)
    context_window: int = Field(default=32768, gt=0)
    max_output: int = Field(default=8192, gt=0)


class OAuthEndpoints(StrictModel):
    """Overrides for a provider's sign-in endpoints (gateways, proxies, tests)."""

    authorize_url: str | None = None
    token_url: str | None = None
    device_code_url: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    scopes: list[str] | None = None
    redirect_port: int | None = Field(default=None, ge=0, le=65535)


class ProviderConfig(StrictModel):
    kind: ProviderKind | None = None
    base_url: str | None = None
    sso_base_url: str | None = None
    default_model: str | None = Field(
        default=None, validation_alias=AliasChoices("default_model", "model")
    )
    stream: bool = True
    models: list[ModelEntry] = Field(default_factory=list)
    api_key: str | None = None
    org_id: str | None = None
    project: str | None = None
    region: str | None = None
    # Amazon Bedrock; see docs/providers-bedrock.md
    profile: str | None = None
    cache_points: bool | None = None
    control_base_url: str | None = None
    token_exchange_url: str | None = None
    # copilot on GitHub Enterprise: stands in for https://DOMAIN and https://api.DOMAIN of the
    # domain a sign-in names with --host (rupu/auth/oauth/copilot_host.py)
    enterprise_url: str | None = None
    timeout: float | None = Field(default=None, gt=0)
    max_retries: int | None = Field(default=None, ge=0, le=20)
    max_concurrency: int | None = Field(default=None, ge=1)
    headers: dict[str, str] = Field(default_factory=dict)
    script: str | None = None
    oauth: OAuthEndpoints | None = None
    # endpoint options (presets, gateways, Azure OpenAI); see docs/providers-presets.md
    compat: ChatCompat | None = None
    auth_header: str | None = None
    auth_scheme: str | None = None
    query: dict[str, str] = Field(default_factory=dict)
    keyless: bool | None = None
    service_tier: ServiceTier | None = None
    # the claude-code provider; see docs/providers-claude-code.md
    command: str | list[str] | None = None
    max_turns: int | None = Field(default=None, ge=1)
    allowed_tools: list[str] | None = None
    timeout_secs: float | None = Field(default=None, gt=0)
    model_complex: str | None = None
    allow_unknown_model: bool | None = None

    @field_validator("api_key")
    @classmethod
    def _one_line_key(cls, value: str | None) -> str | None:
        # A key is sent in an HTTP header; a stray newline (often pasted in) must fail here, by name.
        if value is not None and any(ch < " " or ch == "\x7f" for ch in value):
            raise ValueError(
                "contains a newline or another control character; put the key on one line"
            )
        return value


class ModelPrice(StrictModel):
    """`[pricing.<provider>."<model>"]`, USD per million tokens. A missing cache price falls back to
    the catalog's, then to the input price."""

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cache_read: float | None = Field(default=None, ge=0)
    cache_write: float | None = Field(default=None, ge=0)


class BashToolConfig(StrictModel):
    """`[tools.bash]`: the shell tool's limits and what it may see."""

    timeout_secs: float = Field(default=120, gt=0)
    max_timeout_secs: float = Field(default=600, gt=0)
    output_limit: int = Field(default=100_000, ge=1000)
    kill_after_bytes: int = Field(default=64_000_000, ge=1000)
    env_passthrough: list[str] = Field(default_factory=list)
    allow: list[str] = Field(default_factory=list)


class GrepToolConfig(StrictModel):
    ripgrep: str = "auto"


class WebSearchConfig(StrictModel):
    """`[tools.web_search]`: backend choice and endpoint overrides (gateways, tests)."""

    provider: Literal["brave", "tavily", "serper"] | None = None
    brave_url: str | None = None
    tavily_url: str | None = None
    serper_url: str | None = None
    max_results: int = Field(default=5, ge=1, le=20)
    timeout_secs: float = Field(default=20, gt=0)


class WebFetchConfig(StrictModel):
    """`[tools.web_fetch]`: limits, and whether non-public hosts (an intranet) may be fetched."""

    timeout_secs: float = Field(default=30, gt=0)
    max_bytes: int = Field(default=5_000_000, ge=1000)
    allow_private_hosts: bool = False


class ToolsConfig(StrictModel):
    result_limit: int = Field(default=100_000, ge=1000)
    bash: BashToolConfig = Field(default_factory=BashToolConfig)
    grep: GrepToolConfig = Field(default_factory=GrepToolConfig)
    web_search: WebSearchConfig = Field(default_factory=WebSearchConfig)
    web_fetch: WebFetchConfig = Field(default_factory=WebFetchConfig)


class McpServerConfig(StrictModel):
    """`[mcp.servers.<name>]`: a stdio server (`command`) or a streamable-HTTP one (`url`)."""

    command: str | None = None
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None
    url: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    timeout_secs: float = Field(default=60, gt=0)
    startup_timeout_secs: float = Field(default=30, gt=0)
    read_only: bool | None = None

    @model_validator(mode="after")
    def _one_transport(self) -> McpServerConfig:
        if (self.command is None) == (self.url is None):
            raise ValueError("set exactly one of command (stdio) or url (streamable HTTP)")
        return self


class McpConfig(StrictModel):
    servers: dict[str, McpServerConfig] = Field(default_factory=dict)

    @field_validator("servers")
    @classmethod
    def _server_names(cls, value: dict[str, McpServerConfig]) -> dict[str, McpServerConfig]:
        for name in value:
            if not name or not all(ch.isalnum() or ch in "-_" for ch in name):
                raise ValueError(f"server name {name!r} may hold only letters, digits, '-' and '_'")
        return value


class SubagentsConfig(StrictModel):
    """`[subagents]`: how deep agents that call agents may nest (the top agent is depth 0)."""

    max_depth: int = Field(default=3, ge=1, le=10)


class ExecutorConfig(StrictModel):
    """`[executor]`: where a workflow's units run (`rupu workflow run --executor`)."""

    kind: Literal["local", "ray"] = "local"
    # A Ray cluster: "auto", "ray://host:10001" or "host:6379"; unset: RAY_ADDRESS, else "auto".
    address: str | None = None
    actors_per_node: int = Field(default=1, ge=1, le=64)
    units_per_actor: int = Field(default=256, ge=1, le=100_000)


class Config(StrictModel):
    default_provider: str | None = None
    default_model: str | None = None
    permission_mode: PermissionMode | None = None
    providers: dict[str, ProviderConfig] = Field(default_factory=dict)
    routing: RoutingConfig = Field(default_factory=RoutingConfig)
    allow_unknown_model: bool = False
    pricing: dict[str, dict[str, ModelPrice]] = Field(default_factory=dict)
    tools: ToolsConfig = Field(default_factory=ToolsConfig)
    mcp: McpConfig = Field(default_factory=McpConfig)
    # short model names: `sonnet = "openai:gpt-5"` (see rupu.config.aliases)
    aliases: dict[AliasName, AliasValue] = Field(default_factory=dict)
    agents: AgentsConfig = Field(default_factory=AgentsConfig)
    subagents: SubagentsConfig = Field(default_factory=SubagentsConfig)
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig)


@dataclass(frozen=True, slots=True)
class LoadedConfig:
    """The merged config plus where each provider table was (last) defined."""

    config: Config
    files: tuple[Path, ...] = ()
    provider_files: Mapping[str, Path] = field(default_factory=dict)
    # Each file's own validated tables, as read: what the project file says apart from the global one.
    layers: Mapping[Path, Mapping[str, Any]] = field(default_factory=dict)

    def provider(self, name: str) -> ProviderConfig:
        """The provider's table; for a preset, the preset's values with the table on top."""
        declared = self.config.providers.get(name)
        if is_preset(name):
            return with_preset(name, declared)
        return declared or ProviderConfig()

    def provider_location(self, name: str) -> str:
        path = self.provider_files.get(name)
        return f"{path} [providers.{name}]" if path else f"provider '{name}'"


def load_config(paths: Paths) -> LoadedConfig:
    layers: list[tuple[Path, dict[str, Any]]] = []
    for path in (paths.global_config, paths.project_config):
        if path is not None and path.is_file():
            layers.append((path, _read_layer(path)))
    merged: dict[str, Any] = {}
    provider_files: dict[str, Path] = {}
    for path, data in layers:
        merged = deep_merge(merged, data)
        for name in data.get("providers", {}) or {}:
            provider_files[name] = path
    config = Config.model_validate(merged)
    loaded = LoadedConfig(config, tuple(p for p, _ in layers), provider_files, dict(layers))
    _check_providers(loaded)
    return loaded


def _read_layer(path: Path) -> dict[str, Any]:
    check_private(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"not valid UTF-8 at byte {exc.start}",
            location=Location(str(path)),
            hint="save it as UTF-8",
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        text_of = str(exc)
        found = re.search(r"\(at line (\d+), column (\d+)\)", text_of)
        line, column = (int(found[1]), int(found[2])) if found else (None, None)
        msg = text_of.split(" (at line", maxsplit=1)[0]
        raise ConfigError(
            f"TOML syntax error: {msg}", location=Location(str(path), line, column)
        ) from None
    except RecursionError:  # tomllib recurses once per nested array or inline table
        raise ConfigError(
            "nested too deeply to read", location=Location(str(path)), hint="flatten the nesting"
        ) from None
    try:
        Config.model_validate(data)
    except ValidationError as exc:
        raise validation_to_config_error(
            exc, Config, path=str(path), find_line=toml_line_finder(text)
        ) from None
    return data


def _provider_table(loaded: LoadedConfig, name: str) -> Location | None:
    """Where `[providers.<name>]` was (last) defined; read only when an error needs it."""
    path = loaded.provider_files.get(name)
    if path is None:
        return None
    line = toml_line_finder(path.read_text(encoding="utf-8-sig"))(["providers", name])
    return Location(str(path), line)


def _check_providers(loaded: LoadedConfig) -> None:
    for name, provider in loaded.config.providers.items():
        if name in BUILTIN_PROVIDERS and provider.kind is not None:
            raise ConfigError(
                f"'{name}' is a built-in provider name and cannot be declared with kind",
                location=_provider_table(loaded, name),
                field=f"providers.{name}",
                hint=f"rename the table, e.g. [providers.my-{name}]",
            )
        # an AWS kind's default host follows its region (a second region needs no base_url)
        needs_url = provider.kind != "claude-code" and provider.kind not in _REGIONAL_KINDS
        if (
            name not in BUILTIN_PROVIDERS
            and needs_url
            and not provider.base_url
            and not is_preset(name)
        ):
            raise ConfigError(
                f"provider '{name}' has no base_url",
                location=_provider_table(loaded, name),
                field=f"providers.{name}.base_url",
                hint='add base_url = "http://host:port/v1"',
            )


def deep_merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """Tables merge key by key; every other value (arrays included) is replaced by `top`."""
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def toml_line_finder(text: str) -> LineFinder:
    """Maps a key path like `providers.oracle.models.0.id` to the line that defines it (or the
    nearest enclosing table)."""
    entries: list[tuple[tuple[str | int, ...], int]] = []
    table: tuple[str | int, ...] = ()
    counts: dict[tuple[str | int, ...], int] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line.startswith("[["):
            name = tuple(_split_key(line[2 : line.find("]]")]))
            counts[name] = counts.get(name, -1) + 1
            table = (*name, counts[name])
            entries.append((table, number))
        elif line.startswith("["):
            table = tuple(_split_key(line[1 : line.find("]")]))
            entries.append((table, number))
        elif "=" in line and not line.startswith("#"):
            entries.append(((*table, *_split_key(line.split("=", 1)[0])), number))

    def find(loc: Sequence[str | int]) -> int | None:
        wanted = tuple(loc)
        best, best_len = None, 0
        for path, number in entries:
            if len(path) <= len(wanted) and wanted[: len(path)] == path and len(path) > best_len:
                best, best_len = number, len(path)
        return best

    return find


def _split_key(key: str) -> list[str]:
    parts: list[str] = []
    current, quote = "", ""
    for ch in key.strip():
        if quote:
            if ch == quote:
                quote = ""
            else:
                current += ch
        elif ch in "\"'":
            quote = ch
        elif ch == ".":
            parts.append(current.strip())
            current = ""
        else:
            current += ch
    parts.append(current.strip())
    return parts


def with_preset(name: str, declared: ProviderConfig | None) -> ProviderConfig:
    """The preset's settings with `declared` (the user's table) merged on top, key by key."""
    found = load_presets().get(name)
    if found is None:
        return declared or ProviderConfig()
    top = declared.model_dump(exclude_unset=True) if declared is not None else {}
    return ProviderConfig.model_validate(deep_merge(found.as_config(), top))
