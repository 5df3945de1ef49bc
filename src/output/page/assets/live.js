// The dashboard's live side: the start form, the WebSocket (reconnects by itself) and the live
// run view. Every tab gets every message; a late tab gets the current run replayed first.
"use strict";
const PHASES = ["provisioning", "model_loading", "execution", "cleanup"];
const PHASE_TITLES = ["Provision", "Load model", "Benchmark", "Collect & clean up"];

const live = {
  run: null, // {run_id, experiment_name, config_path, started_at}
  phase: -1, status: null, stopping: false, iteration: null, total: 0, done: 0,
  model: emptyModel(), offset: 0, logs: [], summaries: [], resultIds: [], replaying: false,
  pending: [], els: null, drawTimer: 0, lastDraw: 0, draw: null, mine: new Set(),

  reset(run) {
    Object.assign(live, { run, phase: -1, status: null, stopping: false, iteration: null, total: 0, done: 0,
      model: emptyModel(), offset: 0, logs: [], summaries: [], resultIds: [], pending: [] });
  },

  log(level, message, ts) {
    const line = { level, message, ts: ts || new Date().toISOString() };
    live.logs.push(line);
    if (live.logs.length > 2000) live.logs.shift();
    if (live.els) live.appendLog(line);
  },

  appendLog(line) {
    const box = live.els.log;
    const stick = box.scrollTop + box.clientHeight >= box.scrollHeight - 4;
    box.append(h("div", { class: line.level }, new Date(line.ts).toLocaleTimeString() + "  " + line.message));
    if (stick) box.scrollTop = box.scrollHeight;
  },

  mount(main) {
    const stop = h("button", { class: "btn danger", id: "stop-btn", onclick: () => live.run && send({ type: "stop_experiment", run_id: live.run.run_id }) }, "Stop");
    const els = {
      title: h("span", { class: "title", id: "live-title" }), meta: h("span", { class: "muted" }),
      steps: h("div", { class: "steps" }), bar: h("div"), count: h("span", { class: "muted", id: "live-count" }),
      state: h("span", { class: "tag", id: "live-state" }), stop, log: h("div", { class: "log", id: "log" }),
      summary: h("div", { id: "live-summary" }),
    };
    live.els = els;
    main.append(h("div", { class: "banner" }, els.title, els.state, els.meta, els.steps, h("div", { class: "progress" }, els.bar), els.count, stop));
    const chartsBox = h("div");
    main.append(chartsBox);
    live.draw = runCharts(chartsBox);
    main.append(h("h3", {}, "Log"), els.log, h("h3", {}, "Summary"), els.summary);
    for (const l of live.logs) live.appendLog(l);
    live.paint();
    live.drawNow();
    return () => live.drawNow();
  },

  paint() {
    const e = live.els;
    if (!e || !document.body.contains(e.title)) { live.els = null; return; }
    e.title.textContent = live.run ? live.run.run_id : "No run yet: start one from the form";
    e.meta.textContent = live.run ? [live.run.experiment_name, live.iteration ? `sweep ${live.iteration.iteration}/${live.iteration.total} ${Object.entries(live.iteration.params || {}).map(([k, v]) => k + "=" + v).join(" ")}` : ""].filter(Boolean).join(" · ") : "";
    e.steps.innerHTML = "";
    PHASE_TITLES.forEach((t, i) => e.steps.append(h("span", { class: "step " + (i < live.phase || live.status ? "done" : i === live.phase ? "now" : "") }, `${i + 1}/4 ${t}`)));
    e.bar.style.width = live.total ? Math.min(100, (100 * live.done) / live.total) + "%" : "0";
    e.count.textContent = live.total ? `${live.done}/${live.total} requests` : "";
    const state = live.status || (live.stopping ? "stopping" : live.run ? "running" : "idle");
    e.state.textContent = state;
    e.state.className = "tag " + state;
    e.stop.disabled = !live.run || !!live.status;
    e.summary.innerHTML = "";
    for (const s of live.summaries) e.summary.append(h("div", { class: "muted" }, "result " + s.result_id), summaryTable(s.data));
    if (live.resultIds.length) e.summary.append(h("div", { class: "row" }, live.resultIds.map((id) =>
      h("a", { "data-open": id, onclick: async () => { app.runView = await fullResult(id); show("Result"); } }, "open " + id))));
  },

  // Charts redraw at most every 100 ms however fast requests complete.
  scheduleDraw() {
    if (live.drawTimer) return;
    const wait = Math.max(0, 100 - (performance.now() - live.lastDraw));
    live.drawTimer = setTimeout(() => { live.drawTimer = 0; live.drawNow(); }, wait);
  },

  drawNow() {
    live.lastDraw = performance.now();
    if (live.els && live.draw && document.body.contains(live.els.title)) {
      live.draw(live.model);
      window.__drawMs.push(performance.now() - live.lastDraw);
    }
    const now = Date.now();
    for (const sent of live.pending) window.__chartDelays.push(now - sent);
    live.pending = [];
  },

  maxT() {
    const m = live.model;
    const a = m.end.length ? Math.max(...m.end.slice(-50)) : 0;
    return Math.max(a, m.srv.t.length ? m.srv.t[m.srv.t.length - 1] : 0);
  },

  onMessage(msg) {
    const m = live.model;
    switch (msg.type) {
      case "hello":
        live.reset(msg.status.active_run);
        live.replaying = true;
        break;
      case "replay_done":
        live.replaying = false;
        break;
      case "run_started":
        live.reset({ run_id: msg.run_id, experiment_name: msg.experiment_name, config_path: msg.config_path, started_at: msg.started_at });
        if (!live.replaying && live.mine.has(msg.run_id)) show("Live");
        break;
      case "phase": {
        const i = PHASES.indexOf(msg.phase);
        if (i >= 0) live.phase = i;
        if (msg.phase === "sweep_iteration") live.iteration = msg.data;
        if (msg.phase === "execution" && msg.data && msg.data.total_requests != null) {
          if (m.end.length || m.srv.t.length) { live.offset = live.maxT(); m.vlines.push(live.offset); }
          live.total = msg.data.total_requests; live.done = 0;
        }
        if (msg.phase === "done") {
          live.status = msg.data.status; live.resultIds = msg.data.result_ids || [];
          if (!live.replaying) loadResults();
        }
        live.log("info", "phase: " + msg.phase);
        break;
      }
      case "request_complete": {
        const d = msg.data, end = d.t_s + live.offset;
        m.end.push(end); m.start.push(d.start_s != null ? d.start_s + live.offset : end - (d.e2e_latency_ms || 0) / 1000); m.ttft.push(d.ttft_ms);
        m.e2e.push(d.e2e_latency_ms); m.tokens.push(d.completion_tokens); m.ok.push(d.error ? 0 : 1);
        live.done++;
        // Delay measured from the moment the request completed (its finished_at).
        if (!live.replaying && d.finished_ms) live.pending.push(d.finished_ms);
        break;
      }
      case "gpu_sample": {
        const d = msg.data, s = m.srv;
        s.t.push(d.timestamp + live.offset);
        s.kv.push(d.kv_cache_usage == null ? null : d.kv_cache_usage * 100);
        s.active.push(d.active_requests); s.queued.push(d.queued_requests);
        s.prefix.push(d.prefix_cache_hit_rate == null ? null : d.prefix_cache_hit_rate * 100);
        s.gen.push(d.generation_throughput);
        break;
      }
      case "log": live.log(msg.level, msg.message, msg.timestamp); break;
      case "summary": live.summaries.push(msg); break;
      case "error":
        live.log("error", msg.message);
        form.say(msg.message, "bad");
        break;
      case "experiment_started":
        live.mine.add(msg.run_id);
        form.say(msg.queued ? `Queued (${msg.position} ahead): ${msg.run_id}` : `Started ${msg.run_id}`, "good");
        if (!msg.queued) show("Live");
        break;
      case "experiment_stopping":
        if (live.run && live.run.run_id === msg.run_id) live.stopping = true;
        form.say("Stopping " + msg.run_id + ": saving partial results, tearing down", "warn");
        break;
      case "confirm_required": form.confirm(msg.cost, msg.message); break;
      default: break;
    }
    if (live.els) { live.paint(); live.scheduleDraw(); }
  },
};
window.__chartDelays = [];
window.__wsDelays = [];
window.__drawMs = [];

// ---------- the socket ----------
let socket = null, backoff = 500;
function connect() {
  const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws" + (TOKEN ? "?token=" + TOKEN : "");
  socket = new WebSocket(url);
  socket.onopen = () => { backoff = 500; $("conn").className = "conn up"; $("conn").textContent = "live"; };
  socket.onmessage = (e) => {
    try {
      const msg = JSON.parse(e.data);
      // Transport part of the delay: server stamp → message in the page.
      if (msg.type === "request_complete" && msg.data.finished_ms && !live.replaying) window.__wsDelays.push(Date.now() - msg.data.finished_ms);
      live.onMessage(msg);
    } catch (err) { window.__errors.push("message: " + err); }
  };
  socket.onclose = () => {
    $("conn").className = "conn down";
    $("conn").textContent = "reconnecting…";
    setTimeout(connect, backoff);
    backoff = Math.min(backoff * 2, 10000);
  };
}
function send(obj) {
  if (socket && socket.readyState === 1) socket.send(JSON.stringify(obj));
  else form.say("Not connected; retrying…", "bad");
}

// ---------- the start form ----------
const form = {
  preview: null,
  mount(side) {
    const sel = h("select", { id: "config", onchange: () => form.load(sel.value) }, h("option", { value: "" }, "choose a config…"));
    form.els = { sel, preview: h("div", { id: "preview" }), url: h("input", { id: "server-url", placeholder: "optional: http://127.0.0.1:8000" }),
      name: h("input", { id: "run-name", placeholder: "optional" }), msg: h("div", { id: "form-msg", class: "muted", style: "margin-top:8px" }),
      start: h("button", { class: "btn", id: "start-btn", onclick: () => form.start(false) }, "Start") };
    side.append(h("h2", {}, "New experiment"), h("label", {}, "Config"), sel, form.els.preview,
      h("label", {}, "Server URL (skip provisioning)"), form.els.url, h("label", {}, "Run name"), form.els.name,
      form.els.start, form.els.msg);
    api("/api/configs").then((list) => {
      for (const c of list) sel.append(h("option", { value: c.relative }, c.relative));
    }).catch((e) => form.say("configs: " + e.message, "bad"));
  },
  async load(path) {
    const box = form.els.preview;
    box.innerHTML = "";
    form.preview = null;
    if (!path) return;
    try {
      const p = await api("/api/configs/preview?path=" + encodeURIComponent(path));
      form.preview = p;
      const kv = [["framework", p.framework], ["model", p.model_name], ["provider", p.provider], ["GPU", p.gpu_type ? `${p.gpu_count}× ${p.gpu_type}` : "–"],
        ["workload", p.workload_type], ["requests", p.request_count], ["max tokens", p.max_tokens], ["concurrency", p.concurrency ?? p.batch_size ?? "–"],
        ["iterations", p.iterations]];
      box.append(h("div", { class: "kv", style: "margin-top:8px" }, kv.flatMap(([k, v]) => [h("div", {}, k), h("div", {}, v == null ? "–" : v)])));
      if (p.cost) box.append(h("div", { class: "cost" }, `Estimated cost $${p.cost.low_usd.toFixed(2)}–$${p.cost.high_usd.toFixed(2)} at $${p.cost.per_hr.toFixed(2)}/hr`));
      box.append(h("details", {}, h("summary", { class: "muted" }, "plan"), h("pre", {}, p.plan)));
    } catch (e) {
      box.append(h("div", { class: "bad", style: "margin-top:8px;white-space:pre-wrap" }, e.message));
    }
  },
  start(confirmed) {
    const path = form.els.sel.value;
    if (!path) return form.say("Choose a config first.", "bad");
    const p = form.preview;
    if (!confirmed && p && p.cost && p.cost.needs_confirmation && !form.els.url.value.trim()) return form.confirm(p.cost);
    send({ type: "start_experiment", config_path: path, server_url: form.els.url.value.trim() || null,
      run_name: form.els.name.value.trim() || null, confirm: !!confirmed });
  },
  confirm(cost, message) {
    const box = $("modal-box");
    box.innerHTML = "";
    const close = () => $("modal").classList.add("hidden");
    box.append(h("h2", {}, "This run costs money"),
      h("p", {}, message || "A RunPod pod will be started for this run."),
      h("div", { class: "cost" }, `Estimated $${cost.low_usd.toFixed(2)}–$${cost.high_usd.toFixed(2)} at $${cost.per_hr.toFixed(2)}/hr`,
        cost.assumptions && cost.assumptions.length ? h("div", {}, cost.assumptions.join("; ")) : null),
      h("div", { class: "row" }, h("button", { class: "btn ghost", onclick: close }, "Cancel"),
        h("button", { class: "btn danger", id: "confirm-btn", onclick: () => { close(); form.start(true); } }, `Start (up to $${cost.high_usd.toFixed(2)})`)));
    $("modal").classList.remove("hidden");
  },
  say(text, tone) { if (form.els) { form.els.msg.className = tone || "muted"; form.els.msg.textContent = text; } },
};

// ---------- boot ----------
if (LIVE) {
  $("mode-label").textContent = "dashboard";
  form.mount($("side"));
  show("Live");
  connect();
  loadResults();
} else {
  $("mode-label").textContent = "report";
  $("conn").style.display = "none";
  app.runView = BOOT.runs[0] || null;
  const groups = sweepGroups(BOOT.runs);
  if (groups.length) app.sweep = groups[0];
  app.compare = BOOT.runs;
  show(app.sweep.length >= 2 ? "Sweep" : BOOT.runs.length >= 2 ? "Compare" : "Result");
}
