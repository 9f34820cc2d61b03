"""What a project's files may only do once the user trusts the project, and the gate that refuses it.

A project's `.rupu/config.toml` and agent files are read from directories other people wrote (clones,
pull-request checkouts). Until the project is trusted (`rupu trust`), the settings below are refused
when a run would use them, before any request is sent or program started:

- anything that runs a program: a `!command` api_key, `[mcp.servers.*]`, claude-code `command`,
  `[tools.grep].ripgrep`;
- anything that would send the user's credential to a host the project picks: `base_url`,
  `sso_base_url`, `token_exchange_url`, `[providers.X.oauth]`, `headers` for a provider with a stored,
  configured or environment credential (an AWS provider always: also `control_base_url`, and its
  `profile`); an `api_key` naming an environment variable;
  `[tools.web_search]` URLs, `[tools.web_fetch] allow_private_hosts`;
- anything wider than the user's own config: `permission_mode`, `[tools.bash]` allow list, passthrough
  and limits, `[tools].result_limit`, claude-code `allowed_tools`;
- a project agent (`.rupu/agents/` or `.claude/agents/`) with `permissionMode: bypass` (Claude Code's
  `bypassPermissions`) or MCP servers of its own (`mcpServers` with a command or url), or one
  shadowing a global agent of the same name with more tools or a wider permission mode.

A value equal to the user's own (global config) value widens nothing and is allowed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rupu.agents.spec import AgentSpec, front_doc, load_agent_file
from rupu.auth.aws import AWS_KINDS, uses_aws_chain
from rupu.auth.keyref import parse_key_ref
from rupu.config import LoadedConfig, toml_line_finder
from rupu.errors import ConfigError, Location
from rupu.paths import Paths
from rupu.strict import LineFinder
from rupu.trust import TrustStore, project_files

MODE_RANK = {"readonly": 0, "ask": 1, "bypass": 2}
_URL_KEYS = ("base_url", "sso_base_url", "token_exchange_url", "headers", "oauth")
_BASH_LIMITS = {"timeout_secs": 120, "max_timeout_secs": 600, "output_limit": 100_000}
_BASH_LIMITS_MORE = {"kill_after_bytes": 64_000_000}
_SEARCH_URLS = ("brave_url", "tavily_url", "serper_url")
HasCredential = Callable[[str], bool]


@dataclass(frozen=True, slots=True)
class Finding:
    """One setting that needs a trusted project: the file it is in, where, and what it tries."""

    path: Path
    location: Location
    what: str
    key: str = ""  # the setting, e.g. "permissionMode" or "providers.openai.base_url"


class UntrustedProject(ConfigError):
    """A run would use a setting from a project the user has not trusted (exit 2)."""

    def __init__(self, finding: Finding, root: Path, *, more: int = 0) -> None:
        others = f" (and {more} more setting{'s' if more > 1 else ''})" if more else ""
        standard = finding.path.resolve() in {p.resolve() for p in project_files(root)}
        target = root if standard else finding.path
        super().__init__(
            f"{finding.what}{others}; the project {root} is not trusted",
            location=finding.location,
            hint=f"review its .rupu/ files, then run `rupu trust {target}`; or pass --trust or "
            "set RUPU_TRUST=1 for one invocation",
        )
        self.finding = finding
        self.root = root


# -- config.toml ------------------------------------------------------------------------------------
def config_findings(
    loaded: LoadedConfig, paths: Paths, has_credential: HasCredential
) -> list[Finding]:
    """Settings of the project's config.toml that need trust, read from the layers `load_config`
    already parsed and validated."""
    project = paths.project_config
    data = loaded.layers.get(project) if project is not None else None
    if project is None or data is None:
        return []
    mine = loaded.layers.get(paths.global_config, {})
    found: list[Finding] = []
    find_line: LineFinder | None = None

    def add(loc: Sequence[str], what: str) -> None:
        nonlocal find_line
        if find_line is None:  # the text is needed only to name the line of a finding
            find_line = toml_line_finder(project.read_text(encoding="utf-8-sig"))
        location = Location(str(project), find_line(list(loc)))
        found.append(Finding(project, location, what, ".".join(loc)))

    for name, table in (data.get("providers") or {}).items():
        _provider_findings(name, table, _dig(mine, "providers", name) or {}, has_credential, add)
    for name, server in (_dig(data, "mcp", "servers") or {}).items():
        if server != _dig(mine, "mcp", "servers", name):
            add(
                ["mcp", "servers", name],
                f"[mcp.servers.{name}] starts or connects to an MCP server",
            )
    _tool_findings(data.get("tools") or {}, mine.get("tools") or {}, add)
    address = _dig(data, "executor", "address")
    if address is not None and address != _dig(mine, "executor", "address"):
        add(
            ["executor", "address"],
            f"[executor] address sends your workflows' units and credentials to the Ray cluster "
            f"at {address}",
        )
    mode = data.get("permission_mode")
    if mode is not None and _rank(mode) > _rank(mine.get("permission_mode")):
        add(["permission_mode"], f'permission_mode = "{mode}" is wider than your own config')
    return found


def _provider_findings(
    name: str,
    table: Mapping[str, Any],
    mine: Mapping[str, Any],
    has_credential: HasCredential,
    add: Callable[[Sequence[str], str], None],
) -> None:
    where = ["providers", name]
    key = table.get("api_key")
    if isinstance(key, str) and key != mine.get("api_key"):
        ref = parse_key_ref(key)
        if ref.form == "command":
            add([*where, "api_key"], f"[providers.{name}] api_key runs a program (`!command`)")
        elif ref.form == "env":
            add(
                [*where, "api_key"],
                f"[providers.{name}] api_key reads your environment variable {ref.text}",
            )
    if "command" in table and table["command"] != mine.get("command"):
        add([*where, "command"], f"[providers.{name}] command runs a program")
    if "allowed_tools" in table and table["allowed_tools"] != mine.get("allowed_tools"):
        add([*where, "allowed_tools"], f"[providers.{name}] allowed_tools widens the tools")
    # An AWS provider always may have a credential (the chain reads the environment, your AWS
    # files, instance metadata), and its profile picks which of your AWS identities signs.
    aws = uses_aws_chain(name, None) or table.get("kind") in AWS_KINDS
    if aws and "profile" in table and table["profile"] != mine.get("profile"):
        add([*where, "profile"], f"[providers.{name}] profile picks one of your AWS profiles")
    keys = (*_URL_KEYS, "control_base_url") if aws else _URL_KEYS
    overrides = [k for k in keys if k in table and table[k] != mine.get(k)]
    if overrides and (aws or has_credential(name)):
        key_name = overrides[0]
        add(
            [*where, key_name],
            f"[providers.{name}] {key_name} would send your {name} credential to a host the "
            "project chose",
        )


def _tool_findings(
    tools: Mapping[str, Any], mine: Mapping[str, Any], add: Callable[[Sequence[str], str], None]
) -> None:
    bash = tools.get("bash") or {}
    my_bash = mine.get("bash") or {}
    for key in ("allow", "env_passthrough"):
        extra = set(bash.get(key) or ()) - set(my_bash.get(key) or ())
        if extra:
            add(["tools", "bash", key], f"[tools.bash] {key} adds {', '.join(sorted(extra))}")
    for key, default in {**_BASH_LIMITS, **_BASH_LIMITS_MORE}.items():
        if key in bash and bash[key] > my_bash.get(key, default):
            add(["tools", "bash", key], f"[tools.bash] {key} raises your limit")
    if "result_limit" in tools and tools["result_limit"] > mine.get("result_limit", 100_000):
        add(["tools", "result_limit"], "[tools] result_limit raises your limit")
    ripgrep = _dig(tools, "grep", "ripgrep")
    if ripgrep is not None and ripgrep != (_dig(mine, "grep", "ripgrep") or "auto"):
        add(["tools", "grep", "ripgrep"], "[tools.grep] ripgrep runs a program")
    if _dig(tools, "web_fetch", "allow_private_hosts") and not _dig(
        mine, "web_fetch", "allow_private_hosts"
    ):
        add(
            ["tools", "web_fetch", "allow_private_hosts"],
            "[tools.web_fetch] allow_private_hosts lets web_fetch reach your machine and network",
        )
    search = tools.get("web_search") or {}
    my_search = mine.get("web_search") or {}
    for key in _SEARCH_URLS:
        if key in search and search[key] != my_search.get(key):
            add(
                ["tools", "web_search", key],
                f"[tools.web_search] {key} would send your search key to a host the project chose",
            )


def _dig(data: Mapping[str, Any], *keys: str) -> Any:
    node: Any = data
    for key in keys:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


# -- agents -----------------------------------------------------------------------------------------
def in_project(paths: Paths, path: Path) -> bool:
    return paths.project is not None and path.resolve().is_relative_to(paths.project.resolve())


def agent_findings(spec: AgentSpec, paths: Paths) -> list[Finding]:
    """What a project agent file tries that needs trust: bypass, or shadowing a global agent with
    more tools or a wider permission mode."""
    if not in_project(paths, spec.path):
        return []
    front = spec.frontmatter
    found: list[Finding] = []

    def add(key: str, what: str) -> None:
        found.append(Finding(spec.path, _front_location(spec.path, key), what, key))

    if front.permission_mode == "bypass":
        add("permissionMode", f"agent '{spec.name}' asks for permissionMode: bypass")
    inline = [name for name, server in (front.mcp_servers or {}).items() if server is not None]
    if inline:
        add(
            "mcpServers",
            f"agent '{spec.name}' starts or connects to MCP servers of its own ({', '.join(inline)})",
        )
    mine = global_agent(paths, spec.name)
    if mine is None:
        return found
    theirs = mine.frontmatter
    if front.permission_mode != "bypass" and _rank(front.permission_mode) > _rank(
        theirs.permission_mode
    ):
        add(
            "permissionMode",
            f"agent '{spec.name}' shadows your global agent with a wider permission mode",
        )
    if theirs.tools is not None and (front.tools is None or set(front.tools) - set(theirs.tools)):
        add("tools", f"agent '{spec.name}' shadows your global agent with more tools")
    return found


def global_agent(paths: Paths, name: str) -> AgentSpec | None:
    directory = paths.home / "agents"
    if not directory.is_dir():
        return None
    for file in sorted(directory.glob("*.md")):
        try:
            spec = load_agent_file(file, "global")
        except ConfigError:
            continue
        if spec.name == name:
            return spec
    return None


def _rank(mode: str | None) -> int:
    return MODE_RANK.get(mode or "ask", MODE_RANK["ask"])


def _front_location(path: Path, key: str) -> Location:
    try:
        doc = front_doc(path)
    except (OSError, UnicodeDecodeError, ConfigError):
        return Location(str(path))
    return Location(str(path), doc.line([key]))


# -- the gate ---------------------------------------------------------------------------------------
Ask = Callable[[Path, Sequence[Finding]], bool]


@dataclass(slots=True)
class TrustGate:
    """Refuses findings from an untrusted project. `once` (--trust, RUPU_TRUST=1) trusts for this
    invocation without recording; `ask` (a terminal) may record trust when the user says yes."""

    paths: Paths
    once: bool = False
    ask: Ask | None = None
    _answered: bool = field(default=False, repr=False)

    def check(self, findings: Iterable[Finding]) -> None:
        root = self.paths.project
        pending = list(findings)
        if self.once or root is None or not pending:
            return
        store = TrustStore.load(self.paths.home)
        untrusted = [f for f in pending if not store.trusts(root, f.path)]
        if not untrusted:
            return
        if self.ask is not None and not self._answered:
            self._answered = True
            if self.ask(root, untrusted):
                store.trust(root, extra=[f.path for f in untrusted])
                store.save()
                return
        raise UntrustedProject(untrusted[0], root, more=len(untrusted) - 1)
