"""The run report: one self-contained HTML file (inline CSS and script, data as embedded JSON, a
Content-Security-Policy that forbids every network request), readable offline and fast for tens of
thousands of units (the unit table is paged, transcripts are drawn when opened).

The header, the graph and the step table are written here; the timeline, the unit table and the
transcript panels are drawn by the page's script from the embedded data.
"""

from __future__ import annotations

import time
from html import escape
from importlib import resources
from typing import Any

import orjson

from rupu.pictures.run_data import ReportData

CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; "
    "connect-src 'none'; form-action 'none'; base-uri 'none'"
)


def _asset(name: str) -> str:
    return resources.files("rupu.pictures").joinpath("assets", name).read_text(encoding="utf-8")


def _usd(value: Any) -> str:
    if not isinstance(value, int | float):
        return "—"
    return f"${value:,.4f}" if value < 1 else f"${value:,.2f}"


def _duration(ms: Any) -> str:
    if not isinstance(ms, int | float):
        return "—"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes}m{seconds:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


def _when(ts: Any) -> str:
    if not isinstance(ts, int | float):
        return "—"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))


def _header(data: ReportData) -> str:
    run = data["run"]
    title = run.get("workflow") or run.get("agent") or "run"
    inputs = "".join(
        f"<li><code>{escape(str(k))}</code> = {escape(orjson.dumps(v).decode())}</li>"
        for k, v in (run.get("inputs") or {}).items()
    )
    error = (
        f'<p class="error" id="run-error">{escape(str(run["error"]))}</p>'
        if run.get("error")
        else ""
    )
    facts = [
        (
            "status",
            f'<span class="status s-{escape(str(run.get("status")))}">'
            f"{escape(str(run.get('status')))}</span>",
        ),
        ("run", f"<code>{escape(str(run.get('id')))}</code>"),
        ("started", escape(_when(run.get("started")))),
        ("duration", escape(_duration(run.get("duration_ms")))),
        ("tokens", f"{int(run.get('tokens') or 0):,}"),
        ("cost", escape(_usd(run.get("cost_usd")))),
        ("units", f"{len(data['units']):,}"),
    ]
    rows = "".join(f'<div class="fact" data-fact="{k}"><span>{k}</span>{v}</div>' for k, v in facts)
    kind = "workflow" if data["kind"] == "workflow" else "agent run"
    return (
        f"<header><h1>{escape(str(title))} <small>{kind}</small></h1>"
        f'<div class="facts">{rows}</div>{error}'
        + (f"<details><summary>inputs</summary><ul>{inputs}</ul></details>" if inputs else "")
        + "</header>"
    )


def _steps_table(data: ReportData) -> str:
    body = "".join(
        f'<tr data-step="{escape(str(s["id"]))}"><td>{escape(str(s["id"]))}</td>'
        f"<td>{escape(str(s.get('kind') or ''))}</td>"
        f'<td><span class="status s-{escape(str(s["status"]))}">{escape(str(s["status"]))}</span></td>'
        f"<td class=num>{s['units']:,}</td><td class=num>{int(s.get('tokens') or 0):,}</td>"
        f"<td class=num>{escape(_usd(s.get('cost_usd')))}</td>"
        f"<td class=num>{escape(_duration(s.get('duration_ms')))}</td>"
        f"<td class=error>{escape(str(s.get('error') or ''))}</td></tr>"
        for s in data["steps"]
    )
    return (
        '<table id="steps"><thead><tr><th>step</th><th>kind</th><th>status</th><th>units</th>'
        "<th>tokens</th><th>cost</th><th>duration</th><th>error</th></tr></thead>"
        f"<tbody>{body}</tbody></table>"
    )


def render_report(data: ReportData) -> str:
    payload = orjson.dumps(data).decode().replace("</", "<\\/")
    title = data["run"].get("workflow") or data["run"].get("agent") or "run"
    graph = (
        data.get("graph_svg") or '<p class="muted">no graph: the workflow snapshot is damaged</p>'
    )
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="rupu">
<title>{escape(str(title))} · {escape(str(data["run"].get("id")))} · rupu report</title>
<style>{_asset("report.css")}</style>
</head>
<body>
{_header(data)}
<section id="graph-section"><h2>Graph</h2><div class="graph">{graph}</div></section>
<section id="timeline-section"><h2>Timeline</h2><div id="timeline"></div>
<div id="legend" class="legend"></div></section>
<section id="steps-section"><h2>Steps</h2>{_steps_table(data)}</section>
<section id="units-section"><h2>Units</h2>
<div class="controls"><input id="filter" type="search" placeholder="filter: step, provider, status, error…">
<select id="status-filter"><option value="">every status</option></select>
<span id="pager"></span></div>
<table id="units"><thead><tr><th>step</th><th>unit</th><th>status</th><th>provider</th>
<th>model</th><th>credential</th><th>tokens</th><th>cost</th><th>duration</th><th>tries</th>
<th>error</th><th></th></tr></thead><tbody></tbody></table></section>
<script type="application/json" id="report-data">{payload}</script>
<script>{_asset("report.js")}</script>
</body>
</html>
"""
