// Settings: global and per-model generation defaults (validated), API keys (admin), plugins.

import { api, can } from "../api.js";
import { read } from "../contract.js";
import { h, localTime, number, relative } from "../format.js";
import { cardTable, confirmAction, toast } from "../ui.js";
import { copyText } from "../markdown.js";

const ROUTES = {
  global: "/api/settings/global",
  modelDefaults: (name) => `/api/settings/model?name=${encodeURIComponent(name)}`,
  keys: "/api/keys",
  key: (name) => `/api/keys/${encodeURIComponent(name)}`,
  plugins: "/api/plugins",
};

/** Generation defaults: name, label, input attributes and a client-side check. */
const FIELDS = [
  ["temperature", "Temperature", { type: "number", step: "0.05" }, (v) => num(v, 0, 5)],
  ["top_k", "Top K", { type: "number", step: "1" }, (v) => int(v, 0, 1000)],
  ["top_p", "Top P", { type: "number", step: "0.01" }, (v) => num(v, 0, 1)],
  ["min_p", "Min P", { type: "number", step: "0.01" }, (v) => num(v, 0, 1)],
  ["num_ctx", "Context (num_ctx)", { type: "number", step: "256" }, (v) => int(v, 64)],
  ["num_predict", "Max tokens (num_predict)", { type: "number", step: "1" }, (v) => int(v, -2)],
  ["seed", "Seed", { type: "number", step: "1" }, (v) => int(v, -1)],
  ["repeat_penalty", "Repeat penalty", { type: "number", step: "0.05" }, (v) => num(v, 0, 5)],
  ["stop", "Stop sequences (one a line)", { type: "textarea" }, () => null],
  ["keep_alive", "Keep alive (e.g. 5m, 1h, -1)", { type: "text" }, (v) => (/^(-?\d+|(\d+(\.\d+)?(ms|s|m|h))+)$/.test(v) ? null : "must be a duration like 30s, 5m, 2h, 0 (unload) or -1 (forever)")],
];
function num(v, min, max) {
  const n = Number(v);
  if (!Number.isFinite(n)) return "must be a number";
  if (min != null && n < min) return `must be at least ${min}`;
  if (max != null && n > max) return `must be at most ${max}`;
  return null;
}
function int(v, min, max) { return Number.isInteger(Number(v)) ? num(v, min, max) : "must be a whole number"; }

export function mount(root, ctx) {
  const sections = { defaults: h("section", { id: "defaults" }), keys: h("section", { id: "keys" }), plugins: h("section", { id: "plugins" }) };
  root.append(h("h1", {}, "Settings"), sections.defaults, sections.keys, sections.plugins);
  defaultsSection(sections.defaults);
  keysSection(sections.keys);
  const off = pluginsSection(sections.plugins, ctx);
  return () => off?.();
}

// ---- generation defaults -----------------------------------------------------------------

function defaultsForm(id, title, load, save) {
  const inputs = {};
  const errors = {};
  const cells = FIELDS.map(([key, label, attrs]) => {
    const inputId = `${id}-${key}`;
    const input = attrs.type === "textarea" ? h("textarea", { id: inputId, rows: "2" }) : h("input", { id: inputId, ...attrs, autocomplete: "off", placeholder: "not set" });
    const error = h("span", { class: "field-error", id: `${inputId}-error`, "aria-live": "polite" });
    input.setAttribute("aria-describedby", error.id);
    inputs[key] = input;
    errors[key] = error;
    return h("div", {}, h("label", { for: inputId }, label), input, error);
  });
  const status = h("span", { class: "muted small", role: "status" });
  const editable = can("admin");
  const form = h("form", { class: "card", id, novalidate: true, onsubmit: async (e) => {
    e.preventDefault();
    const values = {};
    let bad = false;
    for (const [key, , , check] of FIELDS) {
      const raw = inputs[key].value.trim();
      errors[key].textContent = "";
      inputs[key].removeAttribute("aria-invalid");
      if (!raw) { values[key] = null; continue; }
      const problem = check(raw);
      if (problem) { errors[key].textContent = `${key} ${problem}`; inputs[key].setAttribute("aria-invalid", "true"); bad = true; continue; }
      values[key] = key === "stop" ? raw.split("\n").map((s) => s.trim()).filter(Boolean) : key === "keep_alive" ? (/^-?\d+$/.test(raw) ? Number(raw) : raw) : Number(raw);
    }
    if (bad) { status.textContent = "Fix the fields in red."; return; }
    try {
      await save(values);
      status.textContent = `Saved ${new Date().toLocaleTimeString()}`;
      toast(`${title} saved`, "ok");
    } catch (err) {
      // The server names each bad field: "invalid fields: top_k: must be …; seed: …".
      const fields = err.message.replace(/^invalid fields:\s*/, "").split(/;\s*/).map((part) => part.match(/^(\w+): (.*)$/)).filter(Boolean);
      let first = null;
      for (const [, field, why] of fields) {
        if (!errors[field]) continue;
        errors[field].textContent = `${field} ${why}`;
        inputs[field].setAttribute("aria-invalid", "true");
        first ??= inputs[field];
      }
      first?.focus();
      status.textContent = first ? "The server refused the fields in red." : err.message;
    }
  } },
    h("h3", {}, title), h("div", { class: "form-grid" }, cells),
    editable ? h("div", { class: "actions" }, status, h("button", { type: "submit" }, "Save")) : h("p", { class: "muted small" }, "Only an admin can change defaults."));
  if (!editable) for (const input of Object.values(inputs)) input.disabled = true;
  form.fill = (values = {}) => {
    for (const [key] of FIELDS) {
      const v = values?.[key];
      inputs[key].value = v == null ? "" : Array.isArray(v) ? v.join("\n") : String(v);
      errors[key].textContent = "";
      inputs[key].removeAttribute("aria-invalid");
    }
  };
  load().then((v) => form.fill(v)).catch((e) => { status.textContent = `Cannot load: ${e.message}`; });
  return form;
}

function defaultsSection(root) {
  const settings = read("settings");
  const global = defaultsForm("defaults-global", "Defaults for every model",
    async () => (await settings).global,
    (values) => api(ROUTES.global, { method: "PUT", body: values }));
  const picker = h("select", { id: "defaults-model", "aria-label": "Model", style: "max-width:22rem" }, h("option", { value: "" }, "Choose a model…"));
  const perModelBox = h("div");
  picker.addEventListener("change", () => {
    const name = picker.value;
    if (!name) { perModelBox.replaceChildren(); return; }
    perModelBox.replaceChildren(defaultsForm("defaults-model-form", `Defaults for ${name}`,
      async () => (await read("settings")).models[name] ?? {},
      (values) => api(ROUTES.modelDefaults(name), { method: "PUT", body: values })));
  });
  read("installed").then((a) => picker.append(...a.models.map((m) => h("option", { value: m.name }, m.name)))).catch(() => {});
  const deployment = h("details", { class: "card", style: "margin-top:1rem" }, h("summary", {}, "Deployment settings (from the config file and environment, read-only here)"), h("dl", { class: "kv", id: "deployment" }));
  settings.then((s) => deployment.querySelector("dl").replaceChildren(...Object.entries(s.deployment.values).flatMap(([k, v]) => [h("dt", { class: "mono" }, k), h("dd", { class: "mono" }, v == null ? "–" : String(v))]))).catch(() => deployment.remove());
  root.append(h("h2", {}, "Generation defaults"),
    h("p", { class: "muted" }, "Applied to chat and API requests that leave a setting out. A model's own defaults win over the global ones; a request's own values win over both."),
    global, h("div", { class: "toolbar", style: "margin-top:1rem" }, h("label", { for: "defaults-model", style: "margin:0" }, "Per model"), picker), perModelBox, deployment);
}

// ---- API keys ----------------------------------------------------------------------------

function keysSection(root) {
  root.append(h("h2", {}, "API keys"));
  if (!can("admin")) { root.append(h("p", { class: "empty" }, "Managing API keys needs an admin key.")); return; }
  const body = h("tbody");
  const name = h("input", { id: "key-name", placeholder: "e.g. grafana, ci, alice", required: true, pattern: "[A-Za-z0-9._@-]{1,64}", autocomplete: "off" });
  const role = h("select", { id: "key-role" }, ["user", "viewer", "admin"].map((r) => h("option", { value: r }, r)));
  const error = h("span", { class: "field-error", role: "alert" });
  const secretBox = h("div", { id: "new-key" });
  const form = h("form", { class: "card", id: "key-form", onsubmit: async (e) => {
    e.preventDefault();
    error.textContent = "";
    try {
      const created = await api(ROUTES.keys, { method: "POST", body: { name: name.value.trim(), role: role.value } });
      const copy = h("button", { type: "button", class: "ghost small", onclick: async () => { copy.textContent = (await copyText(created.key)) ? "Copied" : "Copy failed"; } }, "Copy");
      secretBox.replaceChildren(h("div", { class: "warning" }, h("p", { style: "margin:.2rem 0" }, `Key “${created.name}” (${created.role}) created. Copy it now: it is not shown again.`),
        h("div", { style: "display:flex;gap:.5rem;align-items:center" }, h("code", { class: "secret", id: "new-key-secret" }, created.key), copy)));
      name.value = "";
      load();
    } catch (err) { error.textContent = err.message; }
  } },
    h("div", { class: "form-grid" }, h("div", {}, h("label", { for: "key-name" }, "Name"), name), h("div", {}, h("label", { for: "key-role" }, "Role"), role),
      h("div", { style: "display:flex;align-items:end" }, h("button", { type: "submit" }, "Create key"))),
    error,
    h("p", { class: "muted small" }, "viewer: read-only · user: chat and generate, sees its own traces · admin: everything."));
  root.append(form, secretBox, h("div", { class: "table-wrap", style: "margin-top:1rem" }, cardTable({ "aria-label": "API keys" }, ["Name", "Role", "Created", ""], body)));
  async function load() {
    try {
      const { keys } = await read("keys");
      body.replaceChildren(...(keys.length ? keys.map((k) => h("tr", { "data-key": k.name },
        h("td", {}, k.name), h("td", {}, h("span", { class: `role role-${k.role}` }, k.role)), h("td", { title: localTime(k.created_at) }, relative(new Date(k.created_at).toISOString())),
        h("td", { class: "actions-cell" }, h("button", { type: "button", class: "danger ghost small", "data-action": "delete", onclick: () => revoke(k.name) }, "Revoke"))))
        : [h("tr", {}, h("td", { colspan: "4", class: "muted" }, "No API key yet. The token from AUTH_TOKEN (admin) always works."))]));
    } catch (e) { body.replaceChildren(h("tr", {}, h("td", { colspan: "4", class: "error" }, e.message))); }
  }
  async function revoke(keyName) {
    if (!(await confirmAction(`Revoke “${keyName}”?`, "Anything using this key stops working at once.", "Revoke"))) return;
    try { await api(ROUTES.key(keyName), { method: "DELETE" }); toast(`Key ${keyName} revoked`, "ok"); load(); } catch (e) { toast(e.message, "error"); }
  }
  load();
}

// ---- plugins -----------------------------------------------------------------------------

function pluginsSection(root, ctx) {
  const box = h("div", { id: "plugin-list" }, h("p", { class: "muted" }, "Loading…"));
  const reload = can("admin") ? h("button", { type: "button", class: "ghost small", onclick: async () => {
    try {
      const report = await read("pluginReload");
      const { failed } = report;
      toast(failed.length ? `Reloaded; ${failed.length} failed: ${failed.map((f) => f.file).join(", ")}` : `Plugins reloaded (${report.loaded.length} loaded)`, failed.length ? "error" : "ok");
      load();
    } catch (e) { toast(e.message, "error"); }
  } }, "Reload plugins") : null;
  root.append(h("div", { class: "toolbar", style: "margin-top:1.6rem" }, h("h2", { style: "margin:0" }, "Plugins"), reload), box);
  const tone = { active: "ok", degraded: "warn" };
  async function load() {
    try {
      const { dir, plugins } = await read("plugins");
      if (!plugins.length) { box.replaceChildren(h("p", { class: "empty" }, `No plugin in ${dir}. Drop a .wasm plugin there; it loads within seconds.`)); return; }
      box.replaceChildren(h("p", { class: "muted small" }, "From ", h("span", { class: "mono" }, dir)), h("div", { class: "table-wrap" }, cardTable({ "aria-label": "Plugins" },
        ["Plugin", "Provides", "State", "Calls", "Failures", "p50 / p99", "Limits", "Last error"],
        h("tbody", {}, plugins.map((p) => h("tr", { "data-plugin": p.name },
          h("td", {}, h("strong", {}, p.name), p.version ? h("span", { class: "muted small" }, ` ${p.version}`) : null,
            p.description ? h("div", { class: "muted small" }, p.description) : null, h("div", { class: "muted small mono" }, p.file)),
          h("td", {}, p.provides.join(", ") || "–"),
          h("td", {}, h("span", { class: `status ${tone[p.state] || "bad"}` }, p.state)),
          h("td", { class: "num" }, number(p.calls)),
          h("td", { class: "num", title: `timeouts ${p.timeouts} · traps ${p.traps} · malformed ${p.malformed}` }, number(p.failures)),
          h("td", { class: "num" }, p.p50_us != null ? `${number(p.p50_us)} / ${number(p.p99_us)} µs` : "–"),
          h("td", { class: "muted small" }, p.fuel ? `${p.memory_mib} MiB · ${number(p.fuel / 1e6)}M fuel${p.fresh_instance ? " · fresh" : ""}` : "–"),
          h("td", { class: "small" }, p.last_error || "–")))))));
    } catch (e) {
      box.replaceChildren(h("p", { class: "empty" }, `Cannot list plugins: ${e.message}`));
    }
  }
  load();
  return ctx?.onEvent((event) => { if (event.type === "plugins_changed") load(); });
}
