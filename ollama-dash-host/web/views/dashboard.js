// Dashboard: system and GPU stats with sparklines, Ollama's state, running models, plugin metrics.
// Built once, then updated in place as events arrive, so nothing jumps while data streams.

import { api, can, poll } from "../api.js";
import { bytes, countdown, h, localTime, number, percent, relative, setText, sparkline } from "../format.js";
import { capabilityBadges, confirmAction, toast } from "../ui.js";

const HISTORY = 60;
const PROBE_WORDS = { system: "CPU and memory", gpu: "GPU", ps: "running models", tags: "installed models", version: "Ollama version" };

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
  root.append(
    h("h1", {}, "Dashboard"),
    warnings,
    h("div", { class: "grid", id: "system" }, ollama.card, cpu.card, ram.card, disk.card),
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
    const health = state.health;
    if (!ctx.connected) items.push(["bad", "Live updates are disconnected; the page keeps retrying. Numbers below may be old."]);
    if (health && health.ollama && !health.ollama.ok) {
      items.push(["bad", `Ollama is not answering at ${health.ollama.url}${health.ollama.error ? ` (${health.ollama.error})` : ""}. Models cannot be listed, loaded or used until it is back.`]);
    }
    if (health?.collector && !health.collector.alive) items.push(["bad", "The background collector has stopped: the numbers below are not being refreshed."]);
    for (const [name, probe] of Object.entries(health?.collector?.probes || {})) {
      if (probe?.stale) items.push(["warn", `The ${PROBE_WORDS[name] || name} reading is ${probe.age_ms != null ? `${Math.round(probe.age_ms / 1000)} s` : "too"} old${probe.last_error ? `: ${probe.last_error}` : ""}.`]);
    }
    if (state.runningStale) items.push(["warn", `The list of running models is ${Math.round(state.runningStale / 1000)} s old.`]);
    if (health?.store && !health.store.ok) items.push(["bad", "The database is not working; new traces and settings are not being saved."]);
    if (health?.store?.queue_full) items.push(["warn", `The database writer fell behind ${health.store.queue_full} times; writes are delayed, not lost.`]);
    for (const text of Object.values(state.problems)) items.push(["warn", text]);
    warnings.replaceChildren(...items.map(([kind, text]) => h("p", { class: `warning ${kind}` }, text)));
  }

  function renderHealth(health) {
    state.health = health;
    const o = health.ollama || {};
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
    if (mem?.total) {
      const pct = percent(mem.used, mem.total);
      ram.set({ big: `${pct} %`, fraction: mem.used / mem.total, sample: pct, tone: pct > 92 ? "bad" : pct > 80 ? "warn" : "",
        line: `${bytes(mem.used)} of ${bytes(mem.total)}${sys.swap?.used ? ` · swap ${bytes(sys.swap.used)}` : ""}` });
    }
    const disks = sys.disks || [];
    const models = disks.find((d) => d.role === "models") || disks[0];
    if (models?.total) {
      const used = models.total - models.available;
      const pct = Math.round(models.used_percent ?? percent(used, models.total));
      const others = disks.filter((d) => d !== models && d.mount_point !== models.mount_point).map((d) => `${d.role}: ${bytes(d.available)} free`);
      disk.set({ big: `${pct} %`, fraction: used / models.total, tone: pct > 95 ? "bad" : pct > 85 ? "warn" : "",
        line: [`${bytes(models.available)} free of ${bytes(models.total)} (${models.role || "models"}, ${models.mount_point})`, ...others].join(" · ") });
    }
  }

  /** A `gpu_stats` report: source, devices, note. "No GPU" is said plainly, never as zeros. */
  function renderGpus(report) {
    const list = report.devices || [];
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
        h("td", { class: "muted small" }, (m.labels || []).map(([k, v]) => `${k}=${v}`).join(", ") || "–"),
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
      const vram = m.size_vram || 0;
      const pct = Math.round(m.vram_percent ?? percent(vram, m.size));
      share.style.width = `${pct}%`;
      shareBar.setAttribute("aria-label", `${pct}% in GPU memory`);
      setText(shareText, pct >= 100 ? `all ${bytes(m.size)} in GPU memory` : vram ? `${pct}% in GPU memory (${bytes(vram)} of ${bytes(m.size)}), the rest on the CPU` : `${bytes(m.size)} on the CPU (no GPU memory)`);
      card.querySelector(".caps").replaceChildren(capabilityBadges(m.capabilities || []));
      const d = m.details || {};
      facts.replaceChildren(
        h("div", {}, h("small", {}, "size"), bytes(m.size)),
        h("div", {}, h("small", {}, "context"), m.context_length ? number(m.context_length) : "–"),
        h("div", {}, h("small", {}, "params · quant"), [m.parameter_size || d.parameter_size, m.quantization || d.quantization_level].filter(Boolean).join(" · ") || "–"),
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
    const at = m.expires?.utc || m.expires_at;
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
    try { renderHealth(await api("/api/health")); delete state.problems.health; } catch (e) { state.problems.health = `Cannot read health: ${e.message}`; renderWarnings(); }
  }
  async function refreshRunning() {
    try {
      const answer = await api("/api/models/running");
      state.runningStale = answer.stale ? answer.age_ms || 1 : 0;
      renderRunning(answer.models || []);
      delete state.problems.running;
    }
    catch (e) { state.problems.running = `Cannot list running models: ${e.message}`; renderWarnings(); }
  }
  async function refreshStats() {
    try {
      const [stats, history] = await Promise.all([api("/api/stats"), api("/api/stats/history?window=10m").catch(() => null)]);
      const points = (history?.points || []).slice(-HISTORY);
      if (points.length) {
        cpu.seed(points.map((p) => p.cpu_percent ?? 0));
        ram.seed(points.map((p) => percent(p.memory_used, p.memory_total)));
      }
      if (stats.system?.stats) renderSystem(stats.system.stats);
      if (stats.gpu?.report) renderGpus(stats.gpu.report);
      renderPluginMetrics(stats.plugins || []);
    } catch { /* the event stream brings them too */ }
  }

  const off = ctx.onEvent((event) => {
    switch (event.type) {
      case "system_stats": renderSystem(event); renderWarnings(); break;
      case "gpu_stats": renderGpus(event); break;
      case "running_models": renderRunning(event.models || []); break;
      case "plugin_metrics": renderPluginMetrics(event.metrics || []); break;
      case "probe_changed": refreshHealth(); break;
      case "lagged": refreshHealth(); refreshRunning(); refreshStats(); break;
      case "connection": renderWarnings(); if (event.state === "live") { refreshHealth(); refreshRunning(); } break;
      default: break;
    }
  });
  refreshStats();
  refreshRunning();
  // Health and running models also come as events; a slow poll covers what has no event,
  // and it pauses while the tab is hidden.
  const stopPoll = poll(() => { refreshHealth(); if (!ctx.connected) refreshRunning(); }, 10000);
  const clock = setInterval(() => { for (const card of modelCards.values()) tickExpiry(card); }, 1000);
  return () => { off(); stopPoll(); clearInterval(clock); };
}
