// Dashboard: Ollama status, running models with VRAM share and expiry.

import { api } from "../api.js";
import { bytes, h, localTime, percent, relative } from "../format.js";

export function mount(root, ctx) {
  const warnings = h("div");
  const status = h("div", { class: "grid" });
  const running = h("div", { class: "grid" });
  root.replaceChildren(h("h1", {}, "Dashboard"), warnings, status, h("h2", {}, "Running models"), running);

  async function refresh() {
    try {
      const [health, models] = await Promise.all([api("/api/health"), api("/api/models/running").catch(() => null)]);
      renderHealth(health);
      renderRunning(models?.models ?? []);
    } catch (error) {
      warnings.replaceChildren(h("p", { class: "warning" }, `Cannot reach ollama-dash: ${error.message}`));
    }
  }

  function renderHealth(health) {
    const ollama = health.ollama || {};
    warnings.replaceChildren(...(ollama.ok ? [] : [h("p", { class: "warning" }, `Ollama is not answering at ${ollama.url}: ${ollama.error || "unknown error"}`)]));
    status.replaceChildren(
      h("section", { class: "card" }, h("h3", {}, "Ollama"), h("div", { class: "big" }, ollama.ok ? `v${ollama.version}` : "down"), h("div", { class: "muted" }, ollama.url)),
      h("section", { class: "card" }, h("h3", {}, "Store"), h("div", { class: "big" }, bytes(health.store?.size_bytes)), h("div", { class: "muted" }, `${health.store?.written ?? 0} writes`)),
      h("section", { class: "card" }, h("h3", {}, "Uptime"), h("div", { class: "big" }, `${Math.floor((health.uptime_secs || 0) / 60)} min`), h("div", { class: "muted" }, `ollama-dash ${health.version}`)),
    );
  }

  function renderRunning(models) {
    if (!models.length) { running.replaceChildren(h("p", { class: "muted" }, "No model is loaded.")); return; }
    running.replaceChildren(...models.map((m) => {
      const share = percent(m.size_vram || 0, m.size || 0);
      return h("section", { class: "card", "data-model": m.name },
        h("h3", {}, m.name),
        h("div", { class: "badges" }, ...(m.capabilities || []).map((c) => h("span", { class: "badge" }, c))),
        h("div", { class: "bar", role: "img", "aria-label": `${share}% in VRAM` }, h("span", { style: `width:${share}%` })),
        h("div", { class: "muted" }, `${bytes(m.size)} · ${share}% in VRAM · ctx ${m.context_length ?? "–"}`),
        h("div", { class: "muted", title: localTime(m.expires_at) }, `unloads ${relative(m.expires_at)}`),
      );
    }));
  }

  refresh();
  const off = ctx.onEvent(() => refresh());
  const timer = setInterval(() => { if (!document.hidden) refresh(); }, 15000);
  return () => { off(); clearInterval(timer); };
}
