"""`CliRunner`: the `rupu` command run in this process, with its own `RUPU_HOME`.

It calls `rupu.cli.main.main()` itself, so errors become exit codes and one-line messages exactly as
in a real process, and providers registered with `use_provider()` serve the run. Process-wide state
that a new process would not have (providers cooling down after a rate limit) is cleared first.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

from click.testing import CliRunner as ClickRunner

from rupu.cli.main import main
from rupu.routing.cooldown import COOLDOWNS


@dataclass(frozen=True, slots=True)
class CliResult:
    exit_code: int
    stdout: str
    stderr: str
    exception: BaseException | None = None
    """An unexpected exception (not a `RupuError`) that escaped `main()`; exit code 1."""

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


class CliRunner:
    """Runs `rupu ARGS` in-process. `home` is the `RUPU_HOME` of every invocation (default: a fresh
    temporary directory, removed by `close()` or at the end of a `with` block); `env` is added to
    the process environment for each invocation (a `None` value unsets a variable), and `cwd` is the working directory (the project
    whose `.rupu/` is found). Not thread-safe: it swaps `sys.stdout`, the environment and the working
    directory while a command runs."""

    def __init__(
        self,
        *,
        home: Path | None = None,
        env: Mapping[str, str | None] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self._owned: Path | None = None
        if home is None:
            home = self._owned = Path(tempfile.mkdtemp(prefix="rupu-home-"))
        self.home = home
        self.env = dict(env or {})
        self.cwd = cwd

    def invoke(
        self,
        args: Sequence[str],
        *,
        input: str | None = None,
        env: Mapping[str, str | None] | None = None,
        cwd: Path | None = None,
    ) -> CliResult:
        """`rupu *args` with `input` on stdin; `env` adds to the runner's environment for this call."""
        # A real process starts with no provider resting; neither does an invocation here.
        COOLDOWNS.clear()
        overrides: dict[str, str | None] = {**self.env, **(env or {}), "RUPU_HOME": str(self.home)}
        runner = ClickRunner()
        exit_code = 0
        exception: BaseException | None = None
        where = cwd or self.cwd
        with (
            runner.isolation(input=input or "", env=overrides) as (stdout, stderr, _),
            contextlib.chdir(where) if where is not None else contextlib.nullcontext(),
        ):
            try:
                main(list(args))
            except SystemExit as exc:
                exit_code = _exit_code(exc.code)
            except Exception as exc:  # unexpected: a real process would print a traceback
                exit_code, exception = 1, exc
            finally:
                with contextlib.suppress(ValueError):
                    sys.stdout.flush()
                    sys.stderr.flush()
            out = stdout.getvalue().decode("utf-8", "replace")
            err = stderr.getvalue().decode("utf-8", "replace")
        return CliResult(exit_code, out, err, exception)

    def close(self) -> None:
        if self._owned is not None:
            shutil.rmtree(self._owned, ignore_errors=True)
            self._owned = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _exit_code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    return 1  # `sys.exit("message")`
