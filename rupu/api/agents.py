"""Agents for the Python API: built in code (`Agent`), loaded from a file or by name (`load_agent`),
and prepared for one run (`prepare_agent`: route, credentials, model check, pricing and tools, all
decided before any request)."""

# lazy imports: the CLI imports the session for every command; what a run needs loads when it runs
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from rupu.agents.loop import AgentResult, EventSink
from rupu.agents.spec import AgentSpec, Frontmatter
from rupu.api.session import Session
from rupu.errors import Interrupted
from rupu.routing.target import RunTarget
from rupu.strict import validation_to_config_error

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager

    from rupu.agents.budget import SpendLimit
    from rupu.agents.loop import AgentRun
    from rupu.agents.tier_switch import TierSwitcher
    from rupu.messages import AssistantTurn, Message, Usage
    from rupu.routing.checks import PriceOf
    from rupu.routing.plan import Route
    from rupu.tools.permissions import Decider
    from rupu.tools.setup import ToolSetup

CODE_PATH = Path("<code>")

AgentRef = str | Path | AgentSpec


def Agent(  # a function named as the type it builds, the way callers read it
    name: str,
    *,
    system_prompt: str = "",
    provider: str | None = None,
    model: str | None = None,
    tools: Sequence[str] | None = None,
    path: Path | None = None,
    **frontmatter: Any,
) -> AgentSpec:
    """An agent built in code, checked like an agent file's frontmatter. `frontmatter` takes the
    other keys by their Python names (`max_turns`, `permission_mode`, `output_format`, ...) or as
    written in a file (`maxTurns`, ...). `tools=[]` gives no tools; `tools=None` the built-in ones."""
    given = {"provider": provider, "model": model, "tools": tools, **frontmatter}
    data = {"name": name, **{k: v for k, v in given.items() if v is not None}}
    where = str(path or CODE_PATH)
    try:
        front = Frontmatter.model_validate(data)
    except ValidationError as exc:
        raise validation_to_config_error(
            exc, Frontmatter, path=where, find_line=lambda _: None
        ) from None
    return AgentSpec(
        frontmatter=front, system_prompt=system_prompt, path=path or CODE_PATH, scope="path"
    )


def load_agent(agent: AgentRef, *, session: Session | None = None) -> AgentSpec:
    """An agent by name (project `.rupu/agents` shadows `~/.rupu/agents`), by path to its `.md`
    file (relative to the session's directory), or `agent` itself when it is already one."""
    from rupu.agents.lookup import resolve_agent

    if isinstance(agent, AgentSpec):
        return agent
    return resolve_agent(str(agent), (session or Session.from_environment()).paths)


@dataclass(slots=True)
class RunResult:
    """The result of one agent run. `str()` of it is the answer."""

    agent: str
    target: RunTarget
    credential: str
    outcome: AgentResult

    def __str__(self) -> str:
        return self.outcome.text

    @property
    def run_id(self) -> str:
        return self.outcome.run_id

    @property
    def status(self) -> str:
        return self.outcome.status

    @property
    def text(self) -> str:
        return self.outcome.text

    @property
    def usage(self) -> Usage:
        return self.outcome.usage

    @property
    def cost_usd(self) -> float | None:
        return self.outcome.cost_usd

    @property
    def turns(self) -> list[AssistantTurn]:
        return self.outcome.turns

    @property
    def messages(self) -> list[Message]:
        return self.outcome.messages

    @property
    def duration_ms(self) -> int:
        return self.outcome.duration_ms

    @property
    def transcript(self) -> Path:
        return self.outcome.transcript


@dataclass(slots=True)
class PreparedRun:
    """One agent run, wired and checked; `run` it once. `stop` ends it from outside (a signal)."""

    session: Session
    spec: AgentSpec
    route: Route
    price_of: PriceOf
    tools: ToolSetup
    run_id: str
    # The tiers the agent may move to (`tiers:` in its frontmatter), when it has any.
    switcher: TierSwitcher | None = None
    notes: tuple[str, ...] = ()  # said once before the run (fast mode refused, ...)
    limit: SpendLimit | None = None  # max_usd / max_tokens for the whole run
    _current: AgentRun | None = field(default=None, init=False)
    _stopped: Interrupted | None = field(default=None, init=False)

    @property
    def target(self) -> RunTarget:
        return self.route.primary

    @property
    def credential(self) -> str:
        return self.route.candidates[0].credential

    def stop(self, reason: Interrupted) -> None:
        self._stopped = reason
        if self._current is not None:
            self._current.stop(reason)

    async def run(
        self,
        prompt: str,
        *,
        on_event: EventSink | None = None,
        notify: Callable[[str], None] | None = None,
        waiting: Callable[[], AbstractAsyncContextManager[None]] | None = None,
    ) -> RunResult:
        """Runs the agent on `prompt`, sending each stream event to `on_event`. `waiting` wraps the
        run once its tools are open (the CLI's "waiting for the first token" line); `notify` gets one
        line per tool call."""
        import dataclasses
        from contextlib import nullcontext

        from rupu.agents.budget import LocalSpendGuard
        from rupu.agents.loop import AgentRun
        from rupu.filemodes import private_dir
        from rupu.routing.plan import build_route_provider
        from rupu.tools.setup import open_toolbox
        from rupu.transcripts import TranscriptWriter

        if self._current is not None:
            raise RuntimeError(f"run {self.run_id} already ran: prepare another to run again")
        paths, target, price_of = self.session.paths, self.target, self.price_of
        provider = build_route_provider(
            self.route, self.session.config, history=self.session.route_history()
        )
        directory = private_dir(paths.transcripts, home=paths.home)
        transcript = TranscriptWriter(directory / f"{self.run_id}.jsonl")
        patterns = self.spec.frontmatter.tools

        def budget_note(text: str) -> None:
            transcript.write("note", text=text)
            if notify is not None:
                notify(f"warning: {text}")

        guard = (
            LocalSpendGuard.of(self.limit, run_name="the run's budget", notify=budget_note)
            if self.limit is not None and not self.limit.empty
            else None
        )
        setup = self.tools if notify is None else dataclasses.replace(self.tools, notify=notify)
        switcher = self.switcher
        if switcher is not None:
            setup = dataclasses.replace(setup, extra=[*setup.extra, switcher.tool()])
        try:
            async with (
                open_toolbox(setup, agent=self.spec.name, patterns=patterns) as tools,
                waiting() if waiting is not None else nullcontext(),
            ):
                self._current = AgentRun(
                    run_id=self.run_id,
                    spec=self.spec,
                    target=target,
                    provider=provider,
                    transcript=transcript,
                    credential=self.credential,
                    tools=tools,
                    on_event=on_event,
                    pricing=price_of(target.provider, target.model),
                    price_of=price_of,
                    tier_switch=switcher,
                    guard=guard,
                )
                if self._stopped is not None:
                    self._current.stop(self._stopped)
                outcome = await self._current.run(prompt)
        finally:
            transcript.close()
            await provider.aclose()
            if switcher is not None:
                await switcher.aclose()
        return RunResult(self.spec.name, target, self.credential, outcome)


def prepare_agent(
    session: Session,
    spec: AgentSpec,
    *,
    provider: str | None = None,
    model: str | None = None,
    auth: str | None = None,
    fallbacks: Sequence[str] = (),
    mode: str | None = None,
    workspace: Path | None = None,
    allow_unknown_model: bool = False,
    decider: Decider | None = None,
    fast: bool = False,
    max_usd: float | None = None,
    max_tokens: int | None = None,
) -> PreparedRun:
    """Checks project trust, resolves the route (credentials included), rejects an unknown model id
    and chooses the tools, all before any request. Blocks (credential store): call it off the event
    loop. `decider` answers what permission mode `ask` asks (default: deny; the CLI asks on a
    terminal). `fast` (or `fast: true` in the agent) asks for OpenAI's priority tier; where it does
    not apply the run goes on without it and `notes` says why. `max_usd` / `max_tokens` cap
    the run's spend: a call that could cross either is not sent (`rupu.errors.BudgetReached`, exit 5)."""
    from rupu.agents.tier_switch import prepare_tiers
    from rupu.auth.adc import AuthChoice
    from rupu.catalog.catalog import ModelCatalog
    from rupu.routing.checks import check_route_models, route_prices
    from rupu.routing.fast import FAST_TIER, with_fast_mode
    from rupu.routing.plan import build_route_provider, resolve_route
    from rupu.transcripts import new_run_id

    session.require_trust([spec], mode_flag=mode)
    chosen_auth: AuthChoice | None = auth  # type: ignore[assignment]
    history = session.route_history()
    resolver = session.credential_resolver()
    route = resolve_route(
        spec,
        session.config,
        session.env,
        provider=provider,
        model=model,
        auth=chosen_auth,
        fallbacks=fallbacks,
        resolver=resolver,
        history=history,
    )
    notes: list[str] = []
    if fast or spec.frontmatter.fast:
        route, note = with_fast_mode(route)
        if note is not None:
            notes.append(note)
        else:  # the agent loop sends the frontmatter's tier with every request
            front = spec.frontmatter.model_copy(update={"service_tier": FAST_TIER})
            spec = spec.model_copy(update={"frontmatter": front})
    catalog = ModelCatalog(session.config, session.paths)
    check_route_models(
        route,
        spec,
        session.config,
        session.paths,
        catalog,
        model_flag=model,
        allow_unknown=allow_unknown_model,
    )
    price_of = route_prices(catalog, route)
    switcher = prepare_tiers(
        spec,
        session.config,
        session.env,
        session.paths,
        build=lambda tier_route: build_route_provider(tier_route, session.config, history=history),
        auth=chosen_auth,
        resolver=resolver,
        history=history,
        catalog=catalog,
        allow_unknown_model=allow_unknown_model,
    )
    tools = session.tool_setup(spec, mode=mode, workspace=workspace, decider=decider)
    limit = spend_limit(max_usd, max_tokens)
    return PreparedRun(
        session,
        spec,
        route,
        price_of,
        tools,
        new_run_id(),
        switcher=switcher,
        notes=tuple(notes),
        limit=limit,
    )


def spend_limit(max_usd: float | None, max_tokens: int | None) -> SpendLimit | None:
    """The limit of `max_usd` and `max_tokens` (None when neither is given); a usage error for a
    value that is not positive."""
    from rupu.agents.budget import SpendLimit
    from rupu.errors import UsageError

    if max_usd is not None and not max_usd > 0:
        raise UsageError(f"max_usd must be more than 0, not {max_usd}", field="max_usd")
    if max_tokens is not None and max_tokens < 1:
        raise UsageError(f"max_tokens must be at least 1, not {max_tokens}", field="max_tokens")
    if max_usd is None and max_tokens is None:
        return None
    return SpendLimit(max_usd, max_tokens)
