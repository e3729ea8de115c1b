// The batch page's timeline: four uPlot charts (requests finished per second, tokens per
// minute, failures by code, upstream latency) that follow a running batch. Each poll asks
// only for the buckets from the last one it holds (that one may still be filling); the
// server sends the whole series again, marked complete, when the bucket width has doubled.
// Without uPlot (a checkout where scripts/vendor-assets was not run) the same numbers
// are shown as a table, with the note that says how to get the charts.
"use strict";
(() => {
  const section = document.getElementById("timeline");
  if (!section) return;
  const SRC = section.dataset.timeline;
  const EVERY_MS = Number(section.dataset.refresh) || 2000;
  const ENDED_EVERY_MS = 15000;
  const ENDED = new Set(["completed", "cancelled", "failed", "expired"]);
  const COLORS = { ok: "#2e9d5b", bad: "#d0453a", input: "#2563eb", output: "#9333ea", p50: "#0f766e", p95: "#b45309" };
  const PALETTE = ["#d0453a", "#b45309", "#7c3aed", "#0891b2", "#be185d", "#4d7c0f", "#1d4ed8", "#a16207"];
  const HEIGHT = 170;
  // x-axis tick spacings in seconds: buckets are a second or more, so no finer ticks
  const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 21600, 43200, 86400];

  // Kept on window for whoever wants to look (the browser tests do).
  const state = window.respqTimeline = {
    buckets: [], width: null, status: null, totals: null, codes: [], charts: {}, fetches: [],
    plotting: typeof window.uPlot === "function",
  };

  const $ = (id) => document.getElementById(id);
  const fmt = (n, digits = 0) => n == null ? "-" : Number(n).toLocaleString(undefined, { maximumFractionDigits: digits });
  const secs = (s) => s == null ? "-" : s < 1 ? `${Math.round(s * 1000)} ms` : `${fmt(s, 2)} s`;
  const clock = (t) => new Date(t * 1000).toLocaleTimeString();
  // axis labels stay short: 950, 1.2k, 15k, 2.5M; seconds for latency
  const compact = (n) => {
    const a = Math.abs(n);
    if (a >= 1e6) return `${+(n / 1e6).toFixed(1)}M`;
    if (a >= 1e3) return `${+(n / 1e3).toFixed(1)}k`;
    return `${+n.toFixed(2)}`;
  };
  const tickSeconds = (s) => s >= 1 ? `${+s.toFixed(1)}s` : `${Math.round(s * 1000)}ms`;
  const perSecond = (n, b) => n / b.span;

  if (!state.plotting) {
    $("charts-missing").hidden = false;
    section.querySelector(".charts").hidden = true;
    $("timeline-numbers").open = true;
  }

  function merge(body) {
    if (body.complete || !state.buckets.length) {
      state.buckets = body.buckets;
    } else if (body.buckets.length) {
      const from = body.buckets[0].start;
      state.buckets = state.buckets.filter((b) => b.start < from).concat(body.buckets);
    }
    state.width = body.bucket_seconds;
    state.status = body.status;
    state.totals = body.totals;
    const codes = new Set();
    for (const b of state.buckets) for (const code of Object.keys(b.errors)) codes.add(code);
    state.codes = [...codes].sort();
  }

  function seriesData() {
    const b = state.buckets;
    const x = b.map((k) => k.start);
    return {
      requests: [x, b.map((k) => k.requests_per_second), b.map((k) => perSecond(k.failed, k))],
      tokens: [x, b.map((k) => k.input_tokens_per_minute), b.map((k) => k.output_tokens_per_minute)],
      errors: [x, ...state.codes.map((code) => b.map((k) => perSecond(k.errors[code] || 0, k)))],
      latency: [x, b.map((k) => k.latency_p50), b.map((k) => k.latency_p95)],
    };
  }

  function series(name) {
    const line = (label, stroke, extra = {}) => ({ label, stroke, width: 1.5, points: { show: false }, ...extra });
    if (name === "requests") {
      // Drawn stacked: the failed area lies under the total, so the green band is the
      // succeeded part; its legend shows the succeeded rate.
      return [
        line("succeeded /s", COLORS.ok, { fill: COLORS.ok + "55", value: (u, v, si, i) => i == null ? "-" : fmt(v - u.data[2][i], 2) }),
        line("failed /s", COLORS.bad, { fill: COLORS.bad + "88", value: (u, v) => fmt(v, 2) }),
      ];
    }
    if (name === "tokens") {
      return [line("input / min", COLORS.input, { value: (u, v) => fmt(v) }), line("output / min", COLORS.output, { value: (u, v) => fmt(v) })];
    }
    if (name === "errors") {
      return state.codes.map((code, i) => line(code, PALETTE[i % PALETTE.length], { value: (u, v) => fmt(v, 2) }));
    }
    return [line("p50", COLORS.p50, { value: (u, v) => secs(v) }), line("p95", COLORS.p95, { value: (u, v) => secs(v) })];
  }

  function plot(name, data) {
    const figure = $(`chart-${name}`);
    const box = figure.querySelector(".plot");
    const chart = state.charts[name];
    // A new error code is a new series: build that chart again.
    if (chart && chart.series.length === data.length) { chart.setData(data); return; }
    if (chart) chart.destroy();
    box.textContent = "";
    const opts = {
      width: Math.max(box.clientWidth, 200), height: HEIGHT,
      series: [{ value: (u, v) => v == null ? "-" : clock(v) }, ...series(name)],
      axes: [{ incrs: TIME_STEPS }, { size: 58, values: (u, ticks) => ticks.map(name === "latency" ? tickSeconds : compact) }],
      // rates and latencies start at zero, so a sag reads as one
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, max > 0 ? max * 1.1 : 1] } },
      cursor: { drag: { x: false, y: false } },
    };
    state.charts[name] = new window.uPlot(opts, data, box);
  }

  function table() {
    const rows = state.buckets.slice().reverse().map((b) => {
      const codes = Object.entries(b.errors).map(([c, n]) => `${c} ${fmt(n)}`).join(", ");
      return `<tr><td>${clock(b.start)}</td><td class="num">${fmt(b.succeeded)}</td><td class="num">${fmt(b.failed)}</td>` +
        `<td class="num">${fmt(b.requests_per_second, 2)}</td><td class="num">${fmt(b.input_tokens_per_minute)}</td>` +
        `<td class="num">${fmt(b.output_tokens_per_minute)}</td><td>${escapeHtml(codes)}</td>` +
        `<td class="num">${secs(b.latency_p50)}</td><td class="num">${secs(b.latency_p95)}</td></tr>`;
    });
    $("timeline-table").innerHTML =
      `<table id="timeline-rows"><thead><tr><th>from</th><th class="num">succeeded</th><th class="num">failed</th>` +
      `<th class="num">req/s</th><th class="num">input tok/min</th><th class="num">output tok/min</th><th>errors</th>` +
      `<th class="num">p50</th><th class="num">p95</th></tr></thead><tbody>${rows.join("")}</tbody></table>`;
  }

  function escapeHtml(text) {
    return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  }

  function render() {
    const t = state.totals;
    if (!t || !state.buckets.length) return;
    const codes = Object.entries(t.errors).map(([c, n]) => `${c} ${fmt(n)}`).join(", ");
    $("timeline-totals").textContent =
      `succeeded ${fmt(t.succeeded)} · failed ${fmt(t.failed)}${codes ? ` (${codes})` : ""} · ` +
      `tokens in ${fmt(t.input_tokens)}, out ${fmt(t.output_tokens)} · latency p50 ${secs(t.latency_p50)}, ` +
      `p95 ${secs(t.latency_p95)} · ${state.buckets.length} buckets of ${fmt(state.width)} s`;
    table();
    if (!state.plotting) return;
    const data = seriesData();
    for (const name of ["requests", "tokens", "errors", "latency"]) {
      if (name === "errors" && !state.codes.length) {
        $("chart-errors").querySelector(".plot").textContent = "No failed requests.";
        if (state.charts.errors) { state.charts.errors.destroy(); delete state.charts.errors; }
        continue;
      }
      plot(name, data[name]);
    }
  }

  async function poll() {
    let url = SRC;
    const last = state.buckets[state.buckets.length - 1];
    if (last) url += `?after=${last.start}&bucket_seconds=${state.width}`;
    try {
      const answer = await fetch(url, { credentials: "same-origin", cache: "no-store" });
      if (answer.status === 401) { window.location.reload(); return; }
      if (answer.ok) {
        const body = await answer.json();
        state.fetches.push({ url, buckets: body.buckets.length, complete: body.complete });
        if (state.fetches.length > 50) state.fetches.shift();
        merge(body);
        render();
      }
    } catch (error) {
      // the server restarting: try again at the next tick
    }
    setTimeout(poll, ENDED.has(state.status) ? ENDED_EVERY_MS : EVERY_MS);
  }

  window.addEventListener("resize", () => {
    for (const chart of Object.values(state.charts)) {
      const box = chart.root.parentElement;
      chart.setSize({ width: Math.max(box.clientWidth, 200), height: HEIGHT });
    }
  });

  poll();
})();
