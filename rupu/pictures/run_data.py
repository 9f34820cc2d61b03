"""What a run report shows, read from a run's records into plain JSON-able data.

A workflow run: `run.json` (workflow, inputs), `state.json` (status, totals), `units.jsonl` (one
line per finished unit, the last one wins), `events.jsonl` (start and end times, retries, failovers,
approvals) and each unit's transcript. A single agent run: its transcript alone. Records are read as
they are: a torn line is skipped, a missing file is an empty section.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from rupu.errors import RupuError
from rupu.pictures.graph import Node, WorkflowGraph
from rupu.pictures.svg import to_svg
from rupu.workflows.loader import parse_workflow
from rupu.workflows.recordfile import read_events
from rupu.workflows.store import RunRecord

ReportData = dict[str, Any]
TRANSCRIPT_KEEP = frozenset(
    {
        "run_start",
        "user_prompt",
        "assistant_message",
        "tool_call",
        "tool_result",
        "file_edit",
        "command_run",
        "permission",
        "path_denied",
        "retry",
        "failover",
        "error",
        "note",
        "context_trimmed",
        "run_complete",
    }
)


def _object(path: Path) -> dict[str, Any]:
    try:
        value = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return {}
    return value if isinstance(value, dict) else {}


def transcript_entries(path: Path) -> list[dict[str, Any]]:
    """The records of a transcript a reader needs: messages, thinking, tool calls and results."""
    return [
        {"type": e["type"], "ts": e.get("ts"), "data": e.get("data") or {}}
        for e in read_events(path)
        if e.get("type") in TRANSCRIPT_KEEP
    ]


def _within(path: object, step: str) -> bool:
    """Whether a unit's step path is `step` or a step inside it (`fix.2.review` in `fix`)."""
    return isinstance(path, str) and (path == step or path.startswith(step + "."))


def _unit_key(step: str, unit: int) -> str:
    return f"{step}/{unit}"


def _credential(entries: list[dict[str, Any]]) -> str | None:
    for entry in entries:
        if entry["type"] == "run_start":
            value = entry["data"].get("credential")
            return str(value) if value is not None else None
    return None


def workflow_run_data(record: RunRecord) -> ReportData:
    directory = record.directory
    meta = dict(record.meta)
    state = _object(directory / "state.json")
    units: dict[str, dict[str, Any]] = {}
    for line in read_events(directory / "units.jsonl", key="step"):
        if isinstance(line.get("step"), str) and isinstance(line.get("unit"), int):
            units[_unit_key(line["step"], line["unit"])] = line
    timeline: dict[str, dict[str, Any]] = {}
    marks: list[dict[str, Any]] = []
    step_events: dict[str, dict[str, Any]] = {}
    started = finished = None
    for event in read_events(directory / "events.jsonl"):
        kind, ts, step = event.get("type"), event.get("ts"), event.get("step")
        if not isinstance(ts, int | float):
            continue
        started = ts if started is None else min(started, ts)
        finished = ts if finished is None else max(finished, ts)
        unit = event.get("unit")
        key = _unit_key(step, unit) if isinstance(step, str) and isinstance(unit, int) else None
        if kind == "unit_started" and key is not None:
            timeline[key] = {"start": ts, "end": None, "provider": event.get("provider")}
        elif kind == "unit_finished" and key is not None and key in timeline:
            timeline[key]["end"] = ts
        elif kind in ("unit_retry", "unit_retried", "failover", "approval_requested") or (
            kind == "approval_decided"
        ):
            marks.append({"type": kind, "ts": ts, "step": step, "unit": unit})
        if kind in ("step_started", "step_finished") and isinstance(step, str):
            step_events.setdefault(step, {})[kind] = event
    transcripts: dict[str, list[dict[str, Any]]] = {}
    rows: list[dict[str, Any]] = []
    for key, unit in units.items():
        name = unit.get("transcript")
        entries = transcript_entries(directory / name) if isinstance(name, str) else []
        transcripts[key] = entries
        times = timeline.get(key, {})
        rows.append(
            {
                "key": key,
                "step": unit.get("step"),
                "unit": unit.get("unit"),
                "sub": unit.get("sub"),
                "item": unit.get("item"),
                "status": unit.get("status"),
                "agent": unit.get("agent"),
                "provider": unit.get("provider"),
                "model": unit.get("model"),
                "credential": _credential(entries),
                "tokens": unit.get("tokens") or 0,
                "cost_usd": unit.get("cost_usd"),
                "duration_ms": unit.get("duration_ms"),
                "attempts": unit.get("attempts"),
                "error": unit.get("error"),
                "start": times.get("start"),
                "end": times.get("end"),
            }
        )
    steps = []
    for step_id in meta.get("steps") or []:
        saved = _object(directory / "steps" / f"{step_id}.json")
        finished_event = step_events.get(step_id, {}).get("step_finished", {})
        mine = [r for r in rows if _within(r["step"], step_id)]
        costs = [r["cost_usd"] for r in mine if isinstance(r["cost_usd"], int | float)]
        steps.append(
            {
                "id": step_id,
                "kind": step_events.get(step_id, {}).get("step_started", {}).get("kind")
                or saved.get("kind"),
                "status": saved.get("status") or finished_event.get("status") or "pending",
                "units": len(mine),
                "tokens": saved.get("tokens", sum(r["tokens"] for r in mine)),
                "cost_usd": saved.get("cost_usd", round(sum(costs), 6) if costs else None),
                "duration_ms": saved.get("duration_ms"),
                "error": saved.get("error"),
            }
        )
    graph = _graph(record, steps, rows)
    return {
        "kind": "workflow",
        "run": {
            "id": record.run_id,
            "workflow": meta.get("workflow"),
            "source": meta.get("source"),
            "inputs": meta.get("inputs") or {},
            "overrides": meta.get("overrides") or {},
            "status": state.get("status"),
            "error": state.get("error"),
            "tokens": state.get("tokens", sum(r["tokens"] for r in rows)),
            "cost_usd": state.get("cost_usd"),
            "duration_ms": state.get("duration_ms"),
            "started": started,
            "finished": finished,
        },
        "steps": steps,
        "units": rows,
        "marks": marks,
        "transcripts": transcripts,
        "graph_svg": to_svg(graph, element_id="run-graph"),
    }


def _graph(
    record: RunRecord, steps: list[dict[str, Any]], rows: list[dict[str, Any]]
) -> WorkflowGraph:
    """The workflow's graph from the run's own snapshot of the file, coloured by step status (the
    steps without their edges when the snapshot no longer loads, e.g. a schema file has gone)."""
    source = Path(str(record.meta.get("source", "workflow.yaml")))
    try:
        loaded = parse_workflow(record.snapshot_text(), source, root=source.parent)
        needs = {s["id"]: loaded.graph.needs(s["id"]) for s in steps}
    except (RupuError, OSError, KeyError):
        needs = {}
    nodes = []
    for step in steps:
        mine = [r for r in rows if _within(r["step"], step["id"])]
        targets = sorted({f"{r['provider']}:{r['model']}" for r in mine if r["provider"]})
        lines = [*targets[:3], *([f"× {len(mine)} units"] if len(mine) > 1 else [])]
        nodes.append(Node(step["id"], str(step["kind"] or "step"), tuple(lines), step["status"]))
    edges = tuple((need, s["id"]) for s in steps for need in needs.get(s["id"], []))
    return WorkflowGraph(str(record.meta.get("workflow")), tuple(nodes), edges)


def agent_run_data(transcript: Path) -> ReportData:
    """The report of one `rupu run`: one step, one unit, its transcript."""
    entries = transcript_entries(transcript)
    start = next((e for e in entries if e["type"] == "run_start"), None)
    end = next((e for e in reversed(entries) if e["type"] == "run_complete"), None)
    head = start["data"] if start else {}
    tail = end["data"] if end else {}
    status = {"ok": "succeeded", "error": "failed", "aborted": "interrupted"}.get(
        str(tail.get("status")), "interrupted" if end is None else str(tail.get("status"))
    )
    error = tail.get("error")
    unit: dict[str, Any] = {
        "key": "run/0",
        "step": str(head.get("agent") or "run"),
        "unit": 0,
        "sub": None,
        "item": None,
        "status": status,
        "agent": head.get("agent"),
        "provider": head.get("provider"),
        "model": head.get("model"),
        "credential": head.get("credential"),
        "tokens": tail.get("total_tokens") or 0,
        "cost_usd": tail.get("cost_usd"),
        "duration_ms": tail.get("duration_ms"),
        "attempts": 1,
        "error": error if isinstance(error, str) else None,
        "start": start["ts"] if start else None,
        "end": end["ts"] if end else None,
    }
    step: dict[str, Any] = {
        "id": unit["step"],
        "kind": "agent",
        "status": status,
        "units": 1,
        "tokens": unit["tokens"],
        "cost_usd": unit["cost_usd"],
        "duration_ms": unit["duration_ms"],
        "error": unit["error"],
    }
    graph = WorkflowGraph(
        str(head.get("run_id") or transcript.stem),
        (Node(step["id"], "agent", (f"{unit['provider']}:{unit['model']}",), status),),
    )
    return {
        "kind": "agent",
        "run": {
            "id": head.get("run_id") or transcript.stem,
            "workflow": None,
            "agent": head.get("agent"),
            "inputs": {},
            "status": status,
            "error": unit["error"],
            "tokens": unit["tokens"],
            "cost_usd": unit["cost_usd"],
            "duration_ms": unit["duration_ms"],
            "started": unit["start"],
            "finished": unit["end"],
        },
        "steps": [step],
        "units": [unit],
        "marks": [],
        "transcripts": {"run/0": entries},
        "graph_svg": to_svg(graph, element_id="run-graph"),
    }
