"""`rupu chat --agent NAME`: a conversation in the terminal. Each message the user sends is one run
of a session (like `rupu run --continue`), streamed as it arrives; Ctrl-C stops the turn in flight and
the chat goes on; slash commands change the model or provider, list the tools, show the cost, save
the conversation and leave."""

# lazy imports: a command loads what it needs when it runs, so `rupu --help` stays fast
from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from rupu.cli import complete, options

if TYPE_CHECKING:
    from rupu.agents.spec import AgentSpec
    from rupu.api.agents import PreparedRun, RunResult
    from rupu.cli.context import AppContext
    from rupu.cli.render import RunRenderer
    from rupu.messages import Message
    from rupu.sessions.store import SessionRecord

HELP = """commands:
  /model [ID|PROVIDER:MODEL]   show or change the model for the next turns
  /provider [NAME [MODEL]]     show or change the provider (the history is converted)
  /tools                       the tools the agent has and the permission mode
  /cost                        tokens and cost of this session so far
  /save [PATH]                 write the conversation as Markdown (default: SESSION_ID.md)
  /exit                        leave (Ctrl-D too); /help shows this
end a line with \\ to go on typing, or put \"\"\" alone on a line before and after a block;
Ctrl-C stops the answer in flight, not the chat"""


@click.command()
@click.option(
    "--agent",
    "-a",
    "agent_ref",
    help="Agent name, or a path to an agent .md file.",
    shell_complete=complete.agent_names,
)
@click.option(
    "--continue", "-c", "continue_latest", is_flag=True, help="Go on with the latest session here."
)
@click.option(
    "--session",
    "session_ref",
    metavar="ID",
    help="Go on with this session.",
    shell_complete=complete.session_ids,
)
@click.option(
    "--provider",
    help="Start on this provider (overrides the agent).",
    shell_complete=complete.provider_names,
)
@click.option(
    "--model", help="Start on this model (overrides the agent).", shell_complete=complete.model_ids
)
@options.AUTH
@options.MODE
@options.WORKSPACE
@click.option("--hide-thinking", is_flag=True, help="Do not show the model's reasoning.")
@click.option(
    "--allow-unknown-model", is_flag=True, help="Accept a model id the catalog does not know."
)
@click.pass_obj
def chat(
    app: AppContext,
    agent_ref: str | None,
    continue_latest: bool,
    session_ref: str | None,
    provider: str | None,
    model: str | None,
    auth: str | None,
    mode: str | None,
    workspace: Path | None,
    hide_thinking: bool,
    allow_unknown_model: bool,
) -> None:
    """Talk with an agent, turn by turn (type /help in the chat for its commands)."""
    from rupu.api import sessions
    from rupu.api.agents import load_agent
    from rupu.cli.chat_input import ChatInput
    from rupu.errors import UsageError

    if continue_latest and session_ref is not None:
        raise UsageError("--continue and --session both name a session", hint="give one of them")
    record = None
    if continue_latest or session_ref is not None:
        record = sessions.find_session(app, ref=session_ref)
    if agent_ref is not None:
        spec = load_agent(agent_ref, session=app)
    elif record is not None:
        spec = sessions.session_agent(app, record)
    else:
        raise UsageError("no agent given", hint="pass --agent NAME, or --continue")
    chat_run = Chat(app, spec, record, provider=provider, model=model, auth=auth, mode=mode)
    chat_run.workspace, chat_run.show_thinking = workspace, not hide_thinking
    chat_run.allow_unknown_model = allow_unknown_model
    target = chat_run.prepare().target  # a broken agent or model fails here, before any typing
    where = f"session {record.id}" if record is not None else "a new session"
    click.echo(
        f"chat with {spec.name} on {target.provider}:{target.model} · {where} · "
        "/help for commands, /exit or Ctrl-D to leave",
        err=True,
    )
    reader = ChatInput(app.paths.home / "chat_history")
    try:
        while True:
            try:
                text = reader.read()
            except KeyboardInterrupt:
                click.echo("", err=True)  # Ctrl-C while typing drops the line
                continue
            if text is None:
                click.echo("", err=True)
                break
            if not text.strip():
                continue
            if text.lstrip().startswith("/"):
                if not chat_run.command(text.strip()):
                    break
                continue
            chat_run.turn(text)
    finally:
        reader.save()


class Chat:
    """What one chat holds between turns: the agent, the session and the current overrides."""

    def __init__(
        self,
        app: AppContext,
        spec: AgentSpec,
        record: SessionRecord | None,
        *,
        provider: str | None,
        model: str | None,
        auth: str | None,
        mode: str | None,
    ) -> None:
        self.app, self.spec, self.record = app, spec, record
        self.provider, self.model, self.auth, self.mode = provider, model, auth, mode
        self.workspace: Path | None = None
        self.show_thinking = True
        self.allow_unknown_model = False

    def prepare(self) -> PreparedRun:
        from rupu.api.agents import prepare_agent
        from rupu.tools.permissions import default_decider

        return prepare_agent(
            self.app,
            self.spec,
            provider=self.provider,
            model=self.model,
            auth=self.auth,
            mode=self.mode,
            workspace=self.workspace,
            allow_unknown_model=self.allow_unknown_model,
            decider=default_decider(),
        )

    # -- a turn ------------------------------------------------------------------------------------
    def turn(self, text: str) -> None:
        import anyio

        from rupu.api import sessions
        from rupu.cli.render import RESET, RunRenderer
        from rupu.errors import RupuError

        renderer: RunRenderer | None = None
        try:
            prepared = self.prepare()
            joined = sessions.start_session_run(self.app, prepared, text, record=self.record)
            self.record = joined.record
            renderer = RunRenderer(
                stream=True, show_thinking=self.show_thinking, target=prepared.target
            )
            renderer.credential = prepared.credential
            renderer.service_tier = prepared.route.service_tier
            renderer.requested_model = prepared.route.requested_model
            for note in [*prepared.notes, *joined.notes]:
                click.echo(f"note: {note}", err=True)
            renderer.session_id = joined.record.id
            result = anyio.run(_turn, prepared, text, renderer, joined.history, joined.record.id)
        except KeyboardInterrupt:
            if renderer is not None and renderer.err_tty:
                sys.stderr.write(RESET)
            click.echo("\n(stopped: the answer so far is not kept; the chat goes on)", err=True)
            return
        except RupuError as exc:
            click.echo(f"rupu: error: {exc.one_line()}", err=True)
            return
        renderer.finish(result.outcome)
        if result.outcome.error is not None:
            click.echo(f"rupu: error: {result.outcome.error.one_line()}", err=True)

    # -- slash commands ----------------------------------------------------------------------------
    def command(self, line: str) -> bool:
        """Runs a slash command; False when the chat should end."""
        name, _, rest = line.partition(" ")
        args = rest.split()
        match name:
            case "/exit" | "/quit":
                return False
            case "/help":
                click.echo(HELP, err=True)
            case "/model":
                self._switch(model_arg=args[0] if args else None, provider_arg=None, args=args)
            case "/provider":
                model_arg = args[1] if len(args) > 1 else None
                self._switch(model_arg=model_arg, provider_arg=args[0] if args else None, args=args)
            case "/tools":
                self._tools()
            case "/cost":
                self._cost()
            case "/save":
                self._save(args[0] if args else None)
            case _:
                click.echo(f"unknown command {name}; /help lists them", err=True)
        return True

    def _switch(self, *, model_arg: str | None, provider_arg: str | None, args: list[str]) -> None:
        from rupu.api import sessions
        from rupu.config import BUILTIN_PROVIDERS
        from rupu.errors import RupuError

        if not args:
            target = self.prepare().target
            click.echo(f"now on {target.provider}:{target.model}", err=True)
            return
        before = (self.provider, self.model)
        if provider_arg is not None:
            self.provider, self.model = provider_arg, model_arg
        elif model_arg is not None:
            head, colon, tail = model_arg.partition(":")
            known = {*BUILTIN_PROVIDERS, *self.app.config.config.providers}
            if colon and head in known:
                self.provider, self.model = head, tail
            else:
                self.model = model_arg
        try:
            target = self.prepare().target
        except RupuError as exc:
            self.provider, self.model = before
            click.echo(f"rupu: error: {exc.one_line()} (still on the previous model)", err=True)
            return
        click.echo(f"now on {target.provider}:{target.model}", err=True)
        if self.record is not None:
            history = sessions.session_history(self.app, self.record)
            for note in sessions.history_notes(history, target.provider):
                click.echo(f"note: {note}", err=True)

    def _tools(self) -> None:
        from rupu.sessions.history import transcript_path
        from rupu.transcripts import read_events

        audit: dict[str, object] | None = None
        last = self.record.last_run if self.record is not None else None
        path = transcript_path(self.app.paths.transcripts, last.run_id) if last else None
        if path is not None and path.is_file():
            for event in read_events(path):
                if event["type"] == "tool_audit":
                    audit = event.get("data") or {}
        if audit is None:
            patterns = self.spec.frontmatter.tools
            shown = "every built-in tool" if patterns is None else ", ".join(patterns) or "none"
            click.echo(f"tools: {shown} (the list is exact after the first turn)", err=True)
            return
        names = audit.get("tools") or []
        listed = ", ".join(str(n) for n in names) if isinstance(names, list) else str(names)
        click.echo(f"tools: {listed or 'none'} · mode {audit.get('mode')}", err=True)

    def _cost(self) -> None:
        from rupu.catalog.pricing import format_cost
        from rupu.sessions.history import totals

        if self.record is None:
            click.echo("nothing spent yet", err=True)
            return
        spent = totals(self.record, self.app.paths.transcripts)
        cost = format_cost(spent.cost_usd) if spent.cost_usd is not None else "cost unknown"
        click.echo(
            f"{spent.runs} turn(s) · {spent.input_tokens} in · {spent.output_tokens} out · {cost}",
            err=True,
        )

    def _save(self, where: str | None) -> None:
        from rupu.api import sessions

        if self.record is None:
            click.echo("nothing to save yet", err=True)
            return
        path = Path(where) if where else Path(f"{self.record.id}.md")
        history = sessions.session_history(self.app, self.record)
        try:
            path.write_text(conversation_markdown(self.record, history.messages), encoding="utf-8")
        except OSError as exc:
            click.echo(f"rupu: error: cannot write {path}: {exc.strerror}", err=True)
            return
        click.echo(f"saved the conversation to {path}", err=True)


def conversation_markdown(record: SessionRecord, messages: list[Message]) -> str:
    from rupu.cli.session import message_lines

    lines = [
        f"# {record.title or record.id}",
        "",
        f"Session `{record.id}`, agent `{record.agent}`.",
    ]
    for message in messages:
        lines.append("")
        lines.extend(message_lines(message, show_thinking=False))
    return "\n".join(lines) + "\n"


async def _turn(
    prepared: PreparedRun,
    prompt: str,
    renderer: RunRenderer,
    history: list[Message] | None,
    session_id: str,
) -> RunResult:
    return await prepared.run(
        prompt,
        on_event=renderer.on_event,
        notify=renderer.tool_note,
        waiting=renderer.waiting,
        history=history,
        session_id=session_id,
    )
