// Hand-made SVG charts: line/point/step/segment series on shared axes, and grouped bars.
// One <path> per series, so 10,000 points redraw in a few milliseconds.
"use strict";
const Charts = (() => {
  const NS = "http://www.w3.org/2000/svg";
  const PALETTE = ["#5aa9ff", "#f5b84a", "#3ecf8e", "#c08cff", "#ff8fa3", "#59d5e0", "#b7c96b", "#ff9f5a"];

  function el(name, attrs, parent) {
    const node = document.createElementNS(NS, name);
    for (const k in attrs) node.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(node);
    return node;
  }

  function text(parent, x, y, str, attrs) {
    const t = el("text", Object.assign({ x, y }, attrs || {}), parent);
    t.textContent = str;
    return t;
  }

  // 1-2-5 ticks covering [lo, hi].
  function ticks(lo, hi, count) {
    if (!(hi > lo)) return [lo];
    const raw = (hi - lo) / Math.max(1, count);
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) || raw;
    const out = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(+v.toFixed(10));
    return out;
  }

  // Rendered width when the element is on screen, an estimate otherwise.
  function textWidth(node, str, perChar) {
    try { const w = node.getComputedTextLength(); if (w > 0) return w; } catch (e) { /* detached */ }
    return str.length * (perChar || 6.2);
  }

  function fmt(v) {
    const a = Math.abs(v);
    if (a >= 1e6) return (v / 1e6).toFixed(1) + "M";
    if (a >= 1e4) return (v / 1e3).toFixed(0) + "k";
    if (a >= 100 || v === 0) return v.toFixed(0);
    if (a >= 10) return v.toFixed(1).replace(/\.0$/, "");
    return v.toFixed(2).replace(/\.?0+$/, "");
  }

  function extent(series, key, fromZero) {
    let lo = Infinity, hi = -Infinity;
    for (const s of series) {
      const arr = s[key];
      for (let i = 0; i < arr.length; i++) {
        const v = arr[i];
        if (v == null || !isFinite(v)) continue;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
        if (s.mode === "segments" && key === "x" && s.x2 && s.x2[i] > hi) hi = s.x2[i];
      }
    }
    if (lo === Infinity) return [0, 1];
    if (fromZero) lo = Math.min(0, lo);
    if (hi === lo) hi = lo + 1;
    return [lo, hi];
  }

  // opts: {title, xLabel, yLabel, series: [{name, color, x, y, mode, x2}], xMin, xMax, yMin,
  // yMax, yFmt, xFmt, marks: [{x, y, label}], vlines: [x], height}
  function line(container, opts) {
    const w = Math.max(260, container.clientWidth || 480);
    const h = opts.height || 230;
    const m = { l: 52, r: 14, t: 34, b: 34 };
    const series = (opts.series || []).filter((s) => s.x && s.x.length && s.y.some((v) => v != null));
    container.innerHTML = "";
    const svg = el("svg", { width: w, height: h, viewBox: `0 0 ${w} ${h}`, role: "img" }, container);
    const titleW = textWidth(text(svg, 8, 16, opts.title || "", { class: "title" }), opts.title || "", 7.5);
    // Legend entries, measured first: they go beside the title, or on a row of their own.
    const named = series.filter((s) => s.name);
    const entries = named.map((s) => {
      const t = text(svg, 0, 0, s.name, { "text-anchor": "end" });
      return { s, t, w: textWidth(t, s.name) + 14 };
    });
    const legendW = entries.reduce((a, e) => a + e.w + 10, 0);
    const legendY = legendW > w - titleW - 40 ? 32 : 16;
    if (legendY > 16) m.t += 16;
    if (!series.length) {
      text(svg, w / 2, h / 2, opts.empty || "no data yet", { "text-anchor": "middle" });
      svg.setAttribute("data-points", "0");
      return svg;
    }
    let [x0, x1] = extent(series, "x", false);
    let [y0, y1] = extent(series, "y", opts.yFromZero !== false);
    if (opts.xMin != null) x0 = opts.xMin;
    if (opts.xMax != null) x1 = Math.max(opts.xMax, x0 + 1e-9);
    if (opts.yMin != null) y0 = opts.yMin;
    if (opts.yMax != null) y1 = opts.yMax;
    y1 = y1 + (y1 - y0) * 0.05;
    const pw = w - m.l - m.r, ph = h - m.t - m.b;
    const sx = (v) => m.l + ((v - x0) / (x1 - x0)) * pw;
    const sy = (v) => m.t + ph - ((v - y0) / (y1 - y0)) * ph;
    const g = el("g", { class: "grid" }, svg);
    const yf = opts.yFmt || fmt, xf = opts.xFmt || fmt;
    for (const v of ticks(y0, y1, 4)) {
      el("line", { x1: m.l, x2: m.l + pw, y1: sy(v), y2: sy(v) }, g);
      text(svg, m.l - 6, sy(v) + 4, yf(v), { "text-anchor": "end" });
    }
    for (const v of ticks(x0, x1, Math.max(2, Math.floor(pw / 90)))) {
      text(svg, sx(v), m.t + ph + 15, xf(v), { "text-anchor": "middle" });
    }
    el("line", { class: "axis", x1: m.l, x2: m.l + pw, y1: m.t + ph, y2: m.t + ph }, svg);
    if (opts.xLabel) text(svg, m.l + pw, h - 4, opts.xLabel, { "text-anchor": "end" });
    if (opts.yLabel) text(svg, m.l, m.t - 6, opts.yLabel, { "text-anchor": "start" });
    for (const v of opts.vlines || []) {
      if (v > x0 && v < x1) el("line", { x1: sx(v), x2: sx(v), y1: m.t, y2: m.t + ph, stroke: "#3a4154", "stroke-dasharray": "3 3" }, svg);
    }
    const clip = "c" + Math.random().toString(36).slice(2);
    el("rect", { x: m.l, y: m.t - 2, width: pw, height: ph + 4 }, el("clipPath", { id: clip }, svg));
    const plot = el("g", { "clip-path": `url(#${clip})` }, svg);
    let drawn = 0;
    series.forEach((s, k) => {
      const color = s.color || PALETTE[k % PALETTE.length];
      const parts = [];
      let pen = false;
      for (let i = 0; i < s.x.length; i++) {
        const xv = s.x[i], yv = s.y[i];
        if (xv == null || yv == null || !isFinite(xv) || !isFinite(yv)) { pen = false; continue; }
        const px = sx(xv).toFixed(1), py = sy(yv).toFixed(1);
        drawn++;
        if (s.mode === "points") parts.push(`M${px} ${py}h0`);
        else if (s.mode === "segments") parts.push(`M${px} ${py}H${sx(s.x2[i]).toFixed(1)}`);
        else if (s.mode === "step" && pen) parts.push(`H${px}V${py}`);
        else { parts.push((pen ? "L" : "M") + px + " " + py); pen = true; }
      }
      const style = s.mode === "points"
        ? { "stroke-width": s.size || 3.2, "stroke-linecap": "round", "stroke-opacity": 0.75 }
        : s.mode === "segments" ? { "stroke-width": 1.2, "stroke-opacity": 0.6 } : { "stroke-width": 1.8, "stroke-linejoin": "round" };
      el("path", Object.assign({ d: parts.join(""), fill: "none", stroke: color, "data-series": s.name || "" }, style), plot);
    });
    for (const mk of opts.marks || []) {
      el("circle", { cx: sx(mk.x), cy: sy(mk.y), r: 7, fill: "none", stroke: mk.color || "#ff6b6b", "stroke-width": 2 }, svg);
      if (mk.label) text(svg, sx(mk.x) + 9, sy(mk.y) - 8, mk.label, { fill: mk.color || "#ff6b6b", style: "fill:" + (mk.color || "#ff6b6b") });
    }
    for (const lb of opts.labels || []) {
      const right = sx(lb.x) > m.l + pw * 0.8;
      text(svg, sx(lb.x) + (right ? -5 : 5), sy(lb.y) + 14, lb.text, { "text-anchor": right ? "end" : "start" });
    }
    // Legend, right-aligned.
    let lx = w - m.r;
    for (let k = entries.length - 1; k >= 0; k--) {
      const { s, t, w: tw } = entries[k];
      const color = s.color || PALETTE[series.indexOf(s) % PALETTE.length];
      t.setAttribute("x", lx);
      t.setAttribute("y", legendY);
      el("rect", { x: lx - tw + 1, y: legendY - 8, width: 9, height: 9, rx: 2, fill: color }, svg);
      lx -= tw + 10;
    }
    svg.setAttribute("data-points", String(drawn));
    return svg;
  }

  // opts: {title, yLabel, categories: [..], series: [{name, color, values: [..]}], yFmt}
  function bars(container, opts) {
    const w = Math.max(260, container.clientWidth || 480);
    const h = opts.height || 230;
    const m = { l: 52, r: 14, t: 34, b: 40 };
    container.innerHTML = "";
    const svg = el("svg", { width: w, height: h, viewBox: `0 0 ${w} ${h}` }, container);
    text(svg, 8, 16, opts.title || "", { class: "title" });
    const cats = opts.categories || [], series = opts.series || [];
    let hi = 0;
    for (const s of series) for (const v of s.values) if (v != null && isFinite(v)) hi = Math.max(hi, v);
    if (!cats.length || hi <= 0) {
      text(svg, w / 2, h / 2, "no data", { "text-anchor": "middle" });
      svg.setAttribute("data-points", "0");
      return svg;
    }
    hi *= 1.12;
    const pw = w - m.l - m.r, ph = h - m.t - m.b;
    const sy = (v) => m.t + ph - (v / hi) * ph;
    const g = el("g", { class: "grid" }, svg);
    const yf = opts.yFmt || fmt;
    for (const v of ticks(0, hi, 4)) {
      el("line", { x1: m.l, x2: m.l + pw, y1: sy(v), y2: sy(v) }, g);
      text(svg, m.l - 6, sy(v) + 4, yf(v), { "text-anchor": "end" });
    }
    if (opts.yLabel) text(svg, m.l, m.t - 6, opts.yLabel, {});
    const band = pw / cats.length, bw = Math.min(46, (band * 0.8) / Math.max(1, series.length));
    let drawn = 0;
    cats.forEach((c, i) => {
      const left = m.l + band * i + (band - bw * series.length) / 2;
      series.forEach((s, k) => {
        const v = s.values[i];
        if (v == null || !isFinite(v)) return;
        drawn++;
        el("rect", { x: left + k * bw, y: sy(v), width: bw - 2, height: m.t + ph - sy(v), rx: 2,
          fill: s.color || PALETTE[k % PALETTE.length] }, svg);
        const note = s.notes && s.notes[i];
        if (note) text(svg, left + k * bw + bw / 2 - 1, sy(v) - 4, note, { "text-anchor": "middle", style: "font-size:10px" });
      });
      text(svg, m.l + band * i + band / 2, m.t + ph + 15, c, { "text-anchor": "middle" });
    });
    let lx = w - m.r;
    for (let k = series.length - 1; k >= 0; k--) {
      const s = series[k];
      if (!s.name) continue;
      const label = s.name.length > 34 ? s.name.slice(0, 33) + "…" : s.name;
      const tw = textWidth(text(svg, lx, h - 6, label, { "text-anchor": "end" }), label) + 14;
      el("rect", { x: lx - tw + 1, y: h - 15, width: 9, height: 9, rx: 2, fill: s.color || PALETTE[k % PALETTE.length] }, svg);
      lx -= tw + 10;
    }
    svg.setAttribute("data-points", String(drawn));
    return svg;
  }

  return { line, bars, fmt, PALETTE };
})();
