// Dashboard: system and GPU stats with sparklines, Ollama's state, running models.
// Built once, then updated in place as events arrive, so nothing jumps while data streams.

import { api, can, poll } from "../api.js";
import { bytes, countdown, h, localTime, number, percent, relative, setText, sparkline } from "../format.js";
import { capabilityBadges, confirmAction, toast } from "../ui.js";

const HISTORY = 60;

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
  root.append(
    h("h1", {}, "Dashboard"),
    warnings,
    h("div", { class: "grid", id: "system" }, ollama.card, cpu.card, ram.card, disk.card),
    h("h2", {}, "GPUs"),
    gpus,
    h("h2", {}, "Running models ", runningCount),
    running,
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
    for (const [name, probe] of Object.entries(health?.probes || health?.cache || {})) {
      if (probe && probe.stale) items.push(["warn", `The ${name.replace(/_/g, " ")} reading is ${probe.age_secs != null ? `${Math.round(probe.age_secs)} s` : "too"} old${probe.last_error ? `: ${probe.last_error}` : ""}.`]);
    }
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

  function renderStats(stats) {
    state.stats = stats;
    const sys = stats.system || stats;
    const cpuPct = sys.cpu?.usage_percent ?? sys.cpu?.percent ?? sys.cpu_percent;
    if (cpuPct != null) {
      const cores = sys.cpu?.cores ?? sys.cpu?.per_core?.length;
      const load = sys.cpu?.load_average || sys.load_average;
      cpu.set({ big: `${number(cpuPct)} %`, fraction: cpuPct / 100, sample: cpuPct, tone: cpuPct > 90 ? "bad" : cpuPct > 70 ? "warn" : "",
        line: [cores && `${cores} cores`, load && `load ${number(load.one ?? load[0], 2)}`].filter(Boolean).join(" · ") });
    }
    const mem = sys.memory || sys.ram;
    if (mem) {
      const used = mem.used_bytes ?? mem.used, total = mem.total_bytes ?? mem.total;
      const pct = percent(used, total);
      ram.set({ big: `${pct} %`, fraction: used / total, sample: pct, tone: pct > 92 ? "bad" : pct > 80 ? "warn" : "",
        line: `${bytes(used)} of ${bytes(total)}${mem.swap_used_bytes ? ` · swap ${bytes(mem.swap_used_bytes)}` : ""}` });
    }
    const disks = sys.disks || (sys.disk ? [sys.disk] : []);
    const models = disks.find((d) => /model/i.test(d.label || d.name || d.role || "")) || disks[0];
    if (models) {
      const used = models.used_bytes ?? models.used ?? (models.total_bytes - models.available_bytes), total = models.total_bytes ?? models.total;
      const pct = percent(used, total);
      disk.set({ big: `${pct} %`, fraction: used / total, tone: pct > 95 ? "bad" : pct > 85 ? "warn" : "",
        line: `${bytes(total - used)} free of ${bytes(total)}${models.mount_point || models.path ? ` · ${models.mount_point || models.path}` : ""}` });
    }
    const list = stats.gpus || sys.gpus;
    if (list) renderGpus(list, stats.gpu_error || stats.gpu?.error || stats.gpu_source);
    renderWarnings();
  }

  function renderGpus(list, note) {
    if (!list.length) {
      gpuCards.clear();
      gpus.replaceChildren(h("p", { class: "empty", id: "no-gpu" }, `No GPU found${note ? ` (${note})` : ""}. Models run on the CPU.`));
      return;
    }
    if (!gpuCards.size) gpus.replaceChildren();
    for (const [i, g] of list.entries()) {
      const key = g.uuid || g.index || i;
      let card = gpuCards.get(key);
      if (!card) {
        card = { util: statCard(`GPU ${g.index ?? i} · utilisation`, { id: `gpu-${i}-util` }), vram: statCard(`GPU ${g.index ?? i} · VRAM`, { bar: true, id: `gpu-${i}-vram` }) };
        gpuCards.set(key, card);
        gpus.append(card.util.card, card.vram.card);
      }
      const util = g.utilization_percent ?? g.utilization ?? g.util_percent;
      const used = g.memory_used_bytes ?? g.memory?.used ?? g.memory_used, total = g.memory_total_bytes ?? g.memory?.total ?? g.memory_total;
      const extras = [g.temperature_c != null && `${g.temperature_c} °C`, g.power_watts != null && `${number(g.power_watts)} W`].filter(Boolean).join(" · ");
      card.util.set({ big: util == null ? "n/a" : `${number(util)} %`, sample: util ?? 0, line: [g.name, extras].filter(Boolean).join(" · ") });
      const pct = percent(used, total);
      card.vram.set({ big: `${pct} %`, fraction: used / total, sample: pct, tone: pct > 95 ? "bad" : "", line: `${bytes(used)} of ${bytes(total)}` });
    }
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
      const pct = m.vram_percent ?? m.vram_share ?? percent(vram, m.size);
      share.style.width = `${pct}%`;
      shareBar.setAttribute("aria-label", `${pct}% in GPU memory`);
      setText(shareText, pct >= 100 ? `all ${bytes(m.size)} in GPU memory` : vram ? `${pct}% in GPU memory (${bytes(vram)} of ${bytes(m.size)}), the rest on the CPU` : `${bytes(m.size)} on the CPU (no GPU memory)`);
      card.querySelector(".caps").replaceChildren(capabilityBadges(m.capabilities || []));
      const d = m.details || {};
      facts.replaceChildren(
        h("div", {}, h("small", {}, "size"), bytes(m.size)),
        h("div", {}, h("small", {}, "context"), m.context_length ? number(m.context_length) : "–"),
        h("div", {}, h("small", {}, "params · quant"), [d.parameter_size || m.parameter_size, d.quantization_level || m.quantization_level].filter(Boolean).join(" · ") || "–"),
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
    if (!m.expires_at) { setText(expiry, "stays loaded"); return; }
    const left = countdown(m.expires_at);
    setText(expiry, left === "never" ? "kept loaded (never unloads)" : `unloads ${relative(m.expires_at)} · ${left} · at ${localTime(m.expires_at)}`);
    expiry.title = m.expires_at;
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
    try { renderRunning((await api("/api/models/running")).models || []); delete state.problems.running; }
    catch (e) { state.problems.running = `Cannot list running models: ${e.message}`; renderWarnings(); }
  }
  async function refreshStats() {
    try {
      const stats = await api("/api/stats");
      if (stats?.history) for (const [name, card] of [["cpu", cpu], ["memory", ram]]) if (stats.history[name]) card.seed(stats.history[name]);
      renderStats(stats);
    } catch { /* stats arrive on the event stream */ }
  }

  const off = ctx.onEvent((event) => {
    switch (event.type) {
      case "stats": renderStats(event.stats || event); break;
      case "running_models": renderRunning(event.models || []); break;
      case "health": renderHealth(event.health || event); break;
      case "models_changed": refreshRunning(); break;
      case "connection": renderWarnings(); if (event.state === "live") { refreshHealth(); refreshRunning(); } break;
      default: break;
    }
  });
  // refreshStats(); (with the live service)
  // Health and running models also come as events; a slow poll covers what has no event,
  // and it pauses while the tab is hidden.
  const stopPoll = poll(() => { refreshHealth(); refreshRunning(); }, 10000);
  const clock = setInterval(() => { for (const card of modelCards.values()) tickExpiry(card); }, 1000);
  return () => { off(); stopPoll(); clearInterval(clock); };
}
