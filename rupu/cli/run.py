"""`rupu run --agent NAME|PATH [PROMPT]`."""

# lazy imports: a command loads what it needs when it runs, so `rupu --help` stays fast
from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from rupu.cli import complete, options

if TYPE_CHECKING:
    from rupu.api.agents import PreparedRun, RunResult
    from rupu.cli.context import AppContext
    from rupu.cli.render import RunRenderer
    from rupu.messages import Message


@click.command()
@click.option(
    "--agent",
    "-a",
    "agent_ref",
    help="Agent name, or a path to an agent .md file (a continued session defaults to its own).",
    shell_complete=complete.agent_names,
)
@click.argument("prompt", required=False)
@click.option(
    "--continue",
    "-c",
    "continue_latest",
    is_flag=True,
    help="Continue the latest session started in this directory.",
)
@click.option(
    "--session",
    "session_ref",
    metavar="ID",
    help="Continue this session (an id from rupu session list, or a unique start of one).",
    shell_complete=complete.session_ids,
)
@click.option(
    "--provider",
    help="Use this provider for this run (overrides the agent).",
    shell_complete=complete.provider_names,
)
@click.option(
    "--model",
    help="Use this model for this run (overrides the agent); an alias from [aliases] (or sonnet, "
    "opus, haiku) names its provider too.",
    shell_complete=complete.model_ids,
)
@options.AUTH
@click.option("--no-stream", is_flag=True, help="Print the answer when it is complete.")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text streams the answer; json prints one JSON object when the run ends.",
)
@click.option("--hide-thinking", is_flag=True, help="Do not show the model's reasoning.")
@click.option(
    "--allow-unknown-model",
    is_flag=True,
    help="Run even if the model id is not in the provider's catalog (a brand-new model).",
)
@options.MODE
@options.WORKSPACE
@click.option(
    "--fallback",
    "fallbacks",
    multiple=True,
    metavar="PROVIDER:MODEL",
    shell_complete=complete.fallback_targets,
    help="Fail over to this provider:model when the primary is rate limited or overloaded "
    "(repeatable, tried in order; replaces the agent's fallback list).",
)
@click.option(
    "--fast",
    is_flag=True,
    help="OpenAI's priority tier (openai provider, API key or ChatGPT sign-in); "
    "other providers run at their usual tier, with a note.",
)
@click.option(
    "--report",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Also write the run's report: one self-contained HTML page (see workflow report).",
)
@click.option(
    "--max-usd",
    type=click.FloatRange(min=0, min_open=True),
    help="Stop before a call that could take the run's cost past this many US dollars (exit 5).",
)
@click.option(
    "--max-tokens",
    type=click.IntRange(min=1),
    help="Stop before a call that could take the run past this many tokens (exit 5).",
)
@click.pass_obj
def run(
    app: AppContext,
    agent_ref: str | None,
    prompt: str | None,
    continue_latest: bool,
    session_ref: str | None,
    provider: str | None,
    model: str | None,
    auth: str | None,
    no_stream: bool,
    output_format: str,
    hide_thinking: bool,
    allow_unknown_model: bool,
    mode: str | None,
    workspace: Path | None,
    fallbacks: tuple[str, ...],
    fast: bool,
    report: Path | None,
    max_usd: float | None,
    max_tokens: int | None,
) -> None:
    """Run one agent on PROMPT (read from stdin when PROMPT is '-' or omitted and stdin is piped).

    Every run is a session: --continue or --session ID runs PROMPT as the next turn of an earlier
    conversation, replaying it (thinking and tool results included) to the provider."""
    import anyio

    from rupu.api import sessions
    from rupu.api.agents import load_agent, prepare_agent
    from rupu.cli.render import RunRenderer
    from rupu.errors import UsageError
    from rupu.tools.permissions import default_decider

    if continue_latest and session_ref is not None:
        raise UsageError("--continue and --session both name a session", hint="give one of them")
    resuming = continue_latest or session_ref is not None
    if agent_ref is None and not resuming:
        raise UsageError(
            "no agent given", hint="pass --agent NAME, or --continue to go on with the last session"
        )
    record = sessions.find_session(app, ref=session_ref) if resuming else None
    text = _read_prompt(prompt)
    if agent_ref is not None:
        spec = load_agent(agent_ref, session=app)
    else:
        assert record is not None
        spec = sessions.session_agent(app, record)
    for note in spec.notes:  # what a Claude Code agent file says that rupu does not use
        click.echo(f"note: {spec.path}: {note}", err=True)
    # Prepared before the event loop starts: reading the credential store blocks.
    prepared = prepare_agent(
        app,
        spec,
        provider=provider,
        model=model,
        auth=auth,
        fallbacks=fallbacks,
        mode=mode,
        workspace=workspace,
        allow_unknown_model=allow_unknown_model,
        decider=default_decider(),
        fast=fast,
        max_usd=max_usd,
        max_tokens=max_tokens,
    )
    for note in prepared.notes:
        click.echo(f"note: {note}", err=True)
    renderer = RunRenderer(
        stream=not no_stream and output_format == "text",
        show_thinking=not hide_thinking and output_format == "text",
        target=prepared.target,
    )
    renderer.service_tier = prepared.route.service_tier
    renderer.fast = prepared.route.fast
    renderer.requested_model = prepared.route.requested_model
    renderer.credential = prepared.credential
    joined = sessions.start_session_run(app, prepared, text, record=record)
    for note in joined.notes:
        click.echo(f"note: {note}", err=True)
    renderer.session_id = joined.record.id
    result = anyio.run(_run, prepared, text, renderer, joined.history, joined.record.id).outcome
    if output_format == "json":
        click.echo(renderer.json_summary(result))
    else:
        renderer.finish(result)
    if report is not None:
        from rupu.cli.reports import write_report
        from rupu.pictures.run_data import agent_run_data

        write_report(agent_run_data(result.transcript), report, False)
    if result.error is not None:
        raise result.error


def _read_prompt(prompt: str | None) -> str:
    from rupu.errors import UsageError

    stdin = sys.stdin  # None when the process was started with stdin closed
    if prompt == "-" or (prompt is None and stdin is not None and not stdin.isatty()):
        raw = stdin.buffer.read() if stdin is not None else b""
        try:
            prompt = raw.decode("utf-8-sig").replace("\r\n", "\n")
        except UnicodeDecodeError as exc:
            raise UsageError(
                f"the prompt on stdin is not UTF-8 text (byte {exc.start})",
                hint="convert it, e.g. with iconv -t UTF-8",
            ) from None
    if prompt is None or not prompt.strip():
        raise UsageError(
            "no prompt given (the argument and stdin are empty); nothing was sent",
            hint='pass it as an argument, e.g. rupu run --agent NAME "hello", or pipe it to stdin',
        )
    try:
        prompt.encode("utf-8")
    except UnicodeEncodeError:  # argv bytes that were not UTF-8 arrive as lone surrogates
        raise UsageError(
            "the prompt argument is not UTF-8 text", hint="check your terminal's encoding"
        ) from None
    return prompt


async def _run(
    prepared: PreparedRun,
    prompt: str,
    renderer: RunRenderer,
    history: list[Message] | None,
    session_id: str,
) -> RunResult:
    import anyio

    async with anyio.create_task_group() as group:
        group.start_soon(_stop_on_sigterm, prepared)
        result = await prepared.run(
            prompt,
            on_event=renderer.on_event,
            notify=renderer.tool_note,
            waiting=renderer.waiting,
            history=history,
            session_id=session_id,
        )
        group.cancel_scope.cancel()
    return result


async def _stop_on_sigterm(prepared: PreparedRun) -> None:
    """SIGTERM ends the run like Ctrl-C does, but is recorded and reported as a termination."""
    import anyio

    from rupu.errors import Terminated

    with anyio.open_signal_receiver(signal.SIGTERM) as signals:
        async for _ in signals:
            prepared.stop(
                Terminated(
                    f"terminated (SIGTERM); the transcript of run {prepared.run_id} is saved"
                )
            )
            return
