// Nodes: every Ollama of the fleet (`GET /api/nodes`) — state, VRAM held by loaded models,
// what is loaded, requests in flight and queued (with a sparkline of the last minutes), served
// and failed counts, the last error. An admin drains and undrains a node here.

import { api, can, poll } from "../api.js";
import { read } from "../contract.js";
import { bytes, h, ms, number, setText, sparkline } from "../format.js";
import { toast } from "../ui.js";

const HISTORY = 90; // samples kept per node: 3 minutes at one every 2 s
const STATE_TONE = { up: "ok", down: "bad", draining: "warn" };

export function mount(root) {
  const summary = h("p", { class: "muted small", id: "nodes-summary", role: "status" });
  const grid = h("div", { class: "grid wide", id: "nodes" });
  root.append(h("h1", {}, "Nodes"), summary, grid);
  const cards = new Map();
  const history = new Map();

  function card(node) {
    const state = h("span", { class: "pill" });
    const meter = h("div", { class: "bar", role: "img" }, h("span"));
    const vram = h("div", { class: "muted small" });
    const loaded = h("div", { class: "badges" });
    const load = h("div", { class: "muted small" });
    const spark = h("div", { class: "spark-box" });
    const error = h("p", { class: "muted small node-error", hidden: true });
    const drain = can("admin")
      ? h("button", { type: "button", class: "ghost small", onclick: () => toggle(node.name, drain) })
      : null;
    const el = h("section", { class: "card node", "data-node": node.name, "aria-label": `Node ${node.name}` },
      h("div", { class: "section-head" }, h("h3", {}, node.name), state),
      h("div", { class: "muted small node-url" }, node.url),
      meter, vram, h("h4", { class: "small" }, "Loaded"), loaded, load, spark, error,
      drain ? h("div", { class: "actions" }, drain) : null);
    return { el, state, meter, vram, loaded, load, spark, error, drain };
  }

  async function toggle(name, button) {
    const draining = button.dataset.draining === "true";
    button.disabled = true;
    try {
      render(await api(`/api/nodes/${encodeURIComponent(name)}/${draining ? "undrain" : "drain"}`, { method: "POST" }));
      toast(draining ? `${name} takes requests again` : `${name} drains: no new requests`);
    } catch (e) {
      toast(`Could not change ${name}: ${e.message}`, "error");
    } finally {
      button.disabled = false;
    }
  }

  function render({ nodes }) {
    const up = nodes.filter((n) => n.state === "up").length;
    setText(summary, `${nodes.length} node${nodes.length === 1 ? "" : "s"}, ${up} up · ${nodes.reduce((s, n) => s + n.in_flight, 0)} in flight, ${nodes.reduce((s, n) => s + n.queued, 0)} queued`);
    for (const node of nodes) {
      let c = cards.get(node.name);
      if (!c) { c = card(node); cards.set(node.name, c); grid.append(c.el); }
      setText(c.state, node.state + (node.version ? ` · ${node.version}` : ""));
      c.state.className = `pill ${STATE_TONE[node.state] || ""}`;
      const total = node.vram_total || 0;
      const fraction = total > 0 ? Math.min(1, node.vram_used / total) : 0;
      c.meter.firstChild.style.width = `${Math.round(fraction * 100)}%`;
      c.meter.className = `bar ${fraction > 0.9 ? "bad" : fraction > 0.7 ? "warn" : ""}`;
      c.meter.setAttribute("aria-label", `VRAM ${Math.round(fraction * 100)}% used`);
      setText(c.vram, total > 0
        ? `VRAM ${bytes(node.vram_used)} of ${bytes(total)} (${node.vram_source})`
        : `VRAM ${bytes(node.vram_used)} held by loaded models; total unknown (set vram_bytes)`);
      const names = node.loaded.join("\n");
      if (c.loaded.dataset.names !== names) {
        c.loaded.dataset.names = names;
        c.loaded.replaceChildren(...(node.loaded.length ? node.loaded.map((m) => h("span", { class: "badge" }, m)) : [h("span", { class: "muted small" }, "nothing loaded")]));
      }
      setText(c.load, `${node.in_flight} in flight · ${node.queued} queued · ${number(node.served)} served · ${number(node.errors)} failed` +
        (node.latency_ms != null ? ` · probe ${ms(node.latency_ms)}` : ""));
      const samples = history.get(node.name) || [];
      samples.push(node.in_flight + node.queued);
      if (samples.length > HISTORY) samples.shift();
      history.set(node.name, samples);
      c.spark.replaceChildren(sparkline(samples, { max: Math.max(4, ...samples), label: `${node.name} requests in flight and queued` }));
      c.error.hidden = !node.last_error || node.state === "up";
      setText(c.error, node.last_error ? `Last error: ${node.last_error}` : "");
      if (c.drain) {
        const draining = node.state === "draining";
        c.drain.dataset.draining = String(draining);
        setText(c.drain, draining ? "Undrain" : "Drain");
      }
    }
  }

  let failed = false;
  const stop = poll(async () => {
    try {
      render(await read("nodes"));
      failed = false;
    } catch (e) {
      if (!failed) setText(summary, `Nodes unavailable: ${e.message}`);
      failed = true;
    }
  }, 2000);
  return stop;
}
