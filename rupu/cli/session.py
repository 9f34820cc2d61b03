"""`rupu session list|show|rm`."""

# lazy imports: a command loads what it needs when it runs, so `rupu --help` stays fast
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from rupu.cli import complete

if TYPE_CHECKING:
    from rupu.cli.context import AppContext
    from rupu.messages import Message
    from rupu.sessions.store import SessionRecord


@click.group()
def session() -> None:
    """List, show and remove sessions ($RUPU_HOME/sessions): the conversations that
    `rupu run --continue` and `rupu chat` go on with."""


@session.command("list")
@click.option(
    "--all", "all_dirs", is_flag=True, help="Sessions of every directory, not just this one."
)
@click.option("--limit", default=50, show_default=True, help="Show at most this many sessions.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.pass_obj
def list_sessions(app: AppContext, all_dirs: bool, limit: int, fmt: str) -> None:
    """Sessions started in this directory, the most recently used first."""
    import datetime as dt

    import orjson

    from rupu.cli.tables import print_table
    from rupu.sessions.store import SessionStore

    records = SessionStore(app.paths.home).all()
    if not all_dirs:
        here = str(app.paths.cwd.resolve())
        records = [r for r in records if r.directory == here]
    records = records[:limit]
    if fmt == "json":
        items = [_fields(r) for r in records]
        click.echo(orjson.dumps({"sessions": items}, option=orjson.OPT_INDENT_2).decode())
        return
    if not records:
        where = "yet" if all_dirs else "in this directory (--all lists every directory's)"
        click.echo(f"no sessions {where}: start one with `rupu run --agent NAME`", err=True)
        return
    rows = []
    for r in records:
        last = r.last_run
        used = dt.datetime.fromtimestamp(r.updated).strftime("%Y-%m-%d %H:%M")
        row = [r.id, r.agent, f"{last.provider}:{last.model}" if last else "-", str(len(r.runs))]
        row += [used, *([r.directory] if all_dirs else []), r.title]
        rows.append(row)
    headers = ["SESSION", "AGENT", "LAST MODEL", "RUNS", "USED"]
    print_table([*headers, *(["DIRECTORY"] if all_dirs else []), "TITLE"], rows)


def _fields(record: SessionRecord) -> dict[str, Any]:
    return {
        "session_id": record.id,
        "agent": record.agent,
        "agent_path": record.agent_path,
        "directory": record.directory,
        "title": record.title,
        "created": record.created,
        "updated": record.updated,
        "runs": [r.model_dump() for r in record.runs],
    }


@session.command("show")
@click.argument("session_id", required=False, shell_complete=complete.session_ids)
@click.option("--format", "fmt", type=click.Choice(["pretty", "json"]), default="pretty")
@click.option("--hide-thinking", is_flag=True, help="Leave the model's reasoning out.")
@click.pass_obj
def show_session(app: AppContext, session_id: str | None, fmt: str, hide_thinking: bool) -> None:
    """A session's conversation as it would be replayed (default: the latest in this directory)."""
    import orjson

    from rupu.sessions.codec import encode_message
    from rupu.sessions.history import rebuild, totals
    from rupu.sessions.store import SessionStore

    store = SessionStore(app.paths.home)
    record = store.find(session_id) if session_id else store.latest_in(app.paths.cwd.resolve())
    history = rebuild(record, app.paths.transcripts)
    spent = totals(record, app.paths.transcripts)
    if fmt == "json":
        payload = {
            **_fields(record),
            "messages": [encode_message(m) for m in history.messages],
            "missing_runs": history.missing_runs,
            "total_tokens": spent.total_tokens,
            "cost_usd": spent.cost_usd,
        }
        click.echo(orjson.dumps(payload, option=orjson.OPT_INDENT_2).decode())
        return
    models = " → ".join(dict.fromkeys(f"{r.provider}:{r.model}" for r in record.runs))
    click.echo(f"session {record.id}: agent {record.agent} · {len(record.runs)} run(s) · {models}")
    click.echo(f"directory {record.directory}")
    for message in history.messages:
        for line in message_lines(message, show_thinking=not hide_thinking):
            click.echo(line)
    cost = f" · ${spent.cost_usd:.4f}" if spent.cost_usd is not None else ""
    click.echo(f"── {spent.total_tokens} tokens{cost}")
    for run_id in history.missing_runs:
        click.echo(f"(run {run_id} has no transcript; its turns are missing)", err=True)


def message_lines(message: Message, *, show_thinking: bool) -> list[str]:
    """One message as `[role] text` lines (tool calls and results on their own lines)."""
    import orjson

    from rupu.messages import TextPart, ThinkingPart, ToolCallPart, ToolResultPart

    lines: list[str] = []
    for part in message.parts:
        match part:
            case TextPart(text=text) if text:
                lines.append(f"[{message.role}] {text}")
            case ThinkingPart(text=text) if show_thinking and text:
                lines.append(f"[thinking · {part.provider or '?'}] {text}")
            case ToolCallPart(name=name, arguments=arguments):
                lines.append(f"[tool call] {name} {orjson.dumps(arguments).decode()}")
            case ToolResultPart(name=name, content=content, is_error=is_error):
                head = content if len(content) <= 200 else content[:199] + "…"
                label = "tool error" if is_error else "tool result"
                lines.append(f"[{label}] {name}: {head}")
            case _:
                continue
    return lines


@session.command("rm")
@click.argument("session_ids", nargs=-1, required=True, shell_complete=complete.session_ids)
@click.option(
    "--keep-transcripts",
    is_flag=True,
    help="Remove only the session record, not its runs' transcripts.",
)
@click.pass_obj
def remove_sessions(app: AppContext, session_ids: tuple[str, ...], keep_transcripts: bool) -> None:
    """Remove sessions and (unless --keep-transcripts) the transcripts of their runs."""
    from rupu.errors import ConfigError
    from rupu.sessions.history import transcript_path
    from rupu.sessions.store import SessionStore

    store = SessionStore(app.paths.home)
    paths = [store.resolve(ref) for ref in session_ids]  # all found before any goes
    for path in paths:
        try:
            record = store.load(path)
        except ConfigError:  # damaged: its runs are unknown, the record itself goes
            path.unlink(missing_ok=True)
            click.echo(f"removed the damaged session record {path.name}", err=True)
            continue
        removed = 0
        if not keep_transcripts:
            for run in record.runs:
                transcript = transcript_path(app.paths.transcripts, run.run_id)
                if transcript.is_file():
                    transcript.unlink()
                    removed += 1
        store.remove(record)
        kept = "" if keep_transcripts else f" and {removed} transcript(s)"
        click.echo(f"removed session {record.id}{kept}", err=True)
