"""docs/cli.md: every command's `--help`, generated from the Click command tree.

`python -m rupu.cli.reference` rewrites the page; a test fails when the page and the tree differ.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from rupu.cli.main import cli

WIDTH = 100
HEADER = """# Command reference

Every `rupu` command's `--help`, generated from the commands themselves
(`python -m rupu.cli.reference` rewrites this page; a test fails when it is out of date).
Exit codes are listed in [errors](errors.md).
"""


def commands() -> list[tuple[str, click.Context]]:
    """(path, context) for every command, depth first, in the order `--help` lists them."""
    found: list[tuple[str, click.Context]] = []

    def walk(command: click.Command, name: str, parent: click.Context | None) -> None:
        settings = {**command.context_settings, "terminal_width": WIDTH, "max_content_width": WIDTH}
        ctx = click.Context(command, info_name=name, parent=parent, **settings)
        found.append((ctx.command_path, ctx))
        if isinstance(command, click.Group):
            for sub_name in command.list_commands(ctx):
                sub = command.get_command(ctx, sub_name)
                if sub is not None and not sub.hidden:
                    walk(sub, sub_name, ctx)

    walk(cli, "rupu", None)
    return found


def render() -> str:
    parts = [HEADER]
    for path, ctx in commands():
        parts.append(f"\n## `{path}`\n\n```text\n{ctx.command.get_help(ctx).rstrip()}\n```\n")
    return "".join(parts)


def main() -> None:
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/cli.md")
    target.write_text(render(), encoding="utf-8")
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
