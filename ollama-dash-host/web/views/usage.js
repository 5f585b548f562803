// Usage: requests, errors, tokens/s, p50/p95 time to first token and latency per model over
// time, bucketed by the server (`GET /v1/traces/usage`). New traces refresh it live.

import { poll } from "../api.js";
import { read } from "../contract.js";
import { h, ms, number } from "../format.js";
import { colour, timeChart, windowPicker } from "../charts.js";

export function mount(root, ctx) {
  let windowValue = "1h";
  let seq = 0;
  let pending = null;
  const status = h("span", { class: "muted small", role: "status" });
  const summary = h("p", { class: "muted small", id: "usage-summary" });
  const count = (v) => number(v, v < 10 && !Number.isInteger(v) ? 1 : 0);
  const charts = {
    requests: timeChart({ title: "Requests", id: "requests", fmt: count, dots: true }),
    errors: timeChart({ title: "Errors", id: "errors", fmt: count, dots: true }),
    tps: timeChart({ title: "Tokens/s (generation)", id: "tokens-per-second", fmt: (v) => number(v, v < 10 ? 1 : 0), dots: true, spanGaps: true }),
    ttft: timeChart({ title: "Time to first token (p50, p95 dashed)", id: "ttft", fmt: ms, dots: true, spanGaps: true }),
    latency: timeChart({ title: "Latency (p50, p95 dashed)", id: "latency", fmt: ms, dots: true, spanGaps: true }),
  };
  const container = h("section", { id: "usage", "aria-label": "Usage" },
    h("div", { class: "section-head" }, windowPicker(windowValue, (v) => { windowValue = v; load(); }, "Usage window"), status),
    summary,
    h("div", { class: "charts" }, Object.values(charts).map((c) => c.card)));
  root.append(h("h1", {}, "Usage"), container);

  async function load() {
    const mine = ++seq;
    status.textContent = "loading…";
    let usage;
    try { usage = await read("usage", {}, `window=${windowValue}`); } catch (e) {
      if (mine === seq) status.textContent = `Usage unavailable: ${e.message}`;
      return;
    }
    if (mine !== seq) return;
    status.textContent = "";
    render(usage);
  }

  function render(usage) {
    // The busiest models get a line each; the rest are one "other" line in the counts.
    const totals = new Map();
    for (const p of usage.points) totals.set(p.model, (totals.get(p.model) || 0) + p.requests);
    const ranked = [...totals.keys()].sort((a, b) => totals.get(b) - totals.get(a) || a.localeCompare(b));
    const models = ranked.slice(0, MAX_MODELS);
    const others = ranked.length - models.length;
    const step = usage.bucket_ms;
    const xs = [];
    for (let t = usage.since; t < usage.until; t += step) xs.push(t / 1000);
    const index = (start) => Math.round((start - usage.since) / step);
    const column = (fill) => models.map(() => xs.map(() => fill));
    const requests = column(0), errors = column(0), tps = column(null);
    const ttft50 = column(null), ttft95 = column(null), lat50 = column(null), lat95 = column(null);
    let total = 0, failed = 0;
    const other = xs.map(() => 0), otherErrors = xs.map(() => 0);
    for (const p of usage.points) {
      const m = models.indexOf(p.model), i = index(p.start);
      if (i < 0 || i >= xs.length) continue;
      if (m < 0) { other[i] += p.requests; otherErrors[i] += p.errors; total += p.requests; failed += p.errors; continue; }
      requests[m][i] = p.requests; errors[m][i] = p.errors; tps[m][i] = p.tokens_per_second;
      ttft50[m][i] = p.p50_ttft_ms; ttft95[m][i] = p.p95_ttft_ms;
      lat50[m][i] = p.p50_latency_ms; lat95[m][i] = p.p95_latency_ms;
      total += p.requests; failed += p.errors;
    }
    container.dataset.models = ranked.join(",");
    container.dataset.requests = String(total);
    summary.textContent = total
      ? `${number(total)} requests, ${number(failed)} errors in the last ${windowLabel(usage.window_secs)} · one point per ${windowLabel(usage.bucket_secs)}`
      : `No traced requests in the last ${windowLabel(usage.window_secs)}. Send a chat (Chat, /v1 or /ollama) and it shows here.`;
    const names = models.map(shortName);
    const plain = names.map((name, i) => ({ label: name, colour: colour(i) }));
    const pairs = names.flatMap((name, i) => [{ label: `${name} p50`, colour: colour(i) }, { label: `${name} p95`, colour: colour(i), dash: [5, 3] }]);
    const withOther = others ? [...plain, { label: `${others} other models`, colour: "#8a94a3", dash: [2, 3] }] : plain;
    charts.requests.set(xs, others ? [...requests, other] : requests, withOther);
    charts.errors.set(xs, others ? [...errors, otherErrors] : errors, withOther);
    charts.tps.set(xs, tps, plain);
    charts.ttft.set(xs, models.flatMap((_, m) => [ttft50[m], ttft95[m]]), pairs);
    charts.latency.set(xs, models.flatMap((_, m) => [lat50[m], lat95[m]]), pairs);
  }

  // A new trace: refresh soon, at most once per 2 s however many arrive.
  const off = ctx.onEvent((event) => {
    if (event.type !== "trace_recorded" && event.type !== "lagged") return;
    if (!pending) pending = setTimeout(() => { pending = null; load(); }, 2000);
  });
  // Loads now, then every 30 s: the window slides with the clock even when nothing is traced.
  const stopPoll = poll(load, 30000);
  return () => { off(); stopPoll(); clearTimeout(pending); for (const c of Object.values(charts)) c.destroy(); };
}

/** A model name short enough for a legend ("(no model)" for an empty one). */
function shortName(name) {
  if (!name) return "(no model)";
  return name.length > 32 ? `${name.slice(0, 31)}…` : name;
}

/** Models drawn one by one; the rest are summed. */
const MAX_MODELS = 6;

function windowLabel(secs) {
  if (secs % 86400 === 0) return `${secs / 86400} d`;
  if (secs % 3600 === 0) return `${secs / 3600} h`;
  if (secs % 60 === 0) return `${secs / 60} min`;
  return `${secs} s`;
}
