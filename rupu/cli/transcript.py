"""`rupu transcript list|show`."""

# lazy imports: a command loads what it needs when it runs, so `rupu --help` stays fast
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from rupu.cli import complete

if TYPE_CHECKING:
    from rupu.cli.context import AppContext


@click.group()
def transcript() -> None:
    """List and show run transcripts ($RUPU_HOME/transcripts)."""


@transcript.command("list")
@click.option("--limit", default=50, show_default=True, help="Show at most this many runs.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.pass_obj
def list_transcripts_cmd(app: AppContext, limit: int, fmt: str) -> None:
    """Recent runs, newest first."""
    import datetime as dt

    import orjson

    from rupu.cli.tables import print_table
    from rupu.transcripts import list_transcripts, summarize, summary_fields

    summaries = [summarize(p) for p in list_transcripts(_directory(app))[:limit]]
    if fmt == "json":
        items = [summary_fields(s) for s in summaries]
        click.echo(orjson.dumps({"transcripts": items}, option=orjson.OPT_INDENT_2).decode())
        return
    if not summaries:
        click.echo("no transcripts yet: run an agent with `rupu run --agent NAME`", err=True)
        return
    rows = []
    for s in summaries:
        started = (
            dt.datetime.fromtimestamp(s.started).strftime("%Y-%m-%d %H:%M:%S") if s.started else "-"
        )
        rows.append(
            [
                s.run_id,
                s.agent or "-",
                s.provider or "-",
                s.model or "-",
                s.status,
                str(s.total_tokens if s.total_tokens is not None else "-"),
                started,
            ]
        )
    print_table(["RUN ID", "AGENT", "PROVIDER", "MODEL", "STATUS", "TOKENS", "STARTED"], rows)


def _directory(app: AppContext) -> Path:
    """`$RUPU_HOME/transcripts` (a symlink leading out of the home is refused)."""
    from rupu.filemodes import private_dir

    return private_dir(app.paths.transcripts, home=app.paths.home)


@transcript.command("show")
@click.argument("run_id", shell_complete=complete.transcript_ids)
@click.option(
    "--format", "fmt", type=click.Choice(["pretty", "jsonl"]), default="pretty", show_default=True
)
@click.pass_obj
def show_transcript(app: AppContext, run_id: str, fmt: str) -> None:
    """One run's events."""
    import orjson

    from rupu.errors import ConfigError, did_you_mean
    from rupu.transcripts import list_transcripts, summarize

    directory = _directory(app)
    path = directory / f"{run_id}.jsonl"
    if not path.is_file():
        known = [p.stem for p in list_transcripts(directory)]
        matches = [k for k in known if k.startswith(run_id)]
        if len(matches) == 1:
            path = directory / f"{matches[0]}.jsonl"
        else:
            raise ConfigError(
                f"no transcript '{run_id}'{did_you_mean(run_id, known)}",
                hint="list them with `rupu transcript list`",
            )
    summary = summarize(path, keep_events=True)
    if fmt == "jsonl":
        for event in summary.events:
            click.echo(orjson.dumps(event).decode())
        return
    click.echo(
        f"run {summary.run_id}: agent {summary.agent} on {summary.provider} · {summary.model}"
    )
    for event in summary.events:
        data = event.get("data") or {}
        kind = event["type"]
        if kind == "assistant_message":
            if data.get("thinking"):
                click.echo(f"[thinking] {data['thinking']}")
            if data.get("content"):
                click.echo(f"[assistant] {data['content']}")
            for call in data.get("tool_calls") or []:
                click.echo(
                    f"[tool call] {call.get('tool')} {orjson.dumps(call.get('input')).decode()}"
                )
        elif kind == "user_prompt":
            click.echo(f"[user] {data.get('text', '')}")
        elif kind in ("run_start", "turn_start"):
            continue
        else:
            shown = {k: v for k, v in data.items() if v not in (None, [], {})}
            click.echo(f"[{kind}] {orjson.dumps(shown).decode()}")
    click.echo(f"status: {summary.status}")
