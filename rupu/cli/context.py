"""What every command receives: paths, the environment and the loaded config (read on first use)."""

# lazy imports: a command loads what it needs when it runs, so `rupu --help` stays fast
from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from rupu.config import LoadedConfig, load_config
from rupu.paths import Paths

if TYPE_CHECKING:
    from rupu.agents.spec import AgentSpec
    from rupu.agents.trust_gate import Finding, TrustGate


@dataclass(slots=True)
class AppContext:
    paths: Paths
    env: Mapping[str, str]
    debug: bool = False
    trust_once: bool = False
    _config: LoadedConfig | None = field(default=None, repr=False)
    _gate: TrustGate | None = field(default=None, repr=False)

    @classmethod
    def from_environment(cls, *, debug: bool = False, trust: bool = False) -> AppContext:
        from rupu.openfiles import raise_soft_limit

        raise_soft_limit()
        env = dict(os.environ)
        once = trust or env.get("RUPU_TRUST", "").strip().lower() in ("1", "true", "yes")
        return cls(Paths.discover(env, Path.cwd()), env, debug, once)

    @property
    def config(self) -> LoadedConfig:
        if self._config is None:
            self._config = load_config(self.paths)
        return self._config

    def require_trust(
        self, agents: Iterable[AgentSpec] = (), *, mode_flag: str | None = None
    ) -> None:
        """Refuses (or, on a terminal, asks once to trust) the project settings this invocation would
        use: its config.toml and the given agents. Call before any credential is resolved."""
        self.trust_gate().check(self._findings(agents, mode_flag=mode_flag))

    def untrusted_lines(
        self, agents: Iterable[AgentSpec] = (), *, include_trusted: bool = False
    ) -> list[str]:
        """`file:line: what` for each setting that a run would refuse until the project is trusted
        (with `include_trusted`, also those the user already trusted)."""
        from rupu.trust import TrustStore

        root = self.paths.project
        if root is None or (self.trust_once and not include_trusted):
            return []
        findings = self._findings(agents)
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
        findings: list[Finding] = config_findings(self.paths, self._has_credential)
        for spec in {s.path: s for s in agents}.values():
            found = agent_findings(spec, self.paths)
            if mode_flag is not None:
                found = [f for f in found if f.key != "permissionMode"]
            findings.extend(found)
        return findings

    def trust_gate(self) -> TrustGate:
        from rupu.agents.trust_gate import TrustGate

        if self._gate is None:
            interactive = sys.stdin.isatty() and sys.stderr.isatty()
            self._gate = TrustGate(self.paths, self.trust_once, _ask if interactive else None)
        return self._gate

    def _has_credential(self, provider: str) -> bool:
        """A stored, globally configured or environment credential exists for `provider`."""
        from rupu.auth.resolver import CredentialResolver

        mine = load_config(Paths(self.paths.home, None, self.paths.cwd))
        plan = CredentialResolver.from_environment(self.paths, self.env, mine).plan(provider)
        return plan.store_error is not None or any(c.found for c in plan.candidates)


def _ask(root: Path, findings: Sequence[Finding]) -> bool:
    import click

    click.echo(f"rupu: the project {root} has settings that need your trust:", err=True)
    for finding in findings:
        click.echo(f"  {finding.location}: {finding.what}", err=True)
    try:
        return click.confirm(
            f"Trust the project {root}? Its .rupu/ files may then run programs and use your "
            "credentials",
            default=False,
            err=True,
        )
    except click.Abort:
        return False
