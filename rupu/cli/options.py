"""Options that several commands take with the same meaning (`run` and `chat`)."""

from __future__ import annotations

from pathlib import Path

import click

AUTH = click.option(
    "--auth",
    type=click.Choice(["api-key", "sso", "adc"]),
    help="Force a credential mode (adc: Google Application Default Credentials, Vertex AI).",
)
MODE = click.option(
    "--mode",
    type=click.Choice(["ask", "bypass", "readonly"]),
    help="Permission mode for tools (overrides the agent and config; default ask).",
)
WORKSPACE = click.option(
    "--workspace",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Directory the tools work in (default: the current directory).",
)
