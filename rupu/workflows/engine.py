"""Putting a run together: load and plan the workflow, build its providers (credentials are resolved
here, before any request), create or reopen the run record, and execute it.

The provider builder is injected (`rupu.api.Session.engine` passes `Session.build_provider`), which is
also the seam tests use; so is `toolbox`, which opens the tools of each agent run.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import orjson

from rupu.agents.budget import SpendLimit
from rupu.catalog.catalog import ModelCatalog
from rupu.config import LoadedConfig
from rupu.errors import ConfigError
from rupu.paths import Paths
from rupu.routing.checks import PriceOf, catalog_prices
from rupu.tools.setup import ToolSetup
from rupu.transcripts import new_run_id
from rupu.workflows.agent_calls import Overrides
from rupu.workflows.budgets import budget_guard
from rupu.workflows.cache import CacheMode, RunCache, StepCache, cache_path
from rupu.workflows.calls import CalledCopy, Copies
from rupu.workflows.dispatch import DispatcherFactory, local_dispatcher
from rupu.workflows.events import (
    ApprovalDecided,
    Observer,
    UnitFinished,
    UnitStarted,
    read_run_events,
)
from rupu.workflows.gcpace import run_pace
from rupu.workflows.limits import ProviderBuilder, ProviderPool
from rupu.workflows.loader import LoadedWorkflow, parse_workflow
from rupu.workflows.lookup import WorkflowAgents, root_for
from rupu.workflows.plan import Plan, build_plan
from rupu.workflows.recordfile import read_events
from rupu.workflows.results import RunOutcome
from rupu.workflows.runner import INTERRUPTED, WorkflowRunner
from rupu.workflows.spec import WorkflowStep
from rupu.workflows.step_state import Prior
from rupu.workflows.store import RunRecord, RunStore, dump, repair_jsonl, write_atomic
from rupu.workflows.units import ToolboxOpener

FINISHED = frozenset({"succeeded"})


def plan_workflow(
    loaded: LoadedWorkflow,
    paths: Paths,
    config: LoadedConfig,
    *,
    inputs: Mapping[str, Any] | None,
    overrides: Overrides | None = None,
    copies: Copies | None = None,
) -> Plan:
    agents = WorkflowAgents(paths, loaded.path.parent, root_for(loaded.path, paths))
    return build_plan(loaded, agents, config, inputs=inputs, overrides=overrides, copies=copies)


def called_copies(plan: Plan) -> list[CalledCopy]:
    """The file of every workflow the plan calls (also from loops and called workflows)."""
    found = []
    for planned in plan.steps.values():
        body = planned.body
        if body is None:
            continue
        if isinstance(planned.step, WorkflowStep):
            caller, reference = str(plan.loaded.path), planned.step.workflow
            called = body.loaded
            found.append(CalledCopy(caller, reference, str(called.path), called.doc.text))
        found.extend(called_copies(body))
    return found


def save_copies(record: RunRecord, plan: Plan) -> None:
    """The called workflows' files, kept beside `workflow.yaml`: `called/<n>.yaml`, listed in
    `called.json`."""
    copies = called_copies(plan)
    if not copies:
        return
    directory = record.directory / "called"
    directory.mkdir(mode=0o700, exist_ok=True)
    listed = []
    for number, copy in enumerate(copies):
        name = f"called/{number}.yaml"
        write_atomic(record.directory / name, copy.text.encode("utf-8"))
        listed.append(
            {"caller": copy.caller, "reference": copy.reference, "path": copy.path, "file": name}
        )
    write_atomic(record.directory / "called.json", dump(listed), durable=True)


def read_copies(record: RunRecord) -> dict[tuple[str, str], CalledCopy]:
    """What `save_copies` kept (nothing for a run that calls no workflow)."""
    index = record.directory / "called.json"
    if not index.is_file():
        return {}
    try:
        listed = orjson.loads(index.read_bytes())
        copies = [
            CalledCopy(
                str(entry["caller"]),
                str(entry["reference"]),
                str(entry["path"]),
                (record.directory / str(entry["file"])).read_text(encoding="utf-8"),
            )
            for entry in listed
        ]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(
            f"{index}: damaged run record: {exc} (this run cannot be resumed until the file is "
            "restored)",
        ) from None
    return {(copy.caller, copy.reference): copy for copy in copies}


@dataclass(slots=True)
class Execution:
    """One execution of a run: a new run, or a resumed one."""

    plan: Plan
    record: RunRecord
    pool: ProviderPool
    prior: Prior | None = None
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep
    warnings: list[str] = field(default_factory=list)
    runner: WorkflowRunner | None = None
    toolbox: ToolboxOpener | None = None
    # Where units run (None: in this process, `LocalDispatcher`).
    dispatcher: DispatcherFactory | None = None
    limit: SpendLimit | None = None  # --max-usd / --max-tokens: over the workflow's own budget
    cache_mode: CacheMode = "auto"
    price_of: PriceOf | None = None
    cache: StepCache | None = None
    commands: ToolSetup | None = None

    @property
    def run_id(self) -> str:
        return self.record.run_id

    async def run(self, observer: Observer | None = None) -> RunOutcome:
        self.runner = WorkflowRunner(
            self.plan,
            self.record,
            self.pool,
            observer=observer,
            sleep=self.sleep,
            prior=self.prior,
            toolbox=self.toolbox,
            dispatcher=self.dispatcher or local_dispatcher,
            price_of=self.price_of,
            # Every unit record of earlier attempts (not only the latest per unit) is what the
            # run has spent before.
            guard=budget_guard(
                self.plan,
                self.limit,
                read_events(self.record.directory / "units.jsonl", key="step")
                if self.prior
                else (),
            ),
            cache=RunCache(self.cache, self.cache_mode) if self.cache is not None else None,
            commands=self.commands,
        )
        try:
            with run_pace():  # collects garbage less often while it goes (rupu.workflows.gcpace)
                return await self.runner.run(resumed=self.prior is not None)
        finally:  # the runner has closed the pool's connections, alongside its last flush
            self.record.close()

    def interrupt(self, reason: str = INTERRUPTED) -> None:
        if self.runner is not None:
            self.runner.interrupt(reason)


@dataclass(slots=True)
class Engine:
    paths: Paths
    config: LoadedConfig
    build: ProviderBuilder
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep
    toolbox: ToolboxOpener | None = None
    # Refuses a plan before any provider is built (project trust); raises to refuse.
    check_plan: Callable[[Plan], None] | None = None
    dispatcher: DispatcherFactory | None = None
    price_of: PriceOf | None = None  # default: the catalog's and [pricing]'s prices
    # How `run` steps' commands run: the bash tool's permission mode, workspace and environment.
    commands: ToolSetup | None = None

    def _extras(self, execution: Execution, limit: SpendLimit | None, mode: CacheMode) -> Execution:
        execution.limit, execution.cache_mode = limit, mode
        execution.price_of = self.price_of or catalog_prices(ModelCatalog(self.config, self.paths))
        execution.cache = StepCache(cache_path(self.paths.home))
        return execution

    @property
    def store(self) -> RunStore:
        return RunStore(self.paths.runs)

    def _pool(self, plan: Plan) -> ProviderPool:
        if self.check_plan is not None:
            self.check_plan(plan)
        pool = ProviderPool(self.build, self.config)
        pool.prepare(plan.targets)
        return pool

    def start(
        self,
        loaded: LoadedWorkflow,
        inputs: Mapping[str, Any],
        overrides: Overrides,
        *,
        limit: SpendLimit | None = None,
        cache_mode: CacheMode = "auto",
    ) -> Execution:
        """Everything is checked and every provider built before the run record exists. `limit`
        (`--max-usd` / `--max-tokens`) replaces the workflow's own `budget:` values it sets;
        `cache_mode` says which steps read the step cache."""
        plan = plan_workflow(loaded, self.paths, self.config, inputs=inputs, overrides=overrides)
        pool = self._pool(plan)
        record = self.store.create(
            new_run_id(),
            workflow=loaded.name,
            source=loaded.path,
            text=loaded.doc.text,
            inputs=plan.inputs,
            overrides=overrides.as_dict(),
            steps=list(plan.steps),
        )
        save_copies(record, plan)
        record.take_lock()
        warnings = [*loaded.warnings, *plan.notes]
        execution = Execution(
            plan,
            record,
            pool,
            None,
            self.sleep,
            warnings,
            toolbox=self.toolbox,
            dispatcher=self.dispatcher,
            commands=self.commands,
        )
        return self._extras(execution, limit, cache_mode)

    def reopen(
        self,
        reference: str,
        *,
        decide: tuple[str | None, str, str | None] | None = None,
        limit: SpendLimit | None = None,
        cache_mode: CacheMode = "auto",
    ) -> Execution:
        """A stored run, ready to resume. `decide` = (step or None, "approved"|"rejected", reason)
        records an approval decision first."""
        record = self.store.open(reference)
        record.take_lock()
        try:
            record.check_records()
            state = record.read_state()
            if state.get("status") in FINISHED and decide is None:
                raise ConfigError(
                    f"run {record.run_id} already succeeded; there is nothing to resume",
                    hint="start a new run with `rupu workflow run`",
                )
            meta = record.meta
            source = Path(str(meta.get("source", "workflow.yaml")))
            loaded = parse_workflow(
                record.snapshot_text(), source, root=root_for(source, self.paths)
            )
            saved = dict(meta.get("overrides") or {})
            saved["fallbacks"] = tuple(saved.get("fallbacks") or ())
            overrides = Overrides(**saved)
            plan = plan_workflow(
                loaded,
                self.paths,
                self.config,
                inputs=meta.get("inputs") or {},
                overrides=overrides,
                copies=read_copies(record),
            )
            log = record.open_log()
            _, torn = repair_jsonl(record.directory / "units.jsonl")
            warnings = [*log.warnings, *([torn] if torn else [])]
            pool = self._pool(plan)
            _mark_lost_units(record)
            if decide is not None:
                _decide(record, state, *decide)
        except BaseException:
            record.close()
            raise
        record.flush()
        prior = Prior.load(record)
        execution = Execution(
            plan,
            record,
            pool,
            prior,
            self.sleep,
            warnings,
            toolbox=self.toolbox,
            dispatcher=self.dispatcher,
            commands=self.commands,
        )
        return self._extras(execution, limit, cache_mode)


def _mark_lost_units(record: RunRecord) -> None:
    """Units whose process died mid-run (started, never finished) are logged as interrupted."""
    running: dict[tuple[str, int], bool] = {}
    for event in read_run_events(record.directory / "events.jsonl"):
        if isinstance(event, UnitStarted | UnitFinished):
            running[(event.step, event.unit)] = isinstance(event, UnitStarted)
    log = record.open_log()
    for (step, unit), started in running.items():
        if started:
            log.append(
                UnitFinished(
                    step=step,
                    unit=unit,
                    status="interrupted",
                    error="the rupu process running this unit stopped",
                )
            )


def _decide(
    record: RunRecord, state: dict[str, Any], step: str | None, decision: str, reason: str | None
) -> None:
    pending = list(state.get("awaiting_approval") or [])
    if not pending:
        raise ConfigError(
            f"run {record.run_id} is not waiting for an approval (status: {state.get('status')})",
            hint="see it with `rupu workflow show-run " + record.run_id + "`",
        )
    if step is None:
        if len(pending) > 1:
            raise ConfigError(
                f"run {record.run_id} waits for approval of several steps: {', '.join(pending)}",
                hint="name one with --step",
            )
        step = pending[0]
    if step not in pending:
        raise ConfigError(
            f"step '{step}' of run {record.run_id} is not waiting for approval",
            hint=f"waiting: {', '.join(pending)}",
        )
    record.open_log().append(ApprovalDecided(step=step, decision=decision, reason=reason))
