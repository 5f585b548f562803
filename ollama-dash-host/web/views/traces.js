// Traces: filters, keyset paging, detail with a timing bar, export, per-model stats.

import { download } from "../api.js";
import { read } from "../contract.js";
import { h, localTime, ms, number, relative, setText } from "../format.js";
import { cardTable, drawer, toast } from "../ui.js";

const PAGE = 50;

export function mount(root, ctx, params) {
  const f = {
    model: h("select", { id: "f-model" }, h("option", { value: "" }, "All models")),
    status: h("select", { id: "f-status" }, ["", "ok", "error", "cancelled"].map((s) => h("option", { value: s }, s || "Any status"))),
    key: h("input", { id: "f-key", placeholder: "key name", autocomplete: "off" }),
    since: h("input", { id: "f-since", type: "datetime-local" }),
    until: h("input", { id: "f-until", type: "datetime-local" }),
    q: h("input", { id: "f-q", type: "search", placeholder: "words in input or output" }),
  };
  const labels = { model: "Model", status: "Status", key: "API key", since: "From", until: "To", q: "Text" };
  const form = h("form", { class: "filters", id: "trace-filters", onsubmit: (e) => { e.preventDefault(); cursors.length = 0; load(); } },
    Object.entries(f).map(([k, el]) => h("div", {}, h("label", { for: el.id }, labels[k]), el)),
    h("div", { style: "display:flex;gap:.4rem" }, h("button", { type: "submit" }, "Apply"), h("button", { type: "button", class: "ghost", onclick: () => { form.reset(); cursors.length = 0; load(); } }, "Clear")));
  for (const el of [f.model, f.status]) el.addEventListener("change", () => { cursors.length = 0; load(); });
  const body = h("tbody");
  const info = h("span", { class: "muted small num" });
  const newer = h("button", { type: "button", class: "ghost small", disabled: true, onclick: () => { cursors.pop(); load(); } }, "← Newer");
  const older = h("button", { type: "button", class: "ghost small", disabled: true, onclick: () => { cursors.push(state.next); load(); } }, "Older →");
  const windowSelect = h("select", { id: "stats-window", "aria-label": "Stats window", style: "width:auto", onchange: () => loadStats() },
    [["3600000", "last hour"], ["86400000", "last 24 hours"], ["604800000", "last 7 days"]].map(([v, t]) => h("option", { value: v, selected: v === "86400000" }, t)));
  const statsBody = h("tbody");
  root.append(
    h("div", { class: "toolbar" }, h("h1", { style: "margin:0" }, "Traces"), h("span", { class: "spacer" }),
      h("button", { type: "button", class: "ghost small", id: "export-jsonl", onclick: () => exportAs("jsonl") }, "Export JSONL"),
      h("button", { type: "button", class: "ghost small", id: "export-csv", onclick: () => exportAs("csv") }, "Export CSV")),
    form,
    h("div", { class: "table-wrap" }, cardTable({ "aria-label": "Traces" }, ["Time", "Model", "Endpoint", "Key", "Status", "Tokens", "Duration", "First token"], body)),
    h("div", { class: "pager" }, info, newer, older),
    h("div", { class: "toolbar", style: "margin-top:1.6rem" }, h("h2", { style: "margin:0" }, "Per-model stats"), windowSelect),
    h("div", { class: "table-wrap" }, cardTable({ "aria-label": "Per-model stats", id: "trace-stats" },
      ["Model", "Requests", "Errors", "Tokens", "p50 latency", "p95 latency", "p50 first token", "p95 first token", "Tokens/s"], statsBody)),
  );
  body.append(h("tr", {}, h("td", { colspan: "8", class: "muted" }, "Loading…")));

  const cursors = [];
  const state = { next: null, models: new Set() };

  function query(extra = {}) {
    const p = new URLSearchParams();
    for (const [k, el] of Object.entries(f)) {
      let v = el.value.trim();
      if (!v) continue;
      if (k === "since" || k === "until") v = String(new Date(v).getTime());
      p.set(k, v);
    }
    for (const [k, v] of Object.entries(extra)) if (v != null) p.set(k, v);
    return p.toString();
  }

  async function load() {
    try {
      const answer = await read("traces", {}, query({ limit: PAGE, cursor: cursors.at(-1) }));
      state.next = answer.next_cursor;
      newer.disabled = !cursors.length;
      older.disabled = !answer.has_more;
      setText(info, answer.total != null ? `${number(answer.total)} matching` : `${answer.data.length} shown`);
      const rows = answer.data;
      if (!rows.length) { body.replaceChildren(h("tr", {}, h("td", { colspan: "8", class: "muted" }, "No trace matches. Traces appear here when a model answers through Chat, /v1 or /ollama."))); return; }
      body.replaceChildren(...rows.map((t) => h("tr", { class: "clickable", tabindex: "0", "data-trace": t.id,
        onclick: () => { location.hash = `#/traces/${t.id}`; }, onkeydown: (e) => { if (e.key === "Enter") location.hash = `#/traces/${t.id}`; } },
        h("td", { title: localTime(t.created_at) }, relative(new Date(t.created_at).toISOString())),
        h("td", {}, t.model), h("td", { class: "mono small" }, t.endpoint), h("td", {}, t.api_key || "–"),
        h("td", {}, h("span", { class: `status ${t.status === "ok" ? "ok" : t.status === "error" ? "bad" : "warn"}` }, t.status)),
        h("td", { class: "num" }, t.total_tokens != null ? number(t.total_tokens) : "–"),
        h("td", { class: "num" }, ms(t.duration_ms)), h("td", { class: "num" }, ms(t.ttft_ms)))));
      for (const t of rows) addModel(t.model);
    } catch (e) {
      body.replaceChildren(h("tr", {}, h("td", { colspan: "8", class: "error" }, `Cannot list traces: ${e.message}`)));
    }
  }
  function addModel(name) {
    if (!name || state.models.has(name)) return;
    state.models.add(name);
    f.model.append(h("option", { value: name }, name));
  }

  async function loadStats() {
    const until = Date.now();
    try {
      const stats = await read("traceStats", {}, `since=${until - Number(windowSelect.value)}&until=${until + 1}`);
      const models = stats.models;
      for (const m of models) addModel(m.model);
      statsBody.replaceChildren(...(models.length ? models.map((m) => h("tr", { "data-model": m.model },
        h("td", {}, m.model), h("td", { class: "num" }, number(m.count)), h("td", { class: "num" }, number(m.errors + m.cancelled)),
        h("td", { class: "num" }, number(m.total_tokens)), h("td", { class: "num" }, ms(m.p50_latency_ms)), h("td", { class: "num" }, ms(m.p95_latency_ms)),
        h("td", { class: "num" }, ms(m.p50_ttft_ms)), h("td", { class: "num" }, ms(m.p95_ttft_ms)), h("td", { class: "num" }, number(m.tokens_per_second, 1))))
        : [h("tr", {}, h("td", { colspan: "9", class: "muted" }, "No request in this window."))]));
    } catch (e) { statsBody.replaceChildren(h("tr", {}, h("td", { colspan: "9", class: "error" }, `Cannot compute stats: ${e.message}`))); }
  }

  async function exportAs(format) {
    try { await download(`/v1/traces/export?${query({ format })}`, `traces.${format}`); }
    catch (e) { toast(`Export failed: ${e.message}`, "error"); }
  }

  let openDrawer = null;
  async function detail(id) {
    openDrawer?.close();
    const d = drawer(`Trace ${id}`);
    openDrawer = d;
    d.dialog.addEventListener("close", () => { openDrawer = null; if (location.hash.startsWith("#/traces/")) history.replaceState(null, "", "#/traces"); });
    d.body.append(h("p", { class: "muted" }, "Loading…"));
    try {
      const t = await read("trace", { trace: id });
      d.body.replaceChildren(h("div", {},
        h("dl", { class: "kv" }, [
          ["When", localTime(t.created_at)], ["Model", t.model], ["Endpoint", t.endpoint], ["Key", t.api_key || "–"], ["Client", t.client_addr || "–"],
          ["Status", `${t.status}${t.http_status ? ` (HTTP ${t.http_status})` : ""}`], ["Streamed", t.stream ? "yes" : "no"],
          ["Tokens", `${number(t.prompt_tokens ?? 0)} prompt + ${number(t.completion_tokens ?? 0)} generated = ${number(t.total_tokens ?? 0)}`],
          ["Duration", ms(t.duration_ms)], ["First token", ms(t.ttft_ms)],
          ["Speed", t.eval_ns && t.completion_tokens ? `${number(t.completion_tokens / (t.eval_ns / 1e9), 1)} tokens/s` : "–"],
        ].map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
        t.error ? h("p", { class: "warning bad" }, t.error) : null,
        h("h3", {}, "Where the time went"), timing(t),
        h("h3", {}, "Input"), h("pre", { class: "block", id: "trace-input" }, pretty(t.input)),
        h("h3", {}, "Output"), h("pre", { class: "block", id: "trace-output" }, t.output || "(none)"),
        t.tool_calls ? [h("h3", {}, "Tool calls"), h("pre", { class: "block" }, pretty(t.tool_calls))] : null));
    } catch (e) { d.body.replaceChildren(h("p", { class: "error" }, `Cannot load trace: ${e.message}`)); }
  }

  let pending = null;
  const off = ctx.onEvent((event) => {
    if (event.type !== "trace_recorded" || cursors.length) return;
    clearTimeout(pending);
    pending = setTimeout(() => { load(); loadStats(); }, 400);
  });
  load();
  loadStats();
  if (params[0]) detail(params[0]);
  return {
    unmount: () => { off(); clearTimeout(pending); openDrawer?.close(); },
    update: (p) => { if (p[0]) detail(p[0]); else openDrawer?.close(); },
  };
}

/** The timing bar: queue (ollama-dash and the wait before Ollama), load, prompt eval, generation. */
function timing(t) {
  const total = t.duration_ms || (t.total_ns || 0) / 1e6;
  if (!total) return h("p", { class: "muted" }, "No timing recorded.");
  if (t.load_ns == null && t.prompt_eval_ns == null && t.eval_ns == null) {
    return h("p", { class: "muted" }, `${ms(total)} in all. Ollama reports its breakdown (load, prompt eval, generation) only when an answer completes.`);
  }
  const load = (t.load_ns || 0) / 1e6, prompt = (t.prompt_eval_ns || 0) / 1e6, gen = (t.eval_ns || 0) / 1e6;
  const queue = Math.max(0, total - load - prompt - gen);
  const parts = [["t-queue", "Queue and overhead", queue], ["t-load", "Model load", load], ["t-prompt", "Prompt eval", prompt], ["t-gen", "Generation", gen]];
  const sum = parts.reduce((s, p) => s + p[2], 0) || 1;
  return h("div", { class: "timing-box" },
    h("div", { class: "timing", role: "img", "aria-label": parts.map(([, n, v]) => `${n} ${ms(v)}`).join(", ") },
      parts.filter((p) => p[2] > 0).map(([cls, name, v]) => h("span", { class: cls, style: `width:${(v / sum) * 100}%`, title: `${name}: ${ms(v)}` }))),
    h("div", { class: "legend" }, parts.map(([cls, name, v]) => h("span", {}, h("i", { class: cls }), `${name} ${ms(v)}`))));
}

function pretty(text) {
  if (!text) return "(none)";
  try {
    const value = JSON.parse(text);
    if (Array.isArray(value) && value.every((m) => m && typeof m === "object" && "role" in m)) {
      return value.map((m) => `[${m.role}]\n${typeof m.content === "string" ? m.content : JSON.stringify(m.content, null, 2)}`).join("\n\n");
    }
    return JSON.stringify(value, null, 2);
  } catch { return text; }
}
