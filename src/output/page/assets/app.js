// The page of `llm-inf-bench dashboard` (live, talks to its server) and `report` (data inline).
// Views: start form + live run, history, one result, compare, sweep. No framework, no build.
"use strict";
const BOOT = JSON.parse(document.getElementById("boot").textContent);
const LIVE = BOOT.mode === "dashboard";
const TOKEN = new URLSearchParams(location.search).get("token");
// The server set a cookie from the token; keep it out of the address bar (and screenshots).
if (TOKEN) history.replaceState(null, "", location.pathname + location.hash);

// ---------- small helpers ----------
function h(tag, attrs, ...kids) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "class") node.className = v;
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const kid of kids.flat()) if (kid != null) node.append(kid instanceof Node ? kid : String(kid));
  return node;
}
const $ = (id) => document.getElementById(id);
const num = (v, d) => (v == null || !isFinite(v) ? "–" : Number(v).toFixed(d == null ? 1 : d));
const pct = (v) => (v == null ? "–" : (v * 100).toFixed(1) + "%");
const when = (iso) => (iso ? new Date(iso).toLocaleString() : "–");

async function api(path, opts) {
  const o = Object.assign({ headers: {} }, opts || {});
  if (TOKEN) o.headers.Authorization = "Bearer " + TOKEN;
  const r = await fetch(path, o);
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(body.error || body.message || r.status + " " + r.statusText);
  return body;
}

// ---------- data → chart model ----------
// Empirical CDF, thinned to at most ~400 points.
function cdf(values) {
  const v = values.filter((x) => x != null && isFinite(x)).sort((a, b) => a - b);
  const step = Math.max(1, Math.floor(v.length / 400));
  const x = [], y = [];
  for (let i = 0; i < v.length; i += step) { x.push(v[i]); y.push((i + 1) / v.length); }
  if (v.length) { x.push(v[v.length - 1]); y.push(1); }
  return { x, y };
}

// Completion tokens per second over a trailing window, from request end times.
function rolling(ends, tokens, upTo) {
  const idx = ends.map((_, i) => i).filter((i) => ends[i] != null).sort((a, b) => ends[a] - ends[b]);
  const span = Math.max(upTo || 0, idx.length ? ends[idx[idx.length - 1]] : 0);
  if (!idx.length || span <= 0) return { x: [], y: [] };
  const win = Math.max(0.05, span / 20), step = span / 150;
  const x = [], y = [];
  let lo = 0, hi = 0, sum = 0;
  for (let t = step; t <= span + step / 2; t += step) {
    while (hi < idx.length && ends[idx[hi]] <= t) sum += tokens[idx[hi++]] || 0;
    while (lo < hi && ends[idx[lo]] <= t - win) sum -= tokens[idx[lo++]] || 0;
    x.push(+t.toFixed(3)); y.push(sum / Math.min(win, t));
  }
  return { x, y };
}

function emptyModel() {
  return { end: [], start: [], ttft: [], e2e: [], tokens: [], ok: [],
    srv: { t: [], kv: [], active: [], queued: [], prefix: [], gen: [] }, vlines: [] };
}

// A stored run (RunView or /api/results/{id}) → the model the run charts draw.
function modelOf(view) {
  const c = view.chart, m = emptyModel();
  m.end = c.end_s; m.start = c.start_s; m.ttft = c.ttft_ms; m.e2e = c.e2e_ms;
  m.tokens = c.completion_tokens; m.ok = c.ok;
  const s = c.server || {};
  m.srv = { t: s.t || [], kv: (s.kv_cache_usage || []).map((v) => (v == null ? null : v * 100)),
    active: s.active_requests || [], queued: s.queued_requests || [],
    prefix: (s.prefix_cache_hit_rate || []).map((v) => (v == null ? null : v * 100)),
    gen: s.generation_throughput || [] };
  return m;
}

const CHARTS = [
  ["lat", "TTFT and E2E per request"], ["tps", "Tokens/s over time"], ["kv", "KV-cache usage"],
  ["rq", "Running and queued requests"], ["prefix", "Prefix-cache hit rate"],
  ["timeline", "Request timeline"], ["cdf", "Latency CDF"],
];

// Cards for the run charts; returns a draw(model) function.
function runCharts(parent) {
  const grid = h("div", { class: "grid" });
  const boxes = {};
  for (const [key, title] of CHARTS) {
    boxes[key] = h("div", { class: "chart", "data-chart": key, title });
    grid.append(h("div", { class: "card" }, boxes[key]));
  }
  parent.append(grid);
  return (m) => {
    const okIdx = (pred) => m.end.map((_, i) => i).filter(pred);
    const good = okIdx((i) => m.ok[i]), bad = okIdx((i) => !m.ok[i]);
    const pick = (arr, ids) => ids.map((i) => arr[i]);
    const srvMax = m.srv.t.length ? m.srv.t[m.srv.t.length - 1] : 0;
    const reqMax = m.end.reduce((a, v) => (v > a ? v : a), 0);
    const x = { xMin: 0, xMax: Math.max(srvMax, reqMax) || 1, xLabel: "s", vlines: m.vlines };
    Charts.line(boxes.lat, Object.assign({ title: "TTFT and E2E per request", yLabel: "ms", series: [
      { name: "E2E", x: pick(m.end, good), y: pick(m.e2e, good), mode: "points", color: "#5aa9ff" },
      { name: "TTFT", x: pick(m.end, good), y: pick(m.ttft, good), mode: "points", color: "#f5b84a" },
      { name: "failed", x: pick(m.end, bad), y: pick(m.e2e, bad), mode: "points", color: "#ff6b6b", size: 5 },
    ] }, x));
    const tps = rolling(m.end, m.tokens, x.xMax);
    Charts.line(boxes.tps, Object.assign({ title: "Tokens/s over time", yLabel: "tok/s", series: [
      { name: "client (completed requests)", x: tps.x, y: tps.y, color: "#3ecf8e" },
      { name: "server generation", x: m.srv.t, y: m.srv.gen, color: "#c08cff" },
    ] }, x));
    const noServer = "no data from the server for this metric (yet)";
    Charts.line(boxes.kv, Object.assign({ title: "KV-cache usage", yLabel: "%", empty: noServer,
      series: [{ name: "KV cache", x: m.srv.t, y: m.srv.kv, color: "#59d5e0" }] }, x));
    Charts.line(boxes.rq, Object.assign({ title: "Running and queued requests", yLabel: "requests", empty: noServer, series: [
      { name: "running", x: m.srv.t, y: m.srv.active, mode: "step", color: "#5aa9ff" },
      { name: "queued", x: m.srv.t, y: m.srv.queued, mode: "step", color: "#ff8fa3" },
    ] }, x));
    Charts.line(boxes.prefix, Object.assign({ title: "Prefix-cache hit rate", yLabel: "%", empty: noServer, yMax: 100,
      series: [{ name: "hit rate", x: m.srv.t, y: m.srv.prefix, color: "#b7c96b" }] }, x));
    const order = m.end.map((_, i) => i).sort((a, b) => (m.start[a] ?? 0) - (m.start[b] ?? 0));
    const row = new Array(m.end.length);
    order.forEach((i, k) => (row[i] = k));
    Charts.line(boxes.timeline, Object.assign({ title: "Request timeline", yLabel: "request (by start)", series: [
      { name: "ok", x: pick(m.start, good), x2: pick(m.end, good), y: pick(row, good), mode: "segments", color: "#5aa9ff" },
      { name: "failed", x: pick(m.start, bad), x2: pick(m.end, bad), y: pick(row, bad), mode: "segments", color: "#ff6b6b" },
    ] }, x));
    const t = cdf(pick(m.ttft, good)), e = cdf(pick(m.e2e, good));
    Charts.line(boxes.cdf, { title: "Latency CDF", xLabel: "ms", yLabel: "fraction", yMax: 1, series: [
      { name: "TTFT", x: t.x, y: t.y, color: "#f5b84a" }, { name: "E2E", x: e.x, y: e.y, color: "#5aa9ff" } ] });
  };
}

function summaryTable(s) {
  if (!s) return h("div");
  const stat = (name, st) => (st ? [name, num(st.p50), num(st.p95), num(st.p99), num(st.mean)] : null);
  const rows = [stat("TTFT (ms)", s.ttft), stat("E2E (ms)", s.e2e_latency), stat("TBT (ms)", s.tbt), stat("TPOT (ms)", s.tpot)].filter(Boolean);
  const g = s.gpu_summary;
  return h("div", { class: "card" },
    h("div", { class: "row" },
      h("span", {}, `Requests ${s.successful_requests}/${s.total_requests} ok`),
      h("span", { class: s.failed_requests ? "bad" : "muted" }, `${s.failed_requests} failed`),
      h("span", {}, `${num(s.tokens_per_second)} tok/s`), h("span", {}, `${num(s.requests_per_second, 2)} req/s`),
      h("span", { class: "muted" }, `${num(s.total_duration_s)} s`),
      g ? h("span", { class: "muted" }, `KV peak ${pct(g.kv_cache_usage_peak)} · prefix hit ${pct(g.prefix_cache_hit_rate)}`) : null),
    h("table", { class: "t" }, h("tr", {}, ["metric", "p50", "p95", "p99", "mean"].map((c, i) => h("th", { class: i ? "num" : "" }, c))),
      rows.map((r) => h("tr", {}, r.map((c, i) => h("td", { class: i ? "num" : "" }, c))))));
}

// ---------- compare and sweep (shared by the dashboard and the report) ----------
const METRICS = [
  ["Throughput (tok/s)", (s) => s.tokens_per_second, "higher"], ["Requests/s", (s) => s.requests_per_second, "higher"],
  ["TTFT p50 (ms)", (s) => s.ttft && s.ttft.p50, "lower"], ["TTFT p95 (ms)", (s) => s.ttft && s.ttft.p95, "lower"],
  ["TTFT p99 (ms)", (s) => s.ttft && s.ttft.p99, "lower"], ["E2E p50 (ms)", (s) => s.e2e_latency && s.e2e_latency.p50, "lower"],
  ["E2E p95 (ms)", (s) => s.e2e_latency && s.e2e_latency.p95, "lower"], ["E2E p99 (ms)", (s) => s.e2e_latency && s.e2e_latency.p99, "lower"],
  ["TBT p50 (ms)", (s) => s.tbt && s.tbt.p50, "lower"], ["Errors", (s) => s.failed_requests, "lower"],
];

function compareView(parent, views) {
  parent.append(h("h2", {}, `Compare ${views.length} runs`));
  const names = views.map((v) => v.run_id);
  const table = h("table", { class: "t" }, h("tr", {}, h("th", {}, "metric"),
    names.map((n, i) => h("th", { class: "num" }, i ? `${n} (Δ vs first)` : n))));
  for (const [label, get, better] of METRICS) {
    const base = get(views[0].summary);
    table.append(h("tr", {}, h("td", {}, label), views.map((v, i) => {
      const val = get(v.summary);
      if (!i || val == null || base == null) return h("td", { class: "num" }, num(val, 2));
      const d = val - base, p = base ? (d / Math.abs(base)) * 100 : null;
      const tone = d === 0 ? "" : (d < 0) === (better === "lower") ? "good" : "bad";
      return h("td", { class: "num" }, num(val, 2), " ", h("span", { class: tone }, `(${d >= 0 ? "+" : ""}${p == null ? num(d, 2) : p.toFixed(1) + "%"})`));
    })));
  }
  const grid = h("div", { class: "grid" });
  const box = (key) => { const b = h("div", { class: "chart", "data-chart": key }); grid.append(h("div", { class: "card" }, b)); return b; };
  const boxes = { ttft: box("cmp-ttft"), e2e: box("cmp-e2e"), lat: box("cmp-lat"), tput: box("cmp-tput") };
  parent.append(h("div", { class: "card" }, table), h("div", { style: "height:12px" }), grid);
  const curves = (key) => views.map((v, i) => Object.assign({ name: v.run_id, color: Charts.PALETTE[i % 8] },
    cdf(v.chart[key].filter((_, k) => v.chart.ok[k]))));
  const draw = () => {
    Charts.line(boxes.ttft, { title: "TTFT CDF (overlaid)", xLabel: "ms", yLabel: "fraction", yMax: 1, series: curves("ttft_ms") });
    Charts.line(boxes.e2e, { title: "E2E latency CDF (overlaid)", xLabel: "ms", yLabel: "fraction", yMax: 1, series: curves("e2e_ms") });
    const bar = (picks) => views.map((v, i) => ({ name: v.run_id, color: Charts.PALETTE[i % 8],
      values: picks.map((p) => METRICS[p][1](v.summary)),
      notes: picks.map((p) => { const b = METRICS[p][1](views[0].summary), x = METRICS[p][1](v.summary);
        return i && b && x != null ? `${x >= b ? "+" : ""}${(((x - b) / b) * 100).toFixed(0)}%` : ""; }) }));
    Charts.bars(boxes.lat, { title: "Latency percentiles (Δ vs first)", yLabel: "ms",
      categories: ["TTFT p50", "TTFT p99", "E2E p50", "E2E p99"], series: bar([2, 4, 5, 7]) });
    Charts.bars(boxes.tput, { title: "Throughput (Δ vs first)", yLabel: "tok/s", categories: ["tokens/s"], series: bar([0]) });
  };
  draw();
  return draw;
}

const sweepLabel = (v) => Object.entries((v.metadata.sweep || {}).values || {}).map(([k, x]) => `${k}=${x}`).join(" ");

// The knee: the swept point that gains the most throughput for the latency it costs —
// max(throughput − latency) with both scaled to 0..1 across the sweep.
function knee(points) {
  if (points.length < 3) return -1;
  const xs = points.map((p) => p.x), ys = points.map((p) => p.y);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  let best = -1, score = -Infinity;
  points.forEach((p, i) => {
    const s = (p.x - x0) / (x1 - x0 || 1) - (p.y - y0) / (y1 - y0 || 1);
    if (s > score) { score = s; best = i; }
  });
  return best;
}

function sweepView(parent, views) {
  const vs = views.slice().sort((a, b) => (a.metadata.sweep || {}).index - (b.metadata.sweep || {}).index);
  const base = vs[0] ? vs[0].metadata.experiment_name.replace(/-[a-z]+\d+$/, "") : "";
  parent.append(h("h2", {}, `Sweep: ${base} (${vs.length} values)`));
  const pts = (get) => vs.map((v) => ({ x: v.summary.tokens_per_second, y: get(v.summary) }));
  const p50 = pts((s) => s.e2e_latency && s.e2e_latency.p50), p99 = pts((s) => s.e2e_latency && s.e2e_latency.p99);
  const k = knee(p50);
  const grid = h("div", { class: "grid" });
  const b1 = h("div", { class: "chart", "data-chart": "sweep" }), b2 = h("div", { class: "chart", "data-chart": "sweep-ttft" });
  grid.append(h("div", { class: "card" }, b1), h("div", { class: "card" }, b2));
  const table = h("table", { class: "t" }, h("tr", {}, ["value", "tok/s", "req/s", "TTFT p50", "E2E p50", "E2E p99", "errors", ""].map((c, i) => h("th", { class: i ? "num" : "" }, c))),
    vs.map((v, i) => h("tr", {}, h("td", {}, sweepLabel(v)), h("td", { class: "num" }, num(v.summary.tokens_per_second)),
      h("td", { class: "num" }, num(v.summary.requests_per_second, 2)), h("td", { class: "num" }, num(v.summary.ttft && v.summary.ttft.p50)),
      h("td", { class: "num" }, num(p50[i].y)), h("td", { class: "num" }, num(p99[i].y)), h("td", { class: "num" }, v.summary.failed_requests),
      h("td", { class: "warn" }, i === k ? "knee" : ""))));
  parent.append(grid, h("div", { style: "height:12px" }), h("div", { class: "card" }, table),
    h("p", { class: "muted" }, "Knee: the value with the most throughput for its latency (both scaled to 0–1 across the sweep)."));
  const draw = () => {
    Charts.line(b1, { title: "Throughput vs E2E latency", xLabel: "tokens/s", yLabel: "ms", series: [
      { name: "E2E p50", x: p50.map((p) => p.x), y: p50.map((p) => p.y), color: "#5aa9ff" },
      { name: "E2E p99", x: p99.map((p) => p.x), y: p99.map((p) => p.y), color: "#ff8fa3" },
      { x: p50.map((p) => p.x), y: p50.map((p) => p.y), mode: "points", size: 7, color: "#5aa9ff" }],
      marks: k >= 0 ? [{ x: p50[k].x, y: p50[k].y, label: "knee (" + sweepLabel(vs[k]) + ")", color: "#f5b84a" }] : [],
      labels: vs.map((v, i) => ({ x: p50[i].x, y: p50[i].y, text: sweepLabel(v) })) });
    const tt = pts((s) => s.ttft && s.ttft.p50);
    Charts.line(b2, { title: "Throughput vs TTFT p50", xLabel: "tokens/s", yLabel: "ms", series: [
      { name: "TTFT p50", x: tt.map((p) => p.x), y: tt.map((p) => p.y), color: "#f5b84a" },
      { x: tt.map((p) => p.x), y: tt.map((p) => p.y), mode: "points", size: 7, color: "#f5b84a" }],
      labels: vs.map((v, i) => ({ x: tt[i].x, y: tt[i].y, text: sweepLabel(v) })) });
  };
  draw();
  return draw;
}

// Results of one sweep: consecutive files whose sweep indices follow 1, 2, … of one total.
function sweepGroups(list) {
  const groups = [];
  let cur = null;
  for (const r of list) {
    const s = r.metadata && r.metadata.sweep;
    if (!s) { cur = null; continue; }
    const prev = cur && cur[cur.length - 1];
    // Iteration names carry the swept value (`name-c4`), so the chain of indices decides.
    if (!prev || prev.metadata.sweep.total !== s.total || s.index !== prev.metadata.sweep.index + 1) {
      cur = []; groups.push(cur);
    }
    cur.push(r);
  }
  return groups.filter((g) => g.length > 1);
}

function resultView(parent, view) {
  const md = view.metadata || {};
  parent.append(h("div", { class: "banner" },
    h("span", { class: "title" }, view.run_id), h("span", { class: "tag " + view.status }, view.status),
    h("span", { class: "muted" }, [md.experiment_name, md.framework, md.provider, md.gpu_type].filter(Boolean).join(" · ")),
    h("span", { class: "muted" }, "started " + when(md.started_at)),
    md.sweep ? h("span", { class: "muted" }, "sweep " + sweepLabel(view)) : null,
    md.stopped_early ? h("span", { class: "warn" }, "stopped early: " + md.stopped_early) : null));
  parent.append(summaryTable(view.summary), h("div", { style: "height:12px" }));
  const draw = runCharts(parent);
  const m = modelOf(view);
  draw(m);
  return () => draw(m);
}

// ---------- app shell ----------
const app = { tab: null, redraw: null, results: [], selected: new Set(), cache: new Map(), runView: null, compare: [], sweep: [] };

function setTabs(names) {
  const nav = $("tabs");
  nav.innerHTML = "";
  for (const n of names) nav.append(h("button", { class: app.tab === n ? "on" : "", "data-tab": n, onclick: () => show(n) }, n));
}

function show(tab) {
  app.tab = tab;
  const tabs = LIVE ? ["Live", "History", "Result", "Compare", "Sweep"] : reportTabs();
  setTabs(tabs);
  const main = $("main");
  main.innerHTML = "";
  app.redraw = null;
  if (tab === "Live") app.redraw = live.mount(main);
  else if (tab === "History") historyView(main);
  else if (tab === "Result") {
    if (!LIVE && BOOT.runs.length > 1) {
      const sel = h("select", { style: "width:auto;margin-bottom:10px", onchange: (e) => { app.runView = BOOT.runs[+e.target.value]; show("Result"); } },
        BOOT.runs.map((r, i) => h("option", { value: i, selected: r === app.runView }, r.run_id)));
      main.append(sel);
    }
    if (app.runView) app.redraw = resultView(main, app.runView);
    else main.append(h("p", { class: "muted" }, "Pick a run in History."));
  } else if (tab === "Compare") {
    if (app.compare.length >= 2) app.redraw = compareView(main, app.compare);
    else main.append(h("p", { class: "muted" }, "Tick two or more runs in History, then Compare."));
  } else if (tab === "Sweep") {
    if (app.sweep.length >= 2) app.redraw = sweepView(main, app.sweep);
    else main.append(h("p", { class: "muted" }, "Open a sweep from History (the “sweep” link of a swept run)."));
  }
}

function reportTabs() {
  const t = ["Result"];
  if (BOOT.runs.length >= 2) t.push("Compare");
  if (app.sweep.length >= 2) t.push("Sweep");
  return t;
}

let resizeTimer = 0;
window.addEventListener("resize", () => { clearTimeout(resizeTimer); resizeTimer = setTimeout(() => app.redraw && app.redraw(), 150); });

// ---------- history (dashboard) ----------
async function loadResults() {
  try { app.results = await api("/api/results"); } catch (e) { app.results = []; live.log("error", "results: " + e.message); }
  if (app.tab === "History") show("History");
}

async function fullResult(id) {
  if (!app.cache.has(id)) app.cache.set(id, await api("/api/results/" + encodeURIComponent(id)));
  return app.cache.get(id);
}

function historyView(main) {
  const name = h("input", { placeholder: "filter by name", id: "f-name", style: "width:220px" });
  const status = h("select", { id: "f-status", style: "width:140px" }, ["", "completed", "partial", "failed"].map((s) => h("option", { value: s }, s || "any status")));
  const cmp = h("button", { class: "btn", id: "compare-btn", onclick: async () => {
    // Oldest first: the first run is the baseline the deltas refer to (like `compare a b`).
    app.compare = (await Promise.all([...app.selected].map(fullResult)))
      .sort((a, b) => String(a.metadata.started_at).localeCompare(String(b.metadata.started_at)));
    show("Compare");
  } }, "Compare selected");
  const body = h("tbody");
  const groups = sweepGroups(app.results.filter((r) => !r.error));
  const render = () => {
    body.innerHTML = "";
    const f = name.value.toLowerCase(), st = status.value;
    cmp.disabled = app.selected.size < 2;
    cmp.textContent = `Compare selected (${app.selected.size})`;
    for (const r of app.results.slice().reverse()) {
      if (r.error) { body.append(h("tr", {}, h("td", {}), h("td", {}, r.id), h("td", { class: "bad", colspan: 7 }, r.error))); continue; }
      const nm = (r.metadata.experiment_name || "") + " " + r.run_id;
      if (f && !nm.toLowerCase().includes(f)) continue;
      if (st && r.status !== st) continue;
      const s = r.summary, group = groups.find((g) => g.includes(r));
      const box = h("input", { type: "checkbox", style: "width:auto", checked: app.selected.has(r.id), onclick: (e) => {
        e.stopPropagation(); e.target.checked ? app.selected.add(r.id) : app.selected.delete(r.id); render(); } });
      body.append(h("tr", { class: "click", "data-run": r.id, onclick: async () => { app.runView = await fullResult(r.id); show("Result"); } },
        h("td", {}, box), h("td", {}, r.run_id), h("td", {}, h("span", { class: "tag " + r.status }, r.status)),
        h("td", {}, r.metadata.experiment_name), h("td", {}, when(r.metadata.started_at)),
        h("td", { class: "num" }, `${s.successful_requests}/${s.total_requests}`), h("td", { class: "num" }, num(s.tokens_per_second)),
        h("td", { class: "num" }, num(s.ttft && s.ttft.p50)),
        h("td", {}, group ? h("a", { onclick: (e) => { e.stopPropagation(); app.sweep = group; show("Sweep"); } }, "sweep " + sweepLabel(r)) : "")));
    }
  };
  name.addEventListener("input", render);
  status.addEventListener("change", render);
  main.append(h("div", { class: "filters" }, name, status, cmp, h("button", { class: "btn ghost", onclick: loadResults }, "Refresh")),
    h("div", { class: "card" }, h("table", { class: "t", id: "history" },
      h("thead", {}, h("tr", {}, ["", "run id", "status", "name", "started", "ok/total", "tok/s", "TTFT p50", "sweep"].map((c, i) => h("th", { class: i >= 5 && i <= 7 ? "num" : "" }, c)))), body)));
  render();
}
