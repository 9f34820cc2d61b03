"""`rupu completion bash|zsh|fish [--install]`: the shell's completion script for rupu."""

# lazy imports: a command loads what it needs when it runs, so `rupu --help` stays fast
from __future__ import annotations

import os
from pathlib import Path

import click

SHELLS = ("bash", "zsh", "fish")
COMPLETE_VAR = "_RUPU_COMPLETE"


def script(shell: str) -> str:
    from click.shell_completion import get_completion_class

    from rupu.cli.main import cli

    completer = get_completion_class(shell)
    assert completer is not None, shell
    return completer(cli, {}, "rupu", COMPLETE_VAR).source()


def install_path(shell: str, env: dict[str, str]) -> Path:
    """Where each shell reads completions without further set-up (zsh: a directory to add to fpath)."""
    home = Path(env.get("HOME") or Path.home())
    data = Path(env.get("XDG_DATA_HOME") or home / ".local" / "share")
    config = Path(env.get("XDG_CONFIG_HOME") or home / ".config")
    match shell:
        case "bash":
            return data / "bash-completion" / "completions" / "rupu"
        case "zsh":
            return Path(env.get("ZDOTDIR") or home) / ".zfunc" / "_rupu"
        case _:
            return config / "fish" / "completions" / "rupu.fish"


@click.command()
@click.argument("shell", type=click.Choice(SHELLS))
@click.option("--install", is_flag=True, help="Write the script where the shell reads it.")
def completion(shell: str, install: bool) -> None:
    """Print the completion script for SHELL, or install it. Agent, workflow, provider and model
    names, run ids and transcript ids complete from what is on this machine (no network).
    """
    from rupu.atomicfile import replace_file

    text = script(shell)
    if not install:
        click.echo(text, nl=False)
        return
    env = dict(os.environ)
    target = install_path(shell, env)
    target.parent.mkdir(parents=True, exist_ok=True)
    replace_file(target, text.encode())
    target.chmod(0o644)
    click.echo(f"wrote {target}")
    match shell:
        case "bash":
            click.echo("bash loads it in new shells when the bash-completion package is installed;")
            click.echo(f"without it, add to ~/.bashrc:  source {target}")
        case "zsh":
            click.echo(f"add to ~/.zshrc, before compinit:  fpath=({target.parent} $fpath)")
            click.echo("then open a new shell")
        case _:
            click.echo("fish loads it in new shells")
