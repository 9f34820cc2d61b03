"use strict";
(function () {
  const D = JSON.parse(document.getElementById("report-data").textContent);
  const PAGE = 100;
  const PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1",
    "#ff9da7", "#9c755f", "#bab0ac"];
  const providers = [...new Set(D.units.map((u) => u.provider || "?"))].sort();
  const colour = (p) => PALETTE[providers.indexOf(p || "?") % PALETTE.length];
  const el = (tag, attrs, ...kids) => {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v; else node.setAttribute(k, v);
    }
    for (const kid of kids) node.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    return node;
  };
  const usd = (v) => (typeof v === "number" ? (v < 1 ? "$" + v.toFixed(4) : "$" + v.toFixed(2)) : "—");
  const secs = (ms) => (typeof ms === "number" ? (ms / 1000).toFixed(1) + "s" : "—");

  // ---- timeline: one bar per unit (grouped by step), or one per step when there are very many
  const SVGNS = "http://www.w3.org/2000/svg";
  const svgEl = (tag, attrs) => {
    const node = document.createElementNS(SVGNS, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    return node;
  };
  function drawTimeline() {
    const box = document.getElementById("timeline");
    const timed = D.units.filter((u) => typeof u.start === "number");
    if (!timed.length) { box.append(el("p", { class: "muted" }, "no timing recorded")); return; }
    const t0 = Math.min(...timed.map((u) => u.start));
    const t1 = Math.max(...timed.map((u) => u.end ?? u.start), ...D.marks.map((m) => m.ts));
    const span = Math.max(t1 - t0, 0.001);
    const perUnit = timed.length <= 2000;
    const rows = [];
    for (const step of D.steps) {
      const mine = timed.filter((u) => u.step === step.id || String(u.step).startsWith(step.id + "."));
      if (!mine.length) continue;
      if (perUnit) mine.forEach((u) => rows.push({ label: `${u.step}[${u.unit}]`, units: [u], step: u.step }));
      else rows.push({ label: `${step.id} (${mine.length})`, units: mine, step: step.id });
    }
    const labelW = 160, width = Math.max(720, box.clientWidth || 1000) - 8, rowH = perUnit && rows.length > 200 ? 4 : 14;
    const plotW = width - labelW - 10, height = rows.length * rowH + 24;
    const x = (t) => labelW + ((t - t0) / span) * plotW;
    const svg = svgEl("svg", { width, height, id: "timeline-svg", "font-size": "10", "font-family": "Helvetica, Arial, sans-serif" });
    rows.forEach((row, i) => {
      const y = i * rowH;
      if (rowH >= 10) svg.append(Object.assign(svgEl("text", { x: 0, y: y + rowH - 3 }), { textContent: row.label }));
      const bars = perUnit ? row.units : [{
        key: row.step, start: Math.min(...row.units.map((u) => u.start)),
        end: Math.max(...row.units.map((u) => u.end ?? t1)), provider: row.units[0].provider,
        model: `${row.units.length} units`, duration_ms: null,
        status: row.units.every((u) => u.status === "succeeded" || u.status === "cached") ? "succeeded" : "failed",
      }];
      for (const u of bars) {
        const end = u.end ?? t1;
        const bar = svgEl("rect", { x: x(u.start), y: y + 1, width: Math.max(1, x(end) - x(u.start)), height: rowH - 2,
          fill: colour(u.provider), class: "bar", "data-unit": u.key, "data-status": u.status || "" });
        if (u.status && u.status !== "succeeded" && u.status !== "cached") bar.setAttribute("stroke", "#b42318");
        bar.append(Object.assign(svgEl("title", {}), { textContent: `${u.key} · ${u.provider}:${u.model} · ${u.status} · ${secs(u.duration_ms)}` }));
        svg.append(bar);
      }
    });
    const rowOf = new Map();
    rows.forEach((row, i) => row.units.forEach((u) => rowOf.set(u.key, i)));
    for (const m of D.marks) {
      const key = `${m.step}/${m.unit}`;
      if (m.type.startsWith("approval")) {
        svg.append(svgEl("line", { x1: x(m.ts), x2: x(m.ts), y1: 0, y2: rows.length * rowH, stroke: "#9a6700", "stroke-dasharray": "3 3", class: "mark approval" }));
      } else if (rowOf.has(key)) {
        const y = rowOf.get(key) * rowH;
        svg.append(svgEl("path", { d: `M ${x(m.ts)} ${y} l 4 ${rowH / 2} l -4 ${rowH / 2} l -4 ${-rowH / 2} z`,
          fill: m.type === "failover" ? "#8250df" : "#b42318", class: "mark " + m.type }));
      }
    }
    const axisY = rows.length * rowH + 14;
    for (let i = 0; i <= 4; i++) {
      const t = t0 + (span * i) / 4;
      svg.append(Object.assign(svgEl("text", { x: x(t) - 10, y: axisY, fill: "#6a737d" }), { textContent: (t - t0).toFixed(span < 10 ? 2 : 0) + "s" }));
    }
    box.append(svg);
    const legend = document.getElementById("legend");
    providers.forEach((p) => legend.append(el("span", {}, Object.assign(el("i"), { style: `background:${colour(p)}` }), p)));
    legend.append(el("span", {}, "◆ retry / failover   ┆ approval"));
  }

  // ---- transcript panels
  function diffBlock(text) {
    const pre = el("pre", { class: "diff" });
    for (const line of String(text).split("\n")) {
      const cls = line.startsWith("@@") ? "hunk" : line.startsWith("+") ? "add" : line.startsWith("-") ? "del" : "";
      pre.append(el("span", { class: cls }, line + "\n"));
    }
    return pre;
  }
  function entry(kind, who, body) {
    return el("div", { class: "entry " + kind }, el("div", { class: "who" }, who), body);
  }
  function transcript(key) {
    const box = el("div", { class: "transcript-panel", "data-unit": key });
    const entries = D.transcripts[key] || [];
    if (!entries.length) box.append(el("p", { class: "muted" }, "no transcript recorded"));
    for (const e of entries) {
      const d = e.data || {};
      switch (e.type) {
        case "run_start": box.append(entry("meta", "run", el("pre", {}, `${d.agent} on ${d.provider}:${d.model} · ${d.credential || ""}`))); break;
        case "user_prompt": box.append(entry("user", "prompt", el("pre", {}, d.text || ""))); break;
        case "assistant_message":
          if (d.thinking) box.append(entry("thinking", "thinking", el("pre", {}, typeof d.thinking === "string" ? d.thinking : JSON.stringify(d.thinking, null, 1))));
          if (d.content) box.append(entry("assistant", "assistant", el("pre", {}, typeof d.content === "string" ? d.content : JSON.stringify(d.content, null, 1))));
          break;
        case "tool_call": box.append(entry("tool", `tool call · ${d.tool}`, el("pre", {}, JSON.stringify(d.input, null, 1)))); break;
        case "tool_result": box.append(entry(d.is_error ? "tool bad" : "tool", `result · ${d.tool}${d.is_error ? " · error" : ""}`, el("pre", {}, d.output || ""))); break;
        case "file_edit": box.append(entry("tool", `${d.kind} · ${d.path}`, diffBlock(d.diff || ""))); break;
        case "command_run": box.append(entry("tool", "command", el("pre", {}, `${d.command || ""}  → exit ${d.exit_code ?? "?"}`))); break;
        case "error": box.append(entry("bad", "error", el("pre", {}, d.message || JSON.stringify(d)))); break;
        case "failover": case "retry": case "note": case "permission": case "path_denied": case "context_trimmed":
          box.append(entry(e.type === "path_denied" ? "bad" : "meta", e.type.replace("_", " "), el("pre", {}, JSON.stringify(d)))); break;
        case "run_complete": box.append(entry(d.status === "ok" ? "meta" : "bad", "end", el("pre", {}, `${d.status} · ${d.total_tokens ?? 0} tokens · ${usd(d.cost_usd)}${d.error ? "\n" + (typeof d.error === "string" ? d.error : JSON.stringify(d.error)) : ""}`))); break;
        default: break;
      }
    }
    return box;
  }

  // ---- units table, paged and filtered
  const tbody = document.querySelector("#units tbody");
  const filter = document.getElementById("filter");
  const statusFilter = document.getElementById("status-filter");
  [...new Set(D.units.map((u) => u.status))].sort().forEach((s) => statusFilter.append(el("option", { value: s }, s)));
  let page = 0;
  const opened = new Set();
  function matching() {
    const q = filter.value.trim().toLowerCase();
    const st = statusFilter.value;
    return D.units.filter((u) => (!st || u.status === st) && (!q ||
      [u.key, u.provider, u.model, u.status, u.error, u.agent, u.item].some((v) => v != null && String(v).toLowerCase().includes(q))));
  }
  function row(u) {
    const button = el("button", { class: "open", type: "button" }, opened.has(u.key) ? "hide" : "transcript");
    const tr = el("tr", { "data-unit": u.key, "data-status": u.status || "" },
      el("td", {}, u.step), el("td", {}, u.sub ?? (u.item != null ? `${u.unit}: ${typeof u.item === "string" ? u.item : JSON.stringify(u.item)}` : u.unit)),
      el("td", {}, el("span", { class: "status s-" + u.status }, u.status)),
      el("td", {}, el("span", {}, Object.assign(el("i"), { style: `display:inline-block;width:8px;height:8px;background:${colour(u.provider)};margin-right:4px` }), u.provider || "")),
      el("td", {}, u.model || ""), el("td", {}, u.credential || ""),
      el("td", { class: "num" }, (u.tokens || 0).toLocaleString("en")), el("td", { class: "num cost" }, usd(u.cost_usd)),
      el("td", { class: "num" }, secs(u.duration_ms)), el("td", { class: "num" }, u.attempts ?? ""),
      el("td", { class: "error" }, u.error || ""), el("td", {}, button));
    button.addEventListener("click", () => { opened.has(u.key) ? opened.delete(u.key) : opened.add(u.key); draw(); });
    return tr;
  }
  function draw() {
    const rows = matching();
    const pages = Math.max(1, Math.ceil(rows.length / PAGE));
    page = Math.min(page, pages - 1);
    tbody.replaceChildren();
    for (const u of rows.slice(page * PAGE, page * PAGE + PAGE)) {
      tbody.append(row(u));
      if (opened.has(u.key)) tbody.append(el("tr", { class: "transcript" }, Object.assign(el("td", {}, transcript(u.key)), { colSpan: 12 })));
    }
    const pager = document.getElementById("pager");
    pager.replaceChildren(`${rows.length.toLocaleString("en")} units · page ${page + 1} of ${pages} `);
    const go = (label, to) => { const b = el("button", { type: "button" }, label); b.disabled = to < 0 || to >= pages || to === page; b.addEventListener("click", () => { page = to; draw(); }); pager.append(b); };
    go("«", 0); go("‹", page - 1); go("›", page + 1); go("»", pages - 1);
  }
  filter.addEventListener("input", () => { page = 0; draw(); });
  statusFilter.addEventListener("change", () => { page = 0; draw(); });

  // #unit=<step>/<n> opens that unit's transcript (and its page); #status=failed filters
  const hash = new URLSearchParams(location.hash.slice(1));
  if (hash.get("status")) statusFilter.value = hash.get("status");
  if (hash.get("unit")) {
    const key = hash.get("unit");
    opened.add(key);
    const at = matching().findIndex((u) => u.key === key);
    if (at >= 0) page = Math.floor(at / PAGE);
  }
  drawTimeline();
  draw();
  document.body.setAttribute("data-ready", "true");
  document.body.setAttribute("data-render-ms", String(Math.round(performance.now())));
})();
