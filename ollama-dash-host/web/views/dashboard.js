// Dashboard: system and GPU stats with sparklines, Ollama's state, running models, plugin metrics.
// Built once, then updated in place as events arrive, so nothing jumps while data streams.

import { api, can, poll } from "../api.js";
import { read } from "../contract.js";
import { bytes, countdown, h, localTime, number, percent, relative, setText, sparkline } from "../format.js";
import { capabilityBadges, confirmAction, toast } from "../ui.js";
import { timeChart, windowPicker, windowSeconds } from "../charts.js";

const HISTORY = 60;
const PROBE_WORDS = { system: "CPU and memory", gpu: "GPU", running: "running models", installed: "installed models", version: "Ollama version", ps: "running models", tags: "installed models" };
/** Probes that ask Ollama: when Ollama is down they are one cause, told once. */
const OLLAMA_PROBES = new Set(["running", "installed", "version", "ps", "tags"]);

/** Words for an error the API sent as a string or as `{kind, status, message}`. */
export function errorText(error) {
  if (error == null) return "";
  if (typeof error === "string") return error;
  if (typeof error.message === "string") return error.message;
  try { return JSON.stringify(error); } catch { return String(error); }
}

/** A warning: the reason in plain words, what to do next, the technical detail folded away. */
function banner(kind, text, { hint, detail } = {}) {
  return h("div", { class: `warning ${kind}`, "data-cause": text },
    h("p", { class: "warning-text" }, text),
    hint ? h("p", { class: "warning-hint" }, hint) : null,
    detail ? h("details", { class: "muted small" }, h("summary", {}, "Technical details"), h("pre", { class: "warning-detail" }, detail)) : null);
}

/** A stat card: title, big number, a line under it, an optional bar and a sparkline. */
function statCard(title, { bar = false, spark = true, id } = {}) {
  const value = h("div", { class: "big" }, "–");
  const sub = h("div", { class: "muted small" }, "\u00a0");
  const meter = bar ? h("div", { class: "bar" }, h("span")) : null;
  const sparkBox = h("div", { class: "spark-box" });
  const history = [];
  const card = h("section", { class: "card stat", "data-stat": id, "aria-label": title }, h("h3", {}, title), value, meter, sub, spark ? sparkBox : null);
  return {
    card,
    set({ big, line, fraction, sample, tone }) {
      setText(value, big);
      setText(sub, line || "\u00a0");
      if (meter) {
        meter.firstChild.style.width = `${Math.round(Math.max(0, Math.min(1, fraction || 0)) * 100)}%`;
        meter.className = `bar ${tone || ""}`;
      }
      if (spark && sample != null) {
        history.push(sample);
        if (history.length > HISTORY) history.shift();
        sparkBox.replaceChildren(sparkline(history, { label: `${title} history` }));
      }
    },
    seed(samples) { history.splice(0, history.length, ...samples.slice(-HISTORY)); sparkBox.replaceChildren(sparkline(history, { label: `${title} history` })); },
  };
}

export function mount(root, ctx) {
  const warnings = h("div", { class: "warnings", role: "status", "aria-live": "polite" });
  const ollama = statCard("Ollama", { spark: false, id: "ollama" });
  const cpu = statCard("CPU", { bar: true, id: "cpu" });
  const ram = statCard("Memory", { bar: true, id: "memory" });
  const disk = statCard("Disk", { bar: true, spark: false, id: "disk" });
  const gpus = h("div", { class: "grid", id: "gpus" });
  const running = h("div", { class: "grid wide", id: "running" });
  const runningCount = h("span", { class: "muted small" });
  const pluginMetrics = h("section", { id: "plugin-metrics", hidden: true }, h("h2", {}, "Plugin metrics"), h("div", { class: "table-wrap" }));
  const charts = historyCharts();
  root.append(
    h("h1", {}, "Dashboard"),
    warnings,
    h("div", { class: "grid", id: "system" }, ollama.card, cpu.card, ram.card, disk.card),
    charts.section,
    h("h2", {}, "GPUs"),
    gpus,
    h("h2", {}, "Running models ", runningCount),
    running,
    pluginMetrics,
  );
  gpus.append(h("p", { class: "empty" }, "Waiting for GPU readings…"));
  running.append(h("p", { class: "empty" }, "Loading…"));

  const state = { health: null, stats: null, models: [], problems: {} };
  const gpuCards = new Map();
  const modelCards = new Map();

  function renderWarnings() {
    const items = [];
    const seen = new Set();
    const add = (kind, text, extra) => { if (!seen.has(text)) { seen.add(text); items.push(banner(kind, text, extra)); } };
    const health = state.health;
    const ollamaDown = !!(health?.ollama && !health.ollama.ok);
    if (!ctx.connected) add("bad", "Live updates are disconnected; the page keeps retrying. Numbers below may be old.");
    if (ollamaDown) {
      // One banner for one cause: every Ollama probe and list fails with it.
      const details = [errorText(health.ollama.error)];
      for (const [name, probe] of Object.entries(health.collector.probes)) {
        if (OLLAMA_PROBES.has(name) && probe.last_error) details.push(`${PROBE_WORDS[name] || name}: ${errorText(probe.last_error)}`);
      }
      add("bad", `Ollama is not answering at ${health.ollama.url}. Models cannot be listed, loaded or used until it is back.`, {
        hint: "Start Ollama (ollama serve, or your system's Ollama service), or try the dashboard without it: ollama-dash serve --simulate.",
        detail: [...new Set(details.filter(Boolean))].join("\n"),
      });
    }
    if (health && !health.collector.alive) add("bad", "The background collector has stopped: the numbers below are not being refreshed.");
    for (const [name, probe] of Object.entries(health ? health.collector.probes : {})) {
      if (!probe.stale || (ollamaDown && OLLAMA_PROBES.has(name))) continue;
      const age = probe.age_ms != null ? `${Math.round(probe.age_ms / 1000)} s old` : "out of date";
      add("warn", `The ${PROBE_WORDS[name] || name} reading is ${age}.`, { detail: errorText(probe.last_error) });
    }
    if (state.runningStale && !ollamaDown) add("warn", `The list of running models is ${Math.round(state.runningStale / 1000)} s old.`);
    if (health && !health.store.ok) add("bad", "The database is not working; new traces and settings are not being saved.");
    if (health?.store.queue_full) add("warn", `The database writer fell behind ${health.store.queue_full} times; writes are delayed, not lost.`);
    for (const [what, problem] of Object.entries(state.problems)) {
      if (ollamaDown && what === "running") continue; // the Ollama banner says it
      add("warn", problem.text, { detail: problem.detail });
    }
    warnings.replaceChildren(...items);
  }

  function renderHealth(health) {
    state.health = health;
    const o = health.ollama;
    ollama.set({
      big: o.ok ? `v${o.version}` : "down",
      line: o.ok ? `${o.url} · ${number(o.latency_ms, 1)} ms` : o.url,
    });
    ollama.card.querySelector(".big").className = `big ${o.ok ? "" : "bad-text"}`;
    renderWarnings();
  }

  /** A `system_stats` sample: cpu_percent, cores, load_average, memory, swap, disks. */
  function renderSystem(sys) {
    state.stats = sys;
    if (sys.cpu_percent != null) {
      const pct = sys.cpu_percent;
      const load = sys.load_average;
      cpu.set({ big: `${number(pct)} %`, fraction: pct / 100, sample: pct, tone: pct > 90 ? "bad" : pct > 70 ? "warn" : "",
        line: [sys.cores && `${sys.cores} cores`, load && `load ${number(load[0], 2)} · ${number(load[1], 2)} · ${number(load[2], 2)}`].filter(Boolean).join(" · ") });
    }
    const mem = sys.memory;
    if (mem.total) {
      const pct = percent(mem.used, mem.total);
      ram.set({ big: `${pct} %`, fraction: mem.used / mem.total, sample: pct, tone: pct > 92 ? "bad" : pct > 80 ? "warn" : "",
        line: `${bytes(mem.used)} of ${bytes(mem.total)}${sys.swap.used ? ` · swap ${bytes(sys.swap.used)}` : ""}` });
    }
    const disks = sys.disks;
    const models = disks.find((d) => d.role === "models") || disks[0];
    if (models?.total) {
      const used = models.total - models.available;
      const pct = Math.round(models.used_percent);
      const others = disks.filter((d) => d !== models && d.mount_point !== models.mount_point).map((d) => `${d.role}: ${bytes(d.available)} free`);
      disk.set({ big: `${pct} %`, fraction: used / models.total, tone: pct > 95 ? "bad" : pct > 85 ? "warn" : "",
        line: [`${bytes(models.available)} free of ${bytes(models.total)} (${models.role}, ${models.mount_point})`, ...others].join(" · ") });
    }
  }

  /** A `gpu_stats` report: source, devices, note. "No GPU" is said plainly, never as zeros. */
  function renderGpus(report) {
    const list = report.devices;
    if (!list.length) {
      gpuCards.clear();
      gpus.replaceChildren(h("section", { class: "card stat", id: "no-gpu", "aria-label": "GPU" }, h("h3", {}, "GPU"), h("div", { class: "big" }, "none found"),
        h("div", { class: "muted small" }, "Models run on the CPU."),
        report.note ? h("details", { class: "muted small", style: "margin-top:auto" }, h("summary", {}, "Why"), report.note.replace(/^no GPU:\s*/i, "")) : null));
      return;
    }
    if (!gpuCards.size) gpus.replaceChildren();
    for (const g of list) {
      const key = g.uuid || g.index;
      let card = gpuCards.get(key);
      if (!card) {
        card = { util: statCard(`GPU ${g.index} · utilisation`, { id: `gpu-${g.index}-util` }), vram: statCard(`GPU ${g.index} · VRAM`, { bar: true, id: `gpu-${g.index}-vram` }) };
        gpuCards.set(key, card);
        gpus.append(card.util.card, card.vram.card);
      }
      const util = g.utilization_percent;
      const extras = [g.temperature_c != null && `${g.temperature_c} °C`, g.power_watts != null && `${number(g.power_watts)} W${g.power_limit_watts ? ` of ${number(g.power_limit_watts)}` : ""}`].filter(Boolean).join(" · ");
      card.util.set({ big: util == null ? "n/a" : `${util} %`, sample: util ?? 0, line: [g.name, extras].filter(Boolean).join(" · ") });
      if (g.memory_total) {
        const pct = percent(g.memory_used, g.memory_total);
        card.vram.set({ big: `${pct} %`, fraction: g.memory_used / g.memory_total, sample: pct, tone: pct > 95 ? "bad" : "", line: `${bytes(g.memory_used)} of ${bytes(g.memory_total)}` });
      } else card.vram.set({ big: "n/a", line: "the driver does not report memory" });
    }
  }

  /** The latest collection round of the metrics plugins; hidden while no plugin collects. */
  function renderPluginMetrics(metrics) {
    pluginMetrics.hidden = !metrics.length;
    if (!metrics.length) return;
    const value = (m) => (/_bytes(_total)?$/.test(m.name) ? bytes(m.value) : number(m.value, Number.isInteger(m.value) ? 0 : 2));
    pluginMetrics.lastChild.replaceChildren(h("table", { "aria-label": "Plugin metrics" },
      h("thead", {}, h("tr", {}, ["Plugin", "Metric", "Labels", "Value"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, metrics.map((m) => h("tr", { "data-metric": `${m.plugin}/${m.name}`, title: m.help },
        h("td", {}, m.plugin), h("td", { class: "mono" }, m.name),
        h("td", { class: "muted small" }, m.labels.map(([k, v]) => `${k}=${v}`).join(", ") || "–"),
        h("td", { class: "num" }, value(m)))))));
  }

  function modelCard(m) {
    const share = h("span");
    const shareBar = h("div", { class: "bar", role: "img" }, share);
    const shareText = h("div", { class: "muted small" });
    const facts = h("div", { class: "facts" });
    const expiry = h("div", { class: "expiry small" });
    const stop = can("admin") ? h("button", { type: "button", class: "ghost small", onclick: () => stopModel(m.name, stop) }, "Stop") : null;
    const card = h("section", { class: "card model-card", "data-model": m.name, "aria-label": m.name },
      h("div", { class: "name" }, m.name), h("div", { class: "caps" }), shareBar, shareText, facts, expiry, h("div", { class: "actions" }, stop));
    card.update = (m) => {
      const vram = m.size_vram;
      const pct = Math.round(m.vram_percent);
      share.style.width = `${pct}%`;
      shareBar.setAttribute("aria-label", `${pct}% in GPU memory`);
      setText(shareText, pct >= 100 ? `all ${bytes(m.size)} in GPU memory` : vram ? `${pct}% in GPU memory (${bytes(vram)} of ${bytes(m.size)}), the rest on the CPU` : `${bytes(m.size)} on the CPU (no GPU memory)`);
      card.querySelector(".caps").replaceChildren(capabilityBadges(m.capabilities));
      facts.replaceChildren(
        h("div", {}, h("small", {}, "size"), bytes(m.size)),
        h("div", {}, h("small", {}, "context"), m.context_length ? number(m.context_length) : "–"),
        h("div", {}, h("small", {}, "params · quant"), [m.parameter_size, m.quantization].filter(Boolean).join(" · ") || "–"),
      );
      card.model = m;
      tickExpiry(card);
    };
    card.update(m);
    return card;
  }

  function tickExpiry(card) {
    const m = card.model;
    const expiry = card.querySelector(".expiry");
    const at = m.expires?.utc;
    if (m.expires?.forever) { setText(expiry, "kept loaded (never unloads)"); return; }
    if (!at) { setText(expiry, "stays loaded"); return; }
    const left = countdown(at);
    setText(expiry, left === "never" ? "kept loaded (never unloads)" : `unloads ${relative(at)} · ${left} · at ${localTime(at)}`);
    expiry.title = m.expires?.local ? `${m.expires.local} (${m.expires.relative})` : at;
  }

  function renderRunning(models) {
    state.models = models;
    setText(runningCount, models.length ? `(${models.length})` : "");
    if (!models.length) {
      modelCards.clear();
      running.replaceChildren(h("p", { class: "empty" }, "No model is loaded. Start one from Models, or send a chat."));
      return;
    }
    if (!modelCards.size) running.replaceChildren();
    const seen = new Set();
    for (const m of models) {
      seen.add(m.name);
      const existing = modelCards.get(m.name);
      if (existing) existing.update(m);
      else { const card = modelCard(m); modelCards.set(m.name, card); running.append(card); }
    }
    for (const [name, card] of modelCards) if (!seen.has(name)) { card.remove(); modelCards.delete(name); }
  }

  async function stopModel(name, button) {
    if (!(await confirmAction(`Stop ${name}?`, "It is unloaded from memory now. The next request loads it again.", "Stop"))) return;
    button.disabled = true;
    try {
      await api(`/api/models/stop`, { method: "POST", body: { model: name } });
      toast(`${name} stopped`, "ok");
      refreshRunning();
    } catch (e) {
      toast(`Could not stop ${name}: ${e.message}`, "error");
      button.disabled = false;
    }
  }

  async function refreshHealth() {
    try { renderHealth(await read("health")); delete state.problems.health; } catch (e) { state.problems.health = { text: "Cannot read the server's health.", detail: errorText(e.message) }; renderWarnings(); }
  }
  async function refreshRunning() {
    try {
      const answer = await read("running");
      state.runningStale = answer.stale ? answer.age_ms || 1 : 0;
      renderRunning(answer.models);
      delete state.problems.running;
    }
    catch (e) { state.problems.running = { text: "Cannot list the running models.", detail: errorText(e.message) }; renderWarnings(); }
  }
  async function refreshStats() {
    try {
      const [stats, history] = await Promise.all([read("stats"), read("history", {}, "window=10m").catch(() => null)]);
      const points = history ? history.points.slice(-HISTORY) : [];
      if (points.length) {
        cpu.seed(points.map((p) => p.cpu_percent ?? 0));
        ram.seed(points.map((p) => percent(p.memory_used, p.memory_total)));
      }
      if (stats.system.stats) renderSystem(stats.system.stats);
      if (stats.gpu.report) renderGpus(stats.gpu.report);
      renderPluginMetrics(stats.plugins);
    } catch { /* the event stream brings them too */ }
  }

  const off = ctx.onEvent((event) => {
    switch (event.type) {
      case "system_stats": renderSystem(event); renderWarnings(); charts.system(event); break;
      case "gpu_stats": renderGpus(event); charts.gpu(event); break;
      case "running_models": renderRunning(event.models); break;
      case "plugin_metrics": renderPluginMetrics(event.metrics); break;
      case "probe_changed": refreshHealth(); break;
      case "lagged": refreshHealth(); refreshRunning(); refreshStats(); break;
      case "connection": renderWarnings(); if (event.state === "live") { refreshHealth(); refreshRunning(); } break;
      default: break;
    }
  });
  refreshStats();
  refreshRunning();
  charts.load();
  // Health and running models also come as events; a slow poll covers what has no event,
  // and it pauses while the tab is hidden.
  const stopPoll = poll(() => { refreshHealth(); if (!ctx.connected) refreshRunning(); }, 10000);
  const clock = setInterval(() => { for (const card of modelCards.values()) tickExpiry(card); }, 1000);
  return () => { off(); stopPoll(); clearInterval(clock); charts.destroy(); };
}

const GIB = 1024 ** 3;

/**
 * CPU, memory, GPU utilisation and VRAM over a chosen window: `/api/stats/history` when the
 * window changes, then every live sample appended. The history keeps the GPUs' mean and their
 * VRAM sum; each GPU's own line starts with the live samples this page has seen.
 */
function historyCharts() {
  let windowValue = "10m";
  let seq = 0;
  let devices = [];
  const pct = (v) => `${Math.round(v)} %`;
  const gib = (v) => `${v.toFixed(v < 10 ? 1 : 0)} GiB`;
  const span = () => windowSeconds(windowValue);
  const cpuChart = timeChart({ title: "CPU", id: "cpu", fmt: pct, max: 100, span });
  const memChart = timeChart({ title: "Memory", id: "memory", fmt: pct, max: 100, span });
  const gpuChart = timeChart({ title: "GPU utilisation", id: "gpu-util", fmt: pct, max: 100, span });
  const vramChart = timeChart({ title: "VRAM used", id: "vram", fmt: gib, span });
  const gpuCharts = [gpuChart.card, vramChart.card];
  for (const card of gpuCharts) card.hidden = true;
  const status = h("span", { class: "muted small", role: "status" });
  const picker = windowPicker(windowValue, (value) => { windowValue = value; loadHistory(); }, "History window");
  const section = h("section", { id: "history", "aria-label": "History" },
    h("div", { class: "section-head" }, h("h2", {}, "History"), picker, status),
    h("div", { class: "charts" }, cpuChart.card, memChart.card, ...gpuCharts));

  const gpuSeries = () => [{ label: devices.length > 1 ? "all GPUs (mean)" : "GPU" },
    ...(devices.length > 1 ? devices.map((d) => ({ label: `GPU ${d.index}`, dash: [5, 3] })) : [])];
  const vramSeries = () => [{ label: devices.length > 1 ? "all GPUs" : "used" },
    ...(devices.length > 1 ? devices.map((d) => ({ label: `GPU ${d.index}`, dash: [5, 3] })) : [])];

  async function loadHistory() {
    const mine = ++seq;
    status.textContent = "loading…";
    let answer;
    try { answer = await read("history", {}, `window=${windowValue}`); } catch (e) { if (mine === seq) status.textContent = `History unavailable: ${e.message}`; return; }
    if (mine !== seq) return;
    status.textContent = "";
    const points = answer.points;
    const xs = points.map((p) => p.ts / 1000);
    cpuChart.set(xs, [points.map((p) => p.cpu_percent ?? null)], [{ label: "CPU" }]);
    memChart.set(xs, [points.map((p) => (p.memory_total ? (p.memory_used / p.memory_total) * 100 : null))], [{ label: "used" }]);
    const hasGpu = devices.length > 0 || points.some((p) => p.gpu_percent != null || p.vram_used != null);
    for (const card of gpuCharts) card.hidden = !hasGpu;
    if (!hasGpu) return;
    const extra = devices.length > 1 ? devices.map(() => points.map(() => null)) : [];
    gpuChart.set(xs, [points.map((p) => p.gpu_percent ?? null), ...extra], gpuSeries());
    vramChart.set(xs, [points.map((p) => (p.vram_used == null ? null : p.vram_used / GIB)), ...extra], vramSeries());
  }

  return {
    section,
    /** A live `system_stats` sample. */
    system(sample) {
      const x = Date.parse(sample.taken_at) / 1000;
      if (!Number.isFinite(x)) return;
      const keep = windowSeconds(windowValue);
      if (sample.cpu_percent != null) cpuChart.push(x, [sample.cpu_percent], keep);
      if (sample.memory.total) memChart.push(x, [(sample.memory.used / sample.memory.total) * 100], keep);
    },
    /** A live `gpu_stats` report. */
    gpu(report) {
      const list = report.devices;
      if (!list.length) return;
      const x = Date.parse(report.taken_at) / 1000;
      if (list.length !== devices.length) { devices = list; loadHistory(); return; }
      devices = list;
      const keep = windowSeconds(windowValue);
      const utils = list.map((d) => d.utilization_percent ?? null);
      const known = utils.filter((u) => u != null);
      const mean = known.length ? known.reduce((a, b) => a + b, 0) / known.length : null;
      const used = list.map((d) => (d.memory_used == null ? null : d.memory_used / GIB));
      const total = used.some((u) => u != null) ? used.reduce((a, b) => a + (b || 0), 0) : null;
      gpuChart.push(x, list.length > 1 ? [mean, ...utils] : [mean], keep);
      vramChart.push(x, list.length > 1 ? [total, ...used] : [total], keep);
    },
    load: loadHistory,
    destroy() { for (const chart of [cpuChart, memChart, gpuChart, vramChart]) chart.destroy(); },
  };
}
