"""`rupu usage`: token and cost totals read back from transcripts.

Sources: every `*.jsonl` transcript in `$RUPU_HOME/transcripts/` (standalone runs) and under
`$RUPU_HOME/runs/<run_id>/` (workflow steps; the workflow's name comes from the transcript's
`run_start`, else the run directory's `run.json`, else the directory name). A file is a transcript
when a `run_start` event comes before its `usage` events; anything else is ignored. Each `usage`
event is one call. Its recorded `cost_usd` is used as it is; a call recorded without one (an older
transcript, a runner that did not price) is priced now from the catalog.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson

from rupu.catalog.catalog import ModelCatalog
from rupu.catalog.pricing import Pricer, pricer, tiered
from rupu.errors import UsageError
from rupu.messages import Usage
from rupu.paths import Paths
from rupu.transcripts import read_events

GroupBy = Literal["provider", "model", "agent", "workflow", "day", "tier"]
GROUP_COLUMNS: dict[GroupBy, tuple[str, ...]] = {
    "provider": ("PROVIDER",),
    "model": ("PROVIDER", "MODEL"),
    "agent": ("AGENT",),
    "workflow": ("WORKFLOW",),
    "day": ("DAY",),
    "tier": ("TIER",),
}
_DURATION = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")
_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


@dataclass(frozen=True, slots=True)
class UsageCall:
    """One call. `run_id` is its transcript's run; `run` is what RUNS counts: the workflow run for a
    unit of a workflow, else the transcript's run."""

    run_id: str
    ts: float
    provider: str
    model: str
    agent: str | None
    workflow: str | None
    usage: Usage
    cost: float | None
    run: str = ""


@dataclass(slots=True)
class UsageTotals:
    runs: set[str] = field(default_factory=set)
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    cost_usd: float = 0.0
    unpriced_calls: int = 0

    def add(self, call: UsageCall) -> None:
        self.runs.add(call.run or call.run_id)
        self.calls += 1
        self.input_tokens += call.usage.input_tokens
        self.output_tokens += call.usage.output_tokens
        self.cache_read_tokens += call.usage.cache_read_tokens
        self.cache_write_tokens += call.usage.cache_write_tokens
        self.reasoning_tokens += call.usage.reasoning_tokens
        if call.cost is None:
            self.unpriced_calls += 1
        else:
            self.cost_usd = round(self.cost_usd + call.cost, 12)

    def as_dict(self) -> dict[str, Any]:
        return {
            "runs": len(self.runs),
            "calls": self.calls,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "reasoning_tokens": self.reasoning_tokens,
            "cost_usd": round(self.cost_usd, 10),
            "unpriced_calls": self.unpriced_calls,
        }


@dataclass(slots=True)
class UsageReport:
    group_by: GroupBy
    since: float | None
    groups: dict[tuple[str, ...], UsageTotals]
    total: UsageTotals
    unpriced: set[tuple[str, str]] = field(default_factory=set)

    def rows(self) -> list[tuple[tuple[str, ...], UsageTotals]]:
        """Days in order; every other grouping by cost, then tokens, largest first."""
        items = list(self.groups.items())
        if self.group_by == "day":
            return sorted(items)
        return sorted(
            items,
            key=lambda kv: (-kv[1].cost_usd, -(kv[1].input_tokens + kv[1].output_tokens), kv[0]),
        )


def parse_since(text: str, *, now: float, flag: str = "--since") -> float:
    """`7d`, `24h`, `30m`, `2w` back from `now`, or a local date/time like `2026-01-31`."""
    match = _DURATION.match(text)
    if match:
        return now - int(match.group(1)) * _UNITS[match.group(2)]
    try:
        return dt.datetime.fromisoformat(text.strip()).timestamp()
    except ValueError:
        raise UsageError(
            f"invalid {flag} '{text}'",
            hint="use a duration like 7d, 24h, 30m or 2w, or a date like 2026-01-31",
        ) from None


def transcript_files(paths: Paths) -> Iterator[tuple[Path, str | None, str | None]]:
    """(transcript, workflow name, workflow run id) for standalone runs (no workflow, no run id:
    the transcript is the run), then the units of workflow runs."""
    if paths.transcripts.is_dir():
        for path in sorted(paths.transcripts.glob("*.jsonl")):
            yield path, None, None
    if paths.runs.is_dir():
        for run_dir in sorted(p for p in paths.runs.iterdir() if p.is_dir()):
            workflow = workflow_name(run_dir)
            for path in sorted(run_dir.rglob("*.jsonl")):
                yield path, workflow, run_dir.name


def workflow_name(run_dir: Path) -> str:
    try:
        data = orjson.loads((run_dir / "run.json").read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return run_dir.name
    if isinstance(data, dict):
        for key in ("workflow", "workflow_name", "name"):
            value = data.get(key)
            if isinstance(value, dict):
                value = value.get("name")
            if isinstance(value, str) and value:
                return value
    return run_dir.name


def read_calls(
    path: Path,
    workflow: str | None,
    price: Callable[[str, str], Pricer],
    *,
    run: str | None = None,
) -> Iterator[UsageCall]:
    """The calls (usage events) of one transcript; nothing when the file is not a transcript."""
    started = False
    run_id, agent, provider, model = path.stem, None, "", ""
    for event in read_events(path):
        data = event.get("data")
        if not isinstance(data, dict):
            continue
        if event["type"] == "run_start":
            started = True
            run_id = str(data.get("run_id") or run_id)
            agent = data.get("agent") or agent
            provider = str(data.get("provider") or provider)
            model = str(data.get("model") or model)
            workflow = data.get("workflow") or workflow
        elif event["type"] == "usage" and started:
            call_provider = str(data.get("provider") or provider)
            call_model = str(data.get("model") or model)
            usage = Usage(
                input_tokens=_count(data, "input_tokens"),
                output_tokens=_count(data, "output_tokens"),
                cache_read_tokens=_count(data, "cache_read_tokens"),
                cache_write_tokens=_count(data, "cache_write_tokens"),
                reasoning_tokens=_count(data, "reasoning_tokens"),
                reported=bool(data.get("reported", True)),
                service_tier=_text(data, "service_tier"),
            )
            recorded = data.get("cost_usd")
            if isinstance(recorded, int | float) and not isinstance(recorded, bool):
                cost: float | None = float(recorded)
            else:
                cost = price(call_provider, call_model)(usage)
            ts = event.get("ts")
            yield UsageCall(
                run_id,
                float(ts) if isinstance(ts, int | float) else 0.0,
                call_provider,
                call_model,
                agent,
                workflow,
                usage,
                cost,
                run or run_id,
            )


def _text(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) and value else None


def _count(data: dict[str, Any], key: str) -> int:
    value = data.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def group_key(call: UsageCall, group_by: GroupBy) -> tuple[str, ...]:
    if group_by == "provider":
        return (call.provider,)
    if group_by == "model":
        return (call.provider, call.model)
    if group_by == "agent":
        return (call.agent or "-",)
    if group_by == "workflow":
        return (call.workflow or "-",)
    if group_by == "tier":
        return (call.usage.service_tier or "-",)
    return (dt.datetime.fromtimestamp(call.ts).strftime("%Y-%m-%d"),)


def build_report(
    paths: Paths, catalog: ModelCatalog, *, group_by: GroupBy, since: float | None = None
) -> UsageReport:
    pricers: dict[tuple[str, str], Pricer] = {}

    def price(provider: str, model: str) -> Pricer:
        key = (provider, model)
        if key not in pricers:
            known = provider in catalog.providers()
            base = pricer(catalog.price(provider, model) if known else None)
            pricers[key] = tiered(base, catalog.kind(provider)) if known else base
        return pricers[key]

    report = UsageReport(group_by, since, {}, UsageTotals())
    seen_runs: set[str] = set()
    for path, workflow, run in transcript_files(paths):
        calls = list(read_calls(path, workflow, price, run=run))
        if not calls or calls[0].run_id in seen_runs:
            continue
        seen_runs.add(calls[0].run_id)
        for call in calls:
            if since is not None and call.ts < since:
                continue
            report.groups.setdefault(group_key(call, group_by), UsageTotals()).add(call)
            report.total.add(call)
            if call.cost is None:
                report.unpriced.add((call.provider, call.model))
    return report
