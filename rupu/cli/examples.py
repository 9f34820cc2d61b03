"""The examples at the end of every command's `--help`, and the groups of `rupu --help`.

They live in one table, not in each command's docstring, so a test can check that every command has
two to four and that each one parses against the command it documents.
"""

from __future__ import annotations

import click

Example = tuple[str, str]  # (command line, what it does)

GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Run", ("run", "chat", "workflow", "executor")),
    ("Look back", ("session", "transcript", "usage", "cache")),
    ("Set up", ("init", "agent", "auth", "models", "trust", "untrust", "completion")),
)

EXAMPLES: dict[str, tuple[Example, ...]] = {
    "rupu": (
        ("rupu init", "start a project with sample agents and a workflow"),
        ('rupu run --agent hello "Hello"', "run one agent"),
        ("rupu workflow run sample --provider mock", "run a workflow offline"),
    ),
    "rupu init": (
        ("rupu init", "here"),
        ("rupu init ~/src/myproject", "elsewhere (created if missing)"),
        ("rupu init --force", "restore the starter files"),
    ),
    "rupu completion": (
        ("rupu completion bash --install", "then open a new shell"),
        ('eval "$(rupu completion zsh)"', "this zsh session only"),
        ("rupu completion fish > ~/.config/fish/completions/rupu.fish", "by hand"),
    ),
    "rupu run": (
        ('rupu run --agent hello "Hello"', "an installed agent, by name"),
        ("git diff | rupu run --agent reviewer -", "the prompt from stdin"),
        (
            'rupu run --continue --provider openai "Now fix what you found"',
            "go on with the latest session here, on another provider",
        ),
        ('rupu run --agent hello --report run.html "Hi"', "and a report page of the run"),
    ),
    "rupu agent": (
        ("rupu agent list", "every agent rupu finds"),
        ("rupu agent show reviewer", "one agent's settings and where each came from"),
    ),
    "rupu agent list": (
        ("rupu agent list", "a table"),
        ("rupu agent list --format json", "for scripts"),
    ),
    "rupu agent show": (
        ("rupu agent show reviewer", "by name"),
        ("rupu agent show agents/hello.md", "by path"),
    ),
    "rupu auth": (
        ("rupu auth login --provider anthropic", "store an API key (read from stdin)"),
        ("rupu auth login --provider openai --mode sso", "sign in with ChatGPT"),
        ("rupu auth status", "what is stored and what a run would use"),
    ),
    "rupu auth login": (
        ("printenv ANTHROPIC_API_KEY | rupu auth login --provider anthropic", "a key from stdin"),
        ("rupu auth login --provider gemini --mode sso", "sign in with Google"),
        (
            "rupu auth login --provider copilot --mode sso --host ghe.example.com",
            "GitHub Enterprise",
        ),
    ),
    "rupu auth logout": (
        ("rupu auth logout --provider openai --mode sso", "forget the ChatGPT sign-in"),
        ("rupu auth logout --all", "forget every stored credential"),
    ),
    "rupu auth status": (
        ("rupu auth status", "a table"),
        ("rupu auth status --format json", "for scripts"),
    ),
    "rupu auth backend": (
        ("rupu auth backend", "where credentials are stored now"),
        ("RUPU_AUTH_PASSPHRASE=... rupu auth backend --use encrypted-file", "an encrypted file"),
    ),
    "rupu models": (
        ("rupu models list --provider anthropic", "one provider's models and prices"),
        ("rupu models refresh", "fetch the providers' live lists"),
    ),
    "rupu models list": (
        ("rupu models list", "every provider"),
        ("rupu models list --provider openai --format csv", "one provider, as CSV"),
    ),
    "rupu models routes": (
        ("rupu models routes", "every tier, in the order a run tries its models"),
        ("rupu models routes --tier fast --format json", "one tier, for scripts"),
    ),
    "rupu models refresh": (
        ("rupu models refresh", "every provider with a credential"),
        ("rupu models refresh --provider gemini", "one provider"),
    ),
    "rupu chat": (
        ("rupu chat --agent reviewer", "a new conversation (/help inside lists the commands)"),
        ("rupu chat --continue", "go on with the latest session in this directory"),
        ("rupu chat --agent hello --provider mock", "offline, on the mock provider"),
    ),
    "rupu session": (
        ("rupu session list", "sessions started in this directory"),
        ("rupu session show", "the latest one's conversation"),
        ("rupu session rm ses_01J", "remove one and its transcripts"),
    ),
    "rupu session list": (
        ("rupu session list", "this directory's, most recently used first"),
        ("rupu session list --all --format json", "every directory's, for scripts"),
    ),
    "rupu session show": (
        ("rupu session show", "the latest session in this directory"),
        ("rupu session show ses_01J --hide-thinking", "one session (a unique prefix is enough)"),
        ("rupu session show ses_01J --format json", "the messages as rupu replays them"),
    ),
    "rupu session rm": (
        ("rupu session rm ses_01J", "the session and its runs' transcripts"),
        ("rupu session rm ses_01J ses_01K --keep-transcripts", "only the session records"),
    ),
    "rupu transcript": (
        ("rupu transcript list", "recent runs"),
        ("rupu transcript show run_01J", "one run (a unique prefix of its id is enough)"),
    ),
    "rupu transcript list": (
        ("rupu transcript list", "the 50 newest"),
        ("rupu transcript list --limit 5 --format json", "for scripts"),
    ),
    "rupu transcript show": (
        ("rupu transcript show run_01J", "readable"),
        ("rupu transcript show run_01J --format jsonl", "the raw records"),
    ),
    "rupu usage": (
        ("rupu usage", "totals by provider"),
        ("rupu usage --since 7d --group-by model", "the last week, by model"),
        ("rupu usage --group-by workflow --format csv", "workflow runs, as CSV"),
    ),
    "rupu cache": (
        ("rupu cache stats", "what is cached and how often it was reused"),
        ("rupu cache clear --step review", "forget one step's results"),
    ),
    "rupu cache stats": (
        ("rupu cache stats", "a table"),
        ("rupu cache stats --format json", "for scripts"),
    ),
    "rupu cache clear": (
        ("rupu cache clear", "everything"),
        ("rupu cache clear --older-than 7d", "results older than a week"),
    ),
    "rupu trust": (
        ("rupu trust", "the current project"),
        ("rupu trust ~/src/theirs", "another project"),
        ("rupu trust --list", "every trusted project"),
    ),
    "rupu untrust": (
        ("rupu untrust", "the current project"),
        ("rupu untrust ~/src/theirs", "another project"),
    ),
    "rupu workflow": (
        ("rupu workflow list", "every workflow rupu finds"),
        ("rupu workflow run sample --provider mock", "a dry run, offline"),
        ("rupu workflow runs", "recent runs"),
    ),
    "rupu workflow run": (
        ("rupu workflow run sample", "by name"),
        ("rupu workflow run workflows/fanout.yaml --input text=Hi", "by path, with an input"),
        ("rupu workflow run sample --provider mock --plain", "offline, line by line"),
        ("rupu workflow run sample --max-usd 2 --cache", "at most $2, reusing cached units"),
    ),
    "rupu executor": (
        ("rupu executor check --executor ray", "the Ray cluster's nodes"),
        ("RAY_ADDRESS=head:6379 rupu executor check --executor ray", "another cluster"),
    ),
    "rupu executor check": (
        ("rupu executor check", "the configured executor"),
        ("rupu executor check --executor ray", "nodes, CPUs, capacity, workspace"),
    ),
    "rupu workflow list": (
        ("rupu workflow list", "a table"),
        ("rupu workflow list --format json", "for scripts"),
    ),
    "rupu workflow show": (
        ("rupu workflow show sample", "its steps and where each runs"),
        ("rupu workflow show sample --provider mock", "as it would run on mock"),
    ),
    "rupu workflow graph": (
        ("rupu workflow graph sample", "Mermaid, for Markdown that renders it"),
        ("rupu workflow graph sample --format svg -o sample.svg", "a picture, drawn by rupu"),
        ("rupu workflow graph sample --format dot | dot -Tpng > sample.png", "through Graphviz"),
    ),
    "rupu workflow report": (
        ("rupu workflow report run_01J", "writes run_01J....html here"),
        ("rupu workflow report run_01J -o report.html --open", "and opens it"),
    ),
    "rupu workflow runs": (
        ("rupu workflow runs", "the 50 newest"),
        ("rupu workflow runs --workflow sample --limit 5", "one workflow's"),
    ),
    "rupu workflow show-run": (
        ("rupu workflow show-run run_01J", "steps, units and results"),
        ("rupu workflow show-run run_01J --format json", "for scripts"),
    ),
    "rupu workflow resume": (
        ("rupu workflow resume run_01J", "re-run only what did not finish"),
        ("rupu workflow resume run_01J --plain", "line by line"),
        ("rupu workflow resume run_01J --executor local", "a run started on Ray, here"),
    ),
    "rupu workflow approve": (
        ("rupu workflow approve run_01J", "the one step waiting"),
        ("rupu workflow approve run_01J --step deploy", "when several wait"),
    ),
    "rupu workflow reject": (
        ("rupu workflow reject run_01J --reason 'not today'", "the one step waiting"),
        ("rupu workflow reject run_01J --step deploy", "when several wait"),
    ),
}


def epilog(path: str) -> str | None:
    """The examples of the command at `path` (e.g. `rupu workflow run`), formatted for its help."""
    examples = EXAMPLES.get(path)
    if not examples:
        return None
    width = max(len(line) for line, _ in examples)
    rows = [f"  {line.ljust(width)}  # {why}" for line, why in examples]
    return "\b\nExamples:\n" + "\n".join(rows)


def attach(command: click.Command, path: str) -> click.Command:
    """Gives `command` (and, for a group, its subcommands) the examples of the table."""
    if command.epilog is None:
        command.epilog = epilog(path)
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            attach(sub, f"{path} {name}")
    return command
