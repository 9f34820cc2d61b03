"""`rupu run --agent NAME|PATH [PROMPT]`."""

# lazy imports: a command loads what it needs when it runs, so `rupu --help` stays fast
from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from rupu.cli.context import AppContext

if TYPE_CHECKING:
    from collections.abc import Sequence

    from rupu.agents.loop import AgentResult, AgentRun
    from rupu.agents.spec import AgentSpec
    from rupu.auth.known import KnownSecrets
    from rupu.cli.render import RunRenderer
    from rupu.providers.base import Provider
    from rupu.routing.checks import PriceOf
    from rupu.routing.plan import Route
    from rupu.routing.target import RunTarget
    from rupu.tools.setup import ToolSetup


@click.command()
@click.option(
    "--agent", "-a", "agent_ref", required=True, help="Agent name, or a path to an agent .md file."
)
@click.argument("prompt", required=False)
@click.option("--provider", help="Use this provider for this run (overrides the agent).")
@click.option("--model", help="Use this model for this run (overrides the agent).")
@click.option("--auth", type=click.Choice(["api-key", "sso"]), help="Force a credential mode.")
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
@click.option(
    "--mode",
    type=click.Choice(["ask", "bypass", "readonly"]),
    help="Permission mode for tools (overrides the agent and config; default ask).",
)
@click.option(
    "--workspace",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Directory the tools work in (default: the current directory).",
)
@click.option(
    "--fallback",
    "fallbacks",
    multiple=True,
    metavar="PROVIDER:MODEL",
    help="Fail over to this provider:model when the primary is rate limited or overloaded "
    "(repeatable, tried in order; replaces the agent's fallback list).",
)
@click.pass_obj
def run(
    app: AppContext,
    agent_ref: str,
    prompt: str | None,
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
) -> None:
    """Run one agent on PROMPT (read from stdin when PROMPT is '-' or omitted and stdin is piped)."""
    import anyio

    from rupu.agents.lookup import resolve_agent
    from rupu.auth.resolver import CredentialResolver
    from rupu.cli.render import RunRenderer
    from rupu.routing.plan import resolve_route

    text = _read_prompt(prompt)
    spec = resolve_agent(agent_ref, app.paths)
    app.require_trust([spec], mode_flag=mode)
    # Resolved before the event loop starts: reading the credential store blocks.
    route = resolve_route(
        spec,
        app.config,
        app.env,
        provider=provider,
        model=model,
        auth=auth,  # type: ignore[arg-type]
        fallbacks=fallbacks,
        resolver=CredentialResolver.from_environment(app.paths, app.env, app.config),
    )
    price_of = _check_models_and_price(app, spec, route, model, allow_unknown_model)
    renderer = RunRenderer(
        stream=not no_stream and output_format == "text",
        show_thinking=not hide_thinking and output_format == "text",
        target=route.primary,
    )
    renderer.service_tier = route.service_tier
    renderer.requested_model = route.requested_model
    tool_setup = _tool_setup(app, spec, mode, workspace, renderer)
    result = anyio.run(_run, app, spec, route, text, renderer, tool_setup, price_of)
    if output_format == "json":
        click.echo(renderer.json_summary(result))
    else:
        renderer.finish(result)
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


def build_provider_for(
    app: AppContext, target: RunTarget, *, fallbacks: Sequence[str] = ()
) -> tuple[Provider, str]:
    """The provider instance (a route: `target`, then `fallbacks`, then [routing] local_fallback,
    sharing the process-wide cooldowns) and a description of the credential it uses (never the
    secret). Blocks (credential store): call it off the event loop."""
    from rupu.auth.resolver import CredentialResolver
    from rupu.routing.plan import build_route_provider, route_for_target

    resolver = CredentialResolver.from_environment(app.paths, app.env, app.config)
    route = route_for_target(target, app.config, app.env, fallbacks=fallbacks, resolver=resolver)
    return build_route_provider(route, app.config), route.candidates[0].credential


def _check_models_and_price(
    app: AppContext, spec: AgentSpec, route: Route, model_flag: str | None, allow: bool
) -> PriceOf:
    """Rejects an unknown model id of any route entry before any request; returns the pricer of
    each entry."""
    from rupu.catalog.catalog import ModelCatalog
    from rupu.routing.checks import check_route_models, route_prices

    catalog = ModelCatalog(app.config, app.paths)
    check_route_models(
        route, spec, app.config, app.paths, catalog, model_flag=model_flag, allow_unknown=allow
    )
    return route_prices(catalog, route)


def _tool_setup(
    app: AppContext,
    spec: AgentSpec,
    mode: str | None,
    workspace: Path | None,
    renderer: RunRenderer,
) -> ToolSetup:
    from rupu.tools.permissions import default_decider, resolve_mode
    from rupu.tools.setup import ToolSetup

    chosen, source = resolve_mode(
        cli=mode,
        agent=spec.frontmatter.permission_mode,
        config=app.config.config.permission_mode,
    )
    return ToolSetup(
        loaded=app.config,
        env=app.env,
        workspace=(workspace or app.paths.cwd).resolve(),
        mode=chosen,
        mode_source=source,
        decider=default_decider(),
        private=[app.paths.home],
        log_dir=app.paths.home / "logs",
        notify=renderer.tool_note,
        secrets=known_secrets(app),
        protected=[str(app.paths.home)],
    )


def known_secrets(app: AppContext) -> KnownSecrets:
    """Every secret this process can know of, the credential store's included (read when the tools
    open)."""
    from rupu.auth.known import KnownSecrets
    from rupu.auth.store import AuthStorage

    store = AuthStorage(app.paths.home, env=app.env)
    return KnownSecrets(app.env, app.config, store=store)


async def _run(
    app: AppContext,
    spec: AgentSpec,
    route: Route,
    prompt: str,
    renderer: object,
    tool_setup: ToolSetup,
    price_of: PriceOf | None = None,
) -> AgentResult:
    import anyio

    from rupu.agents.loop import AgentRun
    from rupu.cli.render import RunRenderer
    from rupu.filemodes import private_dir
    from rupu.routing.plan import build_route_provider
    from rupu.tools.setup import open_toolbox
    from rupu.transcripts import TranscriptWriter, new_run_id

    assert isinstance(renderer, RunRenderer)
    target = route.primary
    provider = build_route_provider(route, app.config)
    credential = route.candidates[0].credential
    run_id = new_run_id()
    directory = private_dir(app.paths.transcripts, home=app.paths.home)
    transcript = TranscriptWriter(directory / f"{run_id}.jsonl")
    renderer.credential = credential
    try:
        async with (
            open_toolbox(tool_setup, agent=spec.name, patterns=spec.frontmatter.tools) as tools,
            renderer.waiting(),
        ):
            agent_run = AgentRun(
                run_id=run_id,
                spec=spec,
                target=target,
                provider=provider,
                transcript=transcript,
                credential=credential,
                tools=tools,
                on_event=renderer.on_event,
                pricing=price_of(target.provider, target.model) if price_of else None,
                price_of=price_of,
            )
            async with anyio.create_task_group() as group:
                group.start_soon(_stop_on_sigterm, agent_run)
                result = await agent_run.run(prompt)
                group.cancel_scope.cancel()
            return result
    finally:
        transcript.close()
        await provider.aclose()


async def _stop_on_sigterm(agent_run: AgentRun) -> None:
    """SIGTERM ends the run like Ctrl-C does, but is recorded and reported as a termination."""
    import anyio

    from rupu.errors import Terminated

    with anyio.open_signal_receiver(signal.SIGTERM) as signals:
        async for _ in signals:
            agent_run.stop(
                Terminated(
                    f"terminated (SIGTERM); the transcript of run {agent_run.run_id} is saved"
                )
            )
            return
