"""A session: where rupu runs (paths, environment, config) and how a run is wired from there: the
credential resolver, the secrets to keep out of tool output, the providers of a route, the tools of
an agent and the workflow engine. The CLI's context is a session; so is what the Python API builds
when the caller passes none.

Project trust is a policy of the session: settings from an untrusted project's `.rupu/` are refused
(`trust_once` accepts them for this session; `ask`, which the CLI sets on a terminal, may record the
user's trust).
"""

# lazy imports: the CLI imports the session for every command; what a run needs loads when it runs
from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from rupu.config import LoadedConfig, load_config
from rupu.paths import Paths

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager

    from rupu.agents.loop import ToolBox
    from rupu.agents.spec import AgentSpec
    from rupu.agents.trust_gate import Finding, TrustGate
    from rupu.auth.known import KnownSecrets
    from rupu.auth.resolver import CredentialResolver
    from rupu.providers.base import Provider
    from rupu.routing.history import RouteHistory
    from rupu.routing.target import RunTarget
    from rupu.tools.permissions import Decider
    from rupu.tools.setup import ToolSetup
    from rupu.workflows.engine import Engine
    from rupu.workflows.units import ToolboxOpener

AskTrust = Callable[[Path, Sequence["Finding"]], bool]


@dataclass(slots=True)
class Session:
    paths: Paths
    env: Mapping[str, str]
    trust_once: bool = False
    ask: AskTrust | None = None
    _config: LoadedConfig | None = field(default=None, repr=False)
    _gate: TrustGate | None = field(default=None, repr=False)

    @classmethod
    def from_environment(
        cls,
        *,
        cwd: Path | str | None = None,
        env: Mapping[str, str] | None = None,
        trust: bool = False,
    ) -> Session:
        """The session of a process: `RUPU_HOME` and the project found from `cwd` (default: the
        current directory). `trust` (or RUPU_TRUST=1) accepts the project's settings for this session."""
        environ = dict(os.environ if env is None else env)
        once = trust or environ.get("RUPU_TRUST", "").strip().lower() in ("1", "true", "yes")
        where = Path(cwd) if cwd is not None else Path.cwd()
        return cls(Paths.discover(environ, where.resolve()), environ, once)

    @property
    def config(self) -> LoadedConfig:
        if self._config is None:
            self._config = load_config(self.paths)
        return self._config

    # -- trust ------------------------------------------------------------------------------------
    def require_trust(
        self,
        agents: Iterable[AgentSpec] = (),
        *,
        mode_flag: str | None = None,
        extra: Iterable[Finding] = (),
    ) -> None:
        """Refuses (or asks once to trust) the project settings this run would use: its config.toml,
        the given agents and `extra` findings (a workflow's `run` steps). Call before any credential
        is resolved."""
        self.trust_gate().check([*self._findings(agents, mode_flag=mode_flag), *extra])

    def untrusted_lines(
        self,
        agents: Iterable[AgentSpec] = (),
        *,
        include_trusted: bool = False,
        extra: Iterable[Finding] = (),
    ) -> list[str]:
        """`file:line: what` for each setting that a run would refuse until the project is trusted
        (with `include_trusted`, also those the user already trusted)."""
        from rupu.trust import TrustStore

        root = self.paths.project
        if root is None or (self.trust_once and not include_trusted):
            return []
        findings = [*self._findings(agents), *extra]
        if not findings:
            return []
        store = TrustStore.load(self.paths.home)
        return [
            f"{f.location}: {f.what}"
            for f in findings
            if include_trusted or not store.trusts(root, f.path)
        ]

    def _findings(
        self, agents: Iterable[AgentSpec], *, mode_flag: str | None = None
    ) -> list[Finding]:
        from rupu.agents.trust_gate import agent_findings, config_findings

        _ = self.config  # a broken file is reported as such first, not as a trust problem
        findings: list[Finding] = config_findings(self.config, self.paths, self._has_credential)
        # An agent built in code has no file: whoever wrote the code already trusts it.
        files = {s.path: s for s in agents if s.path.is_file()}
        for spec in files.values():
            found = agent_findings(spec, self.paths)
            if mode_flag is not None:
                found = [f for f in found if f.key != "permissionMode"]
            findings.extend(found)
        return findings

    def trust_gate(self) -> TrustGate:
        from rupu.agents.trust_gate import TrustGate

        if self._gate is None:
            self._gate = TrustGate(self.paths, self.trust_once, self.asker())
        return self._gate

    def asker(self) -> AskTrust | None:
        """Who is asked to trust the project (None: nobody; untrusted settings are refused)."""
        return self.ask

    def _has_credential(self, provider: str) -> bool:
        """A stored, globally configured or environment credential exists for `provider`."""
        from rupu.auth.resolver import CredentialResolver

        mine = load_config(Paths(self.paths.home, None, self.paths.cwd))
        plan = CredentialResolver.from_environment(self.paths, self.env, mine).plan(provider)
        return plan.store_error is not None or any(c.found for c in plan.candidates)

    # -- wiring -----------------------------------------------------------------------------------
    def credential_resolver(self) -> CredentialResolver:
        from rupu.auth.resolver import CredentialResolver

        return CredentialResolver.from_environment(self.paths, self.env, self.config)

    def route_history(self) -> RouteHistory:
        """Latency, errors and rate limits seen per provider and model (`$RUPU_HOME/routing/`),
        read by tier resolution and written by each run's route."""
        from rupu.routing.history import RouteHistory

        return RouteHistory.under(self.paths.home)

    def known_secrets(self) -> KnownSecrets:
        """Every secret this process can know of, the credential store's included (read when the
        tools open)."""
        from rupu.auth.known import KnownSecrets
        from rupu.auth.store import AuthStorage

        store = AuthStorage(self.paths.home, env=self.env)
        return KnownSecrets(self.env, self.config, store=store)

    def build_provider(
        self, target: RunTarget, *, fallbacks: Sequence[str] = ()
    ) -> tuple[Provider, str]:
        """The provider instance (a route: `target`, then `fallbacks`, then [routing]
        local_fallback, sharing the process-wide cooldowns) and a description of the credential it
        uses (never the secret). Blocks (credential store): call it off the event loop."""
        from rupu.routing.plan import build_route_provider, route_for_target

        resolver = self.credential_resolver()
        route = route_for_target(
            target, self.config, self.env, fallbacks=fallbacks, resolver=resolver
        )
        provider = build_route_provider(route, self.config, history=self.route_history())
        return provider, route.candidates[0].credential

    def tool_setup(
        self,
        spec: AgentSpec,
        *,
        mode: str | None = None,
        workspace: Path | None = None,
        decider: Decider | None = None,
        notify: Callable[[str], None] | None = None,
        secrets: KnownSecrets | None = None,
    ) -> ToolSetup:
        """How `spec`'s tools open: the permission mode (`mode` > agent > config > ask), the
        workspace (default: the current directory) and who decides what `ask` asks (default: deny)."""
        from rupu.tools.permissions import DenyDecider, resolve_mode
        from rupu.tools.setup import ToolSetup

        chosen, source = resolve_mode(
            cli=mode,
            agent=spec.frontmatter.permission_mode,
            config=self.config.config.permission_mode,
        )
        return ToolSetup(
            loaded=self.config,
            env=self.env,
            workspace=(workspace or self.paths.cwd).resolve(),
            mode=chosen,
            mode_source=source,
            decider=decider or DenyDecider(),
            private=[self.paths.home],
            log_dir=self.paths.home / "logs",
            notify=notify,
            secrets=secrets or self.known_secrets(),
            protected=[str(self.paths.home)],
        )

    def toolbox_opener(self, *, mode: str | None = None) -> ToolboxOpener:
        """Opens the tools of each agent run of a workflow. Steps never prompt: a write or command
        that `ask` would prompt for is denied."""
        from rupu.tools.permissions import resolve_mode
        from rupu.tools.setup import open_toolbox

        resolve_mode(cli=mode)  # an unknown mode fails before anything runs
        secrets = self.known_secrets()  # one for the run: the store is read once, not per unit

        def opener(agent: AgentSpec) -> AbstractAsyncContextManager[ToolBox | None]:
            setup = self.tool_setup(agent, mode=mode, secrets=secrets)
            return open_toolbox(setup, agent=agent.name, patterns=agent.frontmatter.tools)

        return opener

    def command_setup(self, *, mode: str | None = None) -> ToolSetup:
        """How a workflow's `run` steps run their commands: the bash tool's gate with the mode
        (`mode` > config > ask; never prompting), workspace and scrubbed environment."""
        from rupu.tools.permissions import DenyDecider, resolve_mode
        from rupu.tools.setup import ToolSetup

        chosen, source = resolve_mode(cli=mode, config=self.config.config.permission_mode)
        return ToolSetup(
            loaded=self.config,
            env=self.env,
            workspace=self.paths.cwd.resolve(),
            mode=chosen,
            mode_source=source,
            decider=DenyDecider(),
            private=[self.paths.home],
            log_dir=self.paths.home / "logs",
            secrets=self.known_secrets(),
            protected=[str(self.paths.home)],
        )

    def engine(self, *, mode: str | None = None) -> Engine:
        """The workflow engine with this session's providers, each agent's tools and the trust
        check of every agent a plan uses."""
        from rupu.workflows.engine import Engine
        from rupu.workflows.plan import trust_findings

        return Engine(
            self.paths,
            self.config,
            lambda target: self.build_provider(target, fallbacks=target.fallbacks),
            toolbox=self.toolbox_opener(mode=mode),
            commands=self.command_setup(mode=mode),
            check_plan=lambda plan: self.require_trust(
                [call.agent for call in plan.all_calls()],
                mode_flag=mode,
                extra=trust_findings(plan, self.paths),
            ),
        )
