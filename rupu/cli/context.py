"""What every command receives: the session (paths, the environment and the loaded config, read on
first use) with the CLI's trust prompt and `--debug`."""

# lazy imports: a command loads what it needs when it runs, so `rupu --help` stays fast
from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rupu.api.session import AskTrust, Session
from rupu.paths import Paths

if TYPE_CHECKING:
    from rupu.agents.trust_gate import Finding


@dataclass(slots=True)
class AppContext(Session):
    debug: bool = False

    @classmethod
    def from_environment(  # type: ignore[override]
        cls, *, debug: bool = False, trust: bool = False
    ) -> AppContext:
        from rupu.openfiles import raise_soft_limit

        raise_soft_limit()
        env = dict(os.environ)
        once = trust or env.get("RUPU_TRUST", "").strip().lower() in ("1", "true", "yes")
        return cls(Paths.discover(env, Path.cwd()), env, trust_once=once, debug=debug)

    def asker(self) -> AskTrust | None:
        """On a terminal, the user is asked once whether to trust the project."""
        return _ask if sys.stdin.isatty() and sys.stderr.isatty() else None


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
