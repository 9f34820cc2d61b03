"""The `rupu` command. Subcommands load on first use so `rupu --help` stays fast; only `main()` turns
a `RupuError` into an exit code and a one-line message."""

# lazy imports: a command loads what it needs when it runs, so `rupu --help` stays fast
from __future__ import annotations

import importlib
import os
import sys
import traceback
from typing import TYPE_CHECKING, Any

import click

from rupu.cli.examples import GROUPS, attach, epilog
from rupu.version import __version__

if TYPE_CHECKING:
    from rupu.errors import RupuError

# name -> (module, attribute, one-line help). Help text lives here so listing commands imports nothing.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "init": ("rupu.cli.init", "init", "Start a project: sample agents, a workflow and a config."),
    "run": ("rupu.cli.run", "run", "Run one agent on a prompt, streaming its answer."),
    "agent": ("rupu.cli.agent", "agent", "List and show agents."),
    "transcript": ("rupu.cli.transcript", "transcript", "List and show run transcripts."),
    "session": ("rupu.cli.session", "session", "List, show and remove sessions (conversations)."),
    "chat": ("rupu.cli.chat", "chat", "Talk with an agent in the terminal, turn by turn."),
    "models": ("rupu.cli.models", "models", "List models and prices; refresh the live lists."),
    "usage": ("rupu.cli.usage", "usage", "Token and cost totals from transcripts and runs."),
    "auth": ("rupu.cli.auth", "auth", "Sign in to providers and manage stored credentials."),
    "workflow": ("rupu.cli.workflow", "workflow", "Run, list, show and resume workflows."),
    "executor": ("rupu.cli.executor", "executor", "Check where workflow units run (local, Ray)."),
    "completion": (
        "rupu.cli.completion",
        "completion",
        "Print or install the shell completion script (bash, zsh, fish).",
    ),
    "cache": ("rupu.cli.cache", "cache", "Show or clear the step cache of workflow units."),
    "trust": (
        "rupu.cli.trust",
        "trust",
        "Trust a project's .rupu/ settings, or list trusted ones.",
    ),
    "untrust": ("rupu.cli.trust", "untrust", "Forget the trust given to a project."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module, attribute, _ = entry
        command: click.Command = getattr(importlib.import_module(module), attribute)
        return attach(command, f"rupu {cmd_name}")

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        listed = set(self.list_commands(ctx))
        grouped: list[tuple[str, list[str]]] = [
            (title, [name for name in names if name in listed]) for title, names in GROUPS
        ]
        others = sorted(listed - {name for _, names in grouped for name in names})
        for title, names in [*grouped, ("Other commands", others)]:
            if names:
                with formatter.section(title):
                    formatter.write_dl([(name, COMMANDS[name][2]) for name in names])


@click.group(
    cls=LazyGroup,
    invoke_without_command=True,
    epilog=epilog("rupu"),
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.option(
    "--trust",
    "trust_once",
    is_flag=True,
    help="Trust the current project's .rupu/ settings for this invocation only (also RUPU_TRUST=1).",
)
@click.version_option(__version__, prog_name="rupu")
@click.pass_context
def cli(ctx: click.Context, debug: bool, trust_once: bool) -> None:
    """rupu: multi-agent workflows from Markdown agent files.

    State lives in $RUPU_HOME (default ~/.rupu); a project's .rupu/ directory layers on top.
    """
    from rupu.cli.context import AppContext

    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())
        return
    ctx.obj = AppContext.from_environment(debug=debug, trust=trust_once)


def main(argv: list[str] | None = None) -> Any:
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        return cli.main(args=argv, prog_name="rupu", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("rupu: interrupted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("rupu: interrupted", err=True)
        sys.exit(130)
    except Exception as raised:
        from rupu.errors import Interrupted

        error = _expected_error(raised)
        if error is None:
            raise
        if debug:  # the traceback is extra detail: the line and the exit code stay the same
            traceback.print_exception(raised, file=sys.stderr)
        label = "rupu:" if isinstance(error, Interrupted) else "rupu: error:"
        click.echo(f"{label} {error.one_line()}", err=True)
        sys.exit(error.exit_code)
    finally:
        if sys.stdout and not sys.stdout.closed:
            try:
                sys.stdout.flush()
            except BrokenPipeError:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, sys.stdout.fileno())


def _expected_error(exc: BaseException) -> RupuError | None:
    """The `RupuError` to report for `exc`: itself, or the first one inside an exception group (a task
    group wraps what its body raised) whose other members are rupu errors or cancellations. Anything
    else in the group is unexpected and keeps its traceback."""
    from asyncio import CancelledError  # lazy: only on the error path; `rupu --help` stays fast

    from rupu.errors import RupuError

    if isinstance(exc, RupuError):
        return exc
    if not isinstance(exc, BaseExceptionGroup):
        return None
    expected, unexpected = exc.split(lambda e: isinstance(e, RupuError | CancelledError))
    if unexpected is not None or expected is None:
        return None
    leaves = [e for e in _leaves(expected) if isinstance(e, RupuError)]
    return leaves[0] if leaves else None


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for member in exc.exceptions for leaf in _leaves(member)]
    return [exc]
