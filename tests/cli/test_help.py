"""Every command's `--help` ends with two to four examples that parse against that very command,
and `rupu --help` lists the commands in groups."""

from __future__ import annotations

import shlex

import click
import pytest

from rupu.cli.examples import EXAMPLES, GROUPS
from rupu.cli.main import COMMANDS, cli
from tests.conftest import run_rupu


def _tree() -> dict[str, click.Command]:
    ctx = click.Context(cli)
    found: dict[str, click.Command] = {}

    def walk(command: click.Command, path: str) -> None:
        found[path] = command
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                assert sub is not None
                walk(sub, f"{path} {name}")

    walk(cli, "rupu")
    return found


TREE = _tree()


def _rupu_words(line: str) -> list[str]:
    """The words of the `rupu ...` part of a shell line (after a pipe, inside `$(...)`, before `>`)."""
    segment = line[line.index("rupu ") :]
    if "$(rupu " in line:
        segment = segment.split(")", 1)[0]
    return shlex.split(segment.split(" > ", 1)[0].split(" | ", 1)[0])


def _parse(words: list[str]) -> str:
    """Parses `words` as click would, without running anything; returns the command path reached.
    (No example passes a group's own options, so each word before the first option names a
    subcommand.)"""
    # Each context has its parent, as in a real invocation: click remembers a command's help
    # option, and a parentless context would give it names without `-h`.
    ctx = click.Context(cli, info_name="rupu", **cli.context_settings)
    command: click.Command = cli
    path, rest = "rupu", words[1:]
    while isinstance(command, click.Group) and rest and not rest[0].startswith("-"):
        sub = command.get_command(ctx, rest[0])
        assert sub is not None, f"no command {path} {rest[0]}"
        if isinstance(sub, click.Group):
            ctx = click.Context(sub, info_name=rest[0], parent=ctx)
        command, path, rest = sub, f"{path} {rest[0]}", rest[1:]
    command.make_context(path.split()[-1], rest, parent=ctx, resilient_parsing=False)
    return path


@pytest.mark.parametrize("path", sorted(TREE))
def test_every_command_has_two_to_four_examples_that_parse(path: str) -> None:
    examples = EXAMPLES.get(path, ())
    assert 2 <= len(examples) <= 4, f"{path}: add 2-4 examples to rupu/cli/examples.py"
    for line, why in examples:
        assert why, line
        reached = _parse(_rupu_words(line))
        assert reached == path or reached.startswith(f"{path} "), (line, reached)


def test_examples_table_names_only_real_commands() -> None:
    assert set(EXAMPLES) <= set(TREE)


def test_help_ends_with_the_examples() -> None:
    result = run_rupu("workflow", "run", "--help")
    assert result.code == 0, result.stderr
    examples = EXAMPLES["rupu workflow run"]
    tail = result.stdout.rstrip().splitlines()[-len(examples) - 1 :]
    assert tail[0].strip() == "Examples:"
    assert [line.split("#")[0].strip() for line in tail[1:]] == [line for line, _ in examples]


def test_top_level_help_groups_every_command() -> None:
    result = run_rupu("--help")
    assert result.code == 0, result.stderr
    titles = [f"{title}:" for title, _ in GROUPS]
    lines = result.stdout.splitlines()
    assert [line for line in lines if line in titles] == titles
    listed = {
        line.split()[0] for line in lines if line.startswith("  ") and not line.startswith("   ")
    }
    assert set(COMMANDS) <= listed
    assert "Other commands:" not in lines
