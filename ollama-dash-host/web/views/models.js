// Models: installed (details drawer, start/stop/copy/delete), the catalogue with pulls as jobs
// (live progress, cancel, resume), and the upload zone (tus, resumable) through to the import.

import { api, can } from "../api.js";
import { check, read } from "../contract.js";
import { bytes, duration, h, localTime, percent, rate, relative, setText } from "../format.js";
import { capabilityBadges, cardTable, confirmAction, drawer, progressBar, promptText, toast, transferMeter } from "../ui.js";
import { TusUpload, fingerprint, forgetUpload, rememberedUploads } from "../tus.js";

/** The routes this view posts to; what it reads is declared in contract.js. */
const ROUTES = {
  start: "/api/models/start",
  stop: "/api/models/stop",
  remove: (name, nodes) => `/api/models?name=${encodeURIComponent(name)}${nodes ? `&nodes=${encodeURIComponent(nodes === "all" ? "all" : nodes.join(","))}` : ""}`,
  copy: "/api/models/copy",
  pull: "/api/models/pull",
  cancel: (id) => `/api/jobs/${encodeURIComponent(id)}/cancel`,
  resume: (id) => `/api/jobs/${encodeURIComponent(id)}/resume`,
  uploads: "/v1/uploads",
  importStart: "/v1/models/import",
};

const TABS = [["installed", "Installed"], ["catalogue", "Catalogue"], ["upload", "Upload"]];

export function mount(root, ctx, params) {
  let tab = TABS.some(([id]) => id === params[0]) ? params[0] : "installed";
  const tabButtons = TABS.map(([id, label]) => h("button", { type: "button", "data-tab": id, "aria-pressed": String(id === tab), onclick: () => { location.hash = `#/models/${id}`; } }, label));
  const jobsBox = h("div", { class: "jobs", id: "jobs", "aria-live": "polite" });
  const panels = { installed: h("section", { id: "installed" }), catalogue: h("section", { id: "catalogue" }), upload: h("section", { id: "upload" }) };
  root.append(
    h("div", { class: "toolbar" }, h("h1", { style: "margin:0" }, "Models"), h("span", { class: "spacer" }), h("div", { class: "tabs", role: "group", "aria-label": "Model views" }, tabButtons)),
    jobsBox, ...Object.values(panels));

  const state = { installed: [], running: new Map(), jobs: new Map(), category: "best", catalogue: [], imports: new Map(), failed: new Map(), filter: "", nodes: [], target: "all" };

  // ---- nodes (a fleet of several: which node holds what, and where an action runs) ----------
  // With one node nothing shows and actions name none. With several, the target picker says
  // where pull, start, stop and delete run: one node, or "every node" (start and delete then
  // act on the nodes that hold the model, pull on all, stop wherever it is loaded).
  const targetPicker = h("select", { id: "node-target", "aria-label": "Run actions on", onchange: () => { state.target = targetPicker.value; } });
  const targetBox = h("label", { class: "toolbar", id: "node-target-box", hidden: true, style: "margin:0;gap:.4rem" }, "On", targetPicker);
  root.querySelector(".toolbar .spacer").after(targetBox);
  function fleet() { return state.nodes.length > 1; }
  /** The `nodes` an action on `model` sends: none with one node; else the picked node, or all. */
  function nodesFor(action, model) {
    if (!fleet()) return {};
    if (state.target !== "all") return { nodes: [state.target] };
    if (action === "stop") return {};
    if (action === "pull") return { nodes: "all" };
    return { nodes: model.nodes.length ? model.nodes : "all" };
  }
  async function refreshNodes() {
    try {
      state.nodes = (await read("nodes")).nodes.map((n) => n.name);
    } catch { state.nodes = []; }
    targetBox.hidden = !fleet();
    if (fleet()) {
      const keep = state.nodes.includes(state.target) ? state.target : "all";
      targetPicker.replaceChildren(h("option", { value: "all" }, "every node"), ...state.nodes.map((n) => h("option", { value: n }, n)));
      targetPicker.value = keep;
      state.target = keep;
    }
    renderInstalled();
  }
  /** A model's nodes as chips, the ones it is loaded on marked. */
  function nodeChips(m) {
    const loadedOn = state.running.get(m.name) ?? [];
    return h("div", { class: "badges node-chips" }, m.nodes.map((n) => {
      const loaded = loadedOn.includes(n);
      return h("span", { class: "badge", "data-node": n, "data-loaded": String(loaded), style: loaded ? "color:var(--ok);border-color:var(--ok)" : null, title: loaded ? `loaded on ${n}` : `installed on ${n}` }, n);
    }));
  }

  // ---- jobs (pulls and other long actions) ------------------------------------------------
  const jobRows = new Map();
  function renderJob(job) {
    state.jobs.set(job.id, job);
    let row = jobRows.get(job.id);
    if (!row) {
      const bar = progressBar(`${job.kind} ${job.model}`);
      const title = h("div", { class: "title" });
      const meta = h("div", { class: "meta" });
      const buttons = h("div", { class: "actions", style: "margin:0" });
      row = { el: h("div", { class: "card job", "data-job": job.id, "data-model": job.model }, h("div", {}, title, bar, meta), buttons), bar, title, meta, buttons, meter: transferMeter() };
      jobRows.set(job.id, row);
      jobsBox.prepend(row.el);
    }
    const { completed: done, total } = job.progress;
    const st = job.state;
    const { speed, eta } = row.meter.update(done, total);
    setText(row.title, `${verb(job.kind, isDone(st))} ${job.model}${job.node && fleet() ? ` on ${job.node}` : ""}`);
    row.el.dataset.state = st;
    row.bar.set(total ? done / total : st === "done" ? 1 : null);
    row.bar.className = `bar ${st === "failed" ? "bad" : isDone(st) ? "ok" : ""}`;
    const sp = job.progress.bytes_per_sec ?? speed;
    const left = job.progress.eta_secs ?? eta;
    const parts = [stateWords(st, job)];
    if (total && !isFinal(st)) parts.push(`${bytes(done)} of ${bytes(total)} (${percent(done, total)}%)`, rate(sp), left != null ? `${duration(left)} left` : null);
    else if (total && isDone(st)) parts.push(bytes(total));
    if (job.progress.status && !isFinal(st)) parts.push(job.progress.status);
    setText(row.meta, parts.filter(Boolean).join(" · "));
    const buttons = [];
    if (!isFinal(st) && can("admin")) buttons.push(h("button", { type: "button", class: "ghost small", onclick: () => jobAction(ROUTES.cancel(job.id), "Cancelled", (answer) => answer) }, "Cancel"));
    if (job.resumable && can("admin")) buttons.push(h("button", { type: "button", class: "small", onclick: () => jobAction(ROUTES.resume(job.id), "Resumed", (answer) => answer.job) }, "Resume"));
    if (isFinal(st)) buttons.push(h("button", { type: "button", class: "ghost small", "aria-label": "Dismiss", onclick: () => { row.el.remove(); jobRows.delete(job.id); } }, "Dismiss"));
    row.buttons.replaceChildren(...buttons);
    if (isDone(st) && !row.announced) { row.announced = true; toast(`${verb(job.kind, true)} ${job.model}`, "ok"); refreshInstalled(); }
    // A pull that ends puts its catalogue card back to Pull, saying why when it failed.
    if (job.kind === "pull" && isFinal(st) && !row.settled) {
      row.settled = true;
      if (st === "failed") state.failed.set(job.model, job.error ? job.error.message : "the pull failed");
      renderCatalogue(state.filter);
    }
  }
  /** Cancel answers the job itself, resume `{job}` (the new job): `pick` takes it out. */
  async function jobAction(path, word, pick) {
    try { renderJob(pick(await api(path, { method: "POST" }))); toast(word, "ok"); } catch (e) { toast(e.message, "error"); }
  }
  async function refreshJobs() {
    try {
      const answer = await read("jobs");
      for (const job of answer.jobs) if (!isFinal(job.state) || job.state === "interrupted") renderJob(job);
    } catch { /* no jobs API: nothing to show */ }
  }

  // ---- installed ---------------------------------------------------------------------------
  function installedPanel() {
    const body = h("tbody");
    // On a phone each model is a card (ui.js cardTable), its values labelled with their column.
    const table = h("div", { class: "table-wrap" }, cardTable({ "aria-label": "Installed models" },
      ["Model", "Parameters", "Quantisation", "Size", "Modified", "State", ["Nodes", { class: "nodes-col", hidden: !fleet() }], ""], body));
    panels.installed.replaceChildren(table);
    panels.installed.body = body;
    renderInstalled();
  }
  function renderInstalled() {
    const body = panels.installed.body;
    if (!body) return;
    for (const th of body.closest("table")?.querySelectorAll("th.nodes-col") ?? []) th.hidden = !fleet();
    if (!state.installed.length) { body.replaceChildren(h("tr", {}, h("td", { colspan: "8", class: "muted" }, "No model installed yet. Pull one from the catalogue or upload a GGUF."))); return; }
    body.replaceChildren(...state.installed.map((m) => {
      const loaded = state.running.has(m.name);
      const actions = [h("button", { type: "button", class: "ghost small", onclick: () => details(m.name) }, "Details")];
      if (can("admin")) {
        actions.push(loaded
          ? h("button", { type: "button", class: "ghost small", onclick: (e) => lifecycle("stop", m, e.target) }, "Stop")
          : h("button", { type: "button", class: "ghost small", onclick: (e) => lifecycle("start", m, e.target) }, "Start"));
        if (fleet() && loaded) actions.push(h("button", { type: "button", class: "ghost small", onclick: (e) => lifecycle("start", m, e.target) }, "Start"));
        actions.push(h("button", { type: "button", class: "ghost small", onclick: () => copy(m.name) }, "Copy"));
        actions.push(h("button", { type: "button", class: "danger ghost small", "data-action": "delete", onclick: () => remove(m) }, "Delete"));
      }
      return h("tr", { "data-model": m.name },
        h("td", {}, h("div", { style: "font-weight:600" }, m.name), capabilityBadges(m.capabilities)),
        h("td", { class: "num" }, m.parameter_size ?? "–"), h("td", {}, m.quantization ?? "–"),
        h("td", { class: "num" }, bytes(m.size)), h("td", { title: localTime(m.modified_at) }, m.modified_at ? relative(m.modified_at) : "–"),
        h("td", {}, h("span", { class: `status ${loaded ? "ok" : ""}` }, loaded ? "loaded" : "idle")),
        h("td", { class: "nodes-col", hidden: !fleet() }, nodeChips(m)),
        h("td", { class: "actions-cell" }, actions));
    }));
  }
  async function refreshInstalled() {
    try {
      const [installed, running] = await Promise.all([read("installed"), read("running").catch(() => ({ models: [] }))]);
      state.installed = installed.models.slice().sort((a, b) => a.name.localeCompare(b.name));
      state.running = new Map(running.models.map((m) => [m.name, m.nodes]));
      renderInstalled();
      if (tab === "catalogue") renderCatalogue();
    } catch (e) {
      panels.installed.body?.replaceChildren(h("tr", {}, h("td", { colspan: "8", class: "error" }, `Cannot list models: ${e.message}`)));
    }
  }
  async function lifecycle(action, model, button) {
    const name = model.name;
    button.disabled = true;
    const label = button.textContent;
    button.textContent = action === "start" ? "Starting…" : "Stopping…";
    try {
      const answer = await api(action === "start" ? ROUTES.start : ROUTES.stop, { method: "POST", body: { model: name, ...nodesFor(action, model) } });
      if (answer?.jobs) answer.jobs.forEach(renderJob);
      else toast(answer?.was_loaded === false ? `${name} was not loaded` : `${name} stopped`, "ok");
      refreshInstalled();
    } catch (e) {
      toast(`Could not ${action} ${name}: ${e.message}`, "error");
    } finally { button.disabled = false; button.textContent = label; }
  }
  async function copy(name) {
    const destination = await promptText(`Copy ${name}`, "New name", `${name.split(":")[0]}-copy:latest`, "Copy");
    if (!destination) return;
    try { await api(ROUTES.copy, { method: "POST", body: { source: name, destination } }); toast(`Copied to ${destination}`, "ok"); refreshInstalled(); }
    catch (e) { toast(`Could not copy: ${e.message}`, "error"); }
  }
  async function remove(model) {
    const name = model.name;
    const { nodes } = nodesFor("delete", model);
    const where = nodes ? ` from ${nodes === "all" ? "every node" : nodes.join(", ")}` : "";
    if (!(await confirmAction(`Delete ${name}${where}?`, "Its files are removed from Ollama (unloaded first). Pull or upload it again to get it back."))) return;
    try {
      const answer = await api(ROUTES.remove(name, nodes), { method: "DELETE" });
      if (answer?.jobs) answer.jobs.forEach(renderJob);
      refreshInstalled();
    } catch (e) { toast(`Could not delete ${name}: ${e.message}`, "error"); }
  }
  let openDrawer = null;
  async function details(name) {
    openDrawer?.close();
    const d = drawer(name);
    openDrawer = d;
    d.dialog.addEventListener("close", () => { if (openDrawer === d) openDrawer = null; });
    const { body } = d;
    body.append(h("p", { class: "muted" }, "Loading…"));
    try {
      const shown = await read("show", {}, `name=${encodeURIComponent(name)}`);
      const d = shown.details;
      const info = shown.model_info;
      body.replaceChildren(h("div", {},
        capabilityBadges(shown.capabilities),
        h("dl", { class: "kv" }, [
          ["Family", [d.family, ...(d.families ?? []).filter((f) => f !== d.family)].filter(Boolean).join(", ")],
          ["Parameters", d.parameter_size], ["Quantisation", d.quantization_level], ["Format", d.format],
          ["Context length", shown.context_length],
          ["Vision projector", shown.has_projector ? "yes" : null],
          ["Modified", shown.modified_at && localTime(shown.modified_at)],
        ].filter(([, v]) => v != null && v !== "").map(([k, v]) => [h("dt", {}, k), h("dd", {}, String(v))])),
        shown.parameters ? [h("h3", {}, "Parameters"), h("pre", { class: "block" }, shown.parameters)] : null,
        shown.system ? [h("h3", {}, "System prompt"), h("pre", { class: "block" }, shown.system)] : null,
        h("h3", {}, "Template"), h("pre", { class: "block" }, shown.template ?? "(none)"),
        h("h3", {}, "Model info"),
        h("dl", { class: "kv" }, Object.entries(info).sort().map(([k, v]) => [h("dt", { class: "mono" }, k), h("dd", { class: "mono" }, Array.isArray(v) ? `[${v.length} items]` : String(v))])),
        shown.license ? [h("h3", {}, "License"), h("pre", { class: "block" }, shown.license)] : null,
      ));
    } catch (e) { body.replaceChildren(h("p", { class: "error" }, `Cannot show ${name}: ${e.message}`)); }
  }

  // ---- catalogue ---------------------------------------------------------------------------
  function cataloguePanel() {
    const toggle = [["best", "Recommended"], ["all", "All"]].map(([id, label]) => h("button", { type: "button", "aria-pressed": String(state.category === id), onclick: () => { state.category = id; cataloguePanel(); } }, label));
    const filter = h("input", { type: "search", placeholder: "Filter by name or capability", "aria-label": "Filter the catalogue", style: "max-width:20rem", value: state.filter, oninput: () => { state.filter = filter.value; renderCatalogue(filter.value); } });
    const grid = h("div", { class: "grid wide", id: "catalogue-grid" }, h("p", { class: "empty" }, "Loading the catalogue…"));
    // Any name Ollama can pull, not only the catalogue's: `qwen3:14b`, `hf.co/org/repo:Q4_K_M`.
    const anyName = h("input", { id: "pull-name", placeholder: "any name, e.g. hf.co/org/repo:Q4_K_M", autocomplete: "off", spellcheck: "false", "aria-label": "Model to pull", style: "max-width:22rem" });
    const pullAny = can("admin") ? h("form", { class: "toolbar", id: "pull-any", style: "margin:.2rem 0 .8rem", onsubmit: (e) => {
      e.preventDefault();
      const name = anyName.value.trim();
      if (name) pull(name, pullAnyButton).then(() => { anyName.value = ""; });
    } }, h("label", { for: "pull-name", style: "margin:0" }, "Pull by name"), anyName, h("button", { type: "submit", class: "small" }, "Pull")) : null;
    const pullAnyButton = pullAny?.querySelector("button");
    panels.catalogue.replaceChildren(h("div", { class: "toolbar" }, h("div", { class: "tabs", role: "group", "aria-label": "Catalogue" }, toggle), filter), pullAny, grid);
    panels.catalogue.grid = grid;
    read("catalogue", {}, `category=${state.category}`).then((answer) => { state.catalogue = answer.models; renderCatalogue(); })
      .catch((e) => grid.replaceChildren(h("p", { class: "error" }, `Cannot load the catalogue: ${e.message}`)));
  }
  function renderCatalogue(filterText = "") {
    const grid = panels.catalogue.grid;
    if (!grid) return;
    const installed = new Set(state.installed.map((m) => m.name));
    const needle = filterText.trim().toLowerCase();
    const items = state.catalogue.filter((m) => !needle || `${m.name} ${m.description} ${m.capabilities.join(" ")}`.toLowerCase().includes(needle));
    if (!items.length) { grid.replaceChildren(h("p", { class: "empty" }, "Nothing matches.")); return; }
    grid.replaceChildren(...items.map((m) => {
      const has = m.installed || installed.has(m.name);
      const pulling = [...state.jobs.values()].some((j) => j.model === m.name && !isFinal(j.state));
      return h("section", { class: "card", "data-model": m.name },
        h("div", { class: "row" }, h("strong", {}, m.name), h("span", { class: "muted small num" }, m.size_bytes ? bytes(m.size_bytes) : "")),
        capabilityBadges(m.capabilities),
        m.description ? h("p", { class: "muted small", style: "margin:.3rem 0" }, m.description) : null,
        !has && !pulling && state.failed.has(m.name) ? h("p", { class: "error small pull-error" }, `Pull failed: ${state.failed.get(m.name)}`) : null,
        h("div", { class: "actions" }, has ? h("span", { class: "status ok" }, "installed")
          : can("admin") ? h("button", { type: "button", class: "small", disabled: pulling, "data-action": "pull", onclick: (e) => pull(m.name, e.target) }, pulling ? "Pulling…" : "Pull") : null));
    }));
  }
  async function pull(name, button) {
    button.disabled = true;
    button.textContent = "Pulling…";
    state.failed.delete(name);
    try {
      const answer = await api(ROUTES.pull, { method: "POST", body: { model: name, ...nodesFor("pull") } });
      answer.jobs.forEach(renderJob);
      if (button.form) { button.disabled = false; button.textContent = "Pull"; }
    } catch (e) {
      toast(`Could not pull ${name}: ${e.message}`, "error");
      button.disabled = false;
      button.textContent = "Pull";
    }
  }

  // ---- upload ------------------------------------------------------------------------------
  const uploads = new Map(); // fingerprint -> row
  function uploadPanel() {
    if (!can("admin")) { panels.upload.replaceChildren(h("p", { class: "empty" }, "Uploading models needs an admin key.")); return; }
    const input = h("input", { type: "file", id: "upload-input", multiple: true, class: "visually-hidden", accept: ".gguf,.zip,.safetensors,application/octet-stream", onchange: () => { addFiles([...input.files]); input.value = ""; } });
    const zone = h("div", { class: "dropzone", id: "dropzone", tabindex: "0", role: "button", "aria-label": "Drop model files here or press Enter to choose files",
      onkeydown: (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); input.click(); } } },
      h("p", { style: "font-size:1.05rem;font-weight:600" }, "Drop GGUF files (or a ZIP of a model) here"),
      h("p", { class: "muted" }, "or ", h("label", { for: "upload-input", class: "file-label" }, "choose files"), ". Big files are fine: uploads resume after a dropped connection or a reload."),
      input);
    for (const type of ["dragenter", "dragover"]) zone.addEventListener(type, (e) => { e.preventDefault(); zone.classList.add("over"); });
    for (const type of ["dragleave", "drop"]) zone.addEventListener(type, () => zone.classList.remove("over"));
    zone.addEventListener("drop", (e) => { e.preventDefault(); addFiles([...(e.dataTransfer?.files || [])]); });
    const nameInput = h("input", { id: "upload-name", placeholder: "named from the file, e.g. llama-3-8b:q4_k_m", autocomplete: "off", spellcheck: "false", style: "max-width:26rem" });
    panels.upload.nameInput = nameInput;
    const list = h("div", { class: "uploads", id: "uploads" });
    const imports = h("div", { class: "uploads", id: "imports" });
    panels.upload.replaceChildren(zone,
      h("div", { class: "toolbar", style: "margin-top:.7rem" }, h("label", { for: "upload-name", style: "margin:0" }, "Import the next file as"), nameInput,
        h("span", { class: "muted small" }, "(optional; with several files, each is named from its file)")),
      list, h("h2", {}, "Imports"), imports);
    panels.upload.list = list;
    panels.upload.imports = imports;
    for (const row of uploads.values()) list.append(row.el);
    renderRemembered();
    refreshImports();
  }
  /** `Llama-3-8B.Q4_K_M.gguf` → `llama-3-8b:q4_k_m`; without a quantisation suffix, no tag. */
  function defaultModelName(file) {
    const clean = (text) => text.toLowerCase().replace(/[^a-z0-9._-]+/g, "-").replace(/^[-.]+|[-.]+$/g, "").slice(0, 60);
    const base = file.name.replace(/\.(gguf|zip|safetensors)$/i, "");
    const quant = base.match(/^(.*?)[.-]((?:i?q\d[\w]*)|f16|f32|bf16)$/i);
    return quant && clean(quant[1]) ? `${clean(quant[1])}:${clean(quant[2])}` : clean(base) || "uploaded-model";
  }
  function renderRemembered() {
    const list = panels.upload.list;
    if (!list) return;
    for (const [fp, entry] of Object.entries(rememberedUploads())) {
      if (uploads.has(fp)) continue;
      const row = uploadRow({ name: entry.name, size: entry.size }, entry.model);
      row.fp = fp;
      row.el.dataset.state = "interrupted";
      setText(row.meta, "Interrupted. Drop or choose the same file again to resume.");
      row.buttons.replaceChildren(h("button", { type: "button", class: "ghost small", onclick: async () => {
        forgetUpload(fp);
        if (entry.url) await fetchDelete(entry.url);
        row.el.remove(); uploads.delete(fp);
      } }, "Discard"));
      uploads.set(fp, row);
      list.append(row.el);
      api(entry.url.replace(/^\/v1\/uploads/, ROUTES.uploads)).then((info) => {
        row.bar.set(info.length ? info.offset / info.length : 0);
        setText(row.meta, `Interrupted at ${bytes(info.offset)} of ${bytes(info.length)} (${percent(info.offset, info.length)}%). Drop or choose the same file again to resume.`);
      }).catch(() => setText(row.meta, "Interrupted; the server no longer has it. Drop the file again to start over."));
    }
  }
  async function fetchDelete(url) {
    try { await new TusUpload(new File([], "x")).request("DELETE", url); } catch { /* already gone */ }
  }
  function uploadRow(file, model) {
    const bar = progressBar(`Upload of ${file.name}`);
    const title = h("div", { class: "title" }, h("strong", {}, file.name), h("span", { class: "muted small" }, ` → ${model} · ${bytes(file.size)}`));
    const meta = h("div", { class: "meta" }, "Waiting…");
    const buttons = h("div", { class: "actions", style: "margin:0" });
    const el = h("div", { class: "card job upload", "data-file": file.name, "data-model": model }, h("div", {}, title, bar, meta), buttons);
    return { el, bar, meta, buttons, model };
  }
  function addFiles(files) {
    const chosen = files.length === 1 ? panels.upload.nameInput?.value.trim() : "";
    if (chosen && panels.upload.nameInput) panels.upload.nameInput.value = "";
    for (const file of files) {
      const fp = fingerprint(file);
      const remembered = rememberedUploads()[fp];
      let row = uploads.get(fp);
      if (row?.upload && !row.upload.done) { row.upload.start(); continue; }
      const model = remembered?.model || chosen || defaultModelName(file);
      if (row) row.el.remove();
      row = uploadRow(file, model);
      row.fp = fp;
      uploads.set(fp, row);
      panels.upload.list?.prepend(row.el);
      startUpload(file, row);
    }
  }
  function startUpload(file, row) {
    const meter = transferMeter();
    const pauseButton = h("button", { type: "button", class: "ghost small", onclick: () => {
      if (upload.paused) { upload.start(); pauseButton.textContent = "Pause"; row.el.dataset.state = "uploading"; }
      else { upload.pause(); meter.reset(); pauseButton.textContent = "Resume"; row.el.dataset.state = "paused"; setText(row.meta, `Paused at ${bytes(upload.offset)} of ${bytes(file.size)}`); }
    } }, "Pause");
    const cancelButton = h("button", { type: "button", class: "ghost small danger", onclick: async () => { await upload.abort(); row.el.remove(); uploads.delete(row.fp); } }, "Cancel");
    row.buttons.replaceChildren(pauseButton, cancelButton);
    row.el.dataset.state = "uploading";
    const upload = new TusUpload(file, {
      endpoint: ROUTES.uploads,
      // In a fleet, the model is created on the node picked ("every node": all of them).
      metadata: { model: row.model, ...(fleet() ? { nodes: state.target } : {}) },
      onResume: (offset) => toast(`Resuming ${file.name} at ${bytes(offset)}`),
      onProgress: (sent, total) => {
        if (upload.paused) return;
        const { speed, eta } = meter.update(sent, total);
        row.bar.set(total ? sent / total : 1);
        setText(row.meta, `${bytes(sent)} of ${bytes(total)} (${percent(sent, total)}%) · ${rate(speed)}${eta != null ? ` · ${duration(eta)} left` : ""}`);
      },
      onSuccess: (url) => {
        row.el.dataset.state = "uploaded";
        row.bar.set(1);
        row.bar.className = "bar ok";
        setText(row.meta, `Uploaded ${bytes(file.size)}. Importing as ${row.model}…`);
        row.buttons.replaceChildren();
        row.uploadId = url.split("/").pop();
        followImport(row);
      },
      onError: (error) => {
        row.el.dataset.state = "failed";
        row.bar.className = "bar bad";
        setText(row.meta, `Upload failed: ${error.message}`);
        pauseButton.textContent = "Retry";
      },
    });
    row.upload = upload;
    upload.start();
  }
  async function followImport(row) {
    try {
      const all = await read("imports");
      const found = all.imports.find((i) => i.upload_id === row.uploadId);
      if (found) renderImport(found);
      else renderImport(check("import", await api(ROUTES.importStart, { method: "POST", body: { upload_id: row.uploadId, name: row.model } })));
    } catch (e) { setText(row.meta, `Import could not start: ${e.message}`); row.el.dataset.state = "failed"; }
  }
  const importRows = new Map();
  /** Draws an import; `listed`: read from the list on opening, so one already ready is no news. */
  function renderImport(info, listed = false) {
    state.imports.set(info.id, info);
    const box = panels.upload.imports;
    if (!box) return;
    let row = importRows.get(info.id);
    if (!row) {
      const bar = progressBar(`Import of ${info.name}`);
      const meta = h("div", { class: "meta" });
      row = { el: h("div", { class: "card job import", "data-import": info.id, "data-model": info.name }, h("div", {}, h("div", { class: "title" }, h("strong", {}, info.name), h("span", { class: "muted small" }, ` · ${localTime(info.created_at)}`)), bar, meta), h("div")), bar, meta,
        announced: listed && info.state === "ready" };
      importRows.set(info.id, row);
      box.querySelector(".empty")?.remove();
      box.prepend(row.el);
    }
    row.el.dataset.state = info.state;
    // `progress` is null until Ollama's first status line; its byte counts only on lines that have them.
    const p = info.progress;
    row.bar.set(info.state === "ready" ? 1 : p?.total && p.completed !== undefined ? p.completed / p.total : info.state === "failed" ? 1 : null);
    row.bar.className = `bar ${info.state === "failed" ? "bad" : info.state === "ready" ? "ok" : ""}`;
    const words = { uploading: "Waiting for the upload", uploaded: "Uploaded, waiting for a turn", validating: "Checking the file", importing: "Importing into Ollama", ready: "Ready: the model is installed", failed: "Failed" };
    const report = info.report ? [info.report.architecture, info.report.parameter_count && `${paramCount(info.report.parameter_count)} parameters`, info.report.quantization].filter(Boolean).join(" · ") : "";
    setText(row.meta, [words[info.state] || info.state, info.state === "failed" ? info.error : p?.status, report].filter(Boolean).join(" · "));
    for (const up of uploads.values()) if (up.uploadId === info.upload_id) {
      up.el.dataset.state = info.state === "ready" ? "imported" : info.state === "failed" ? "failed" : "uploaded";
      up.bar.className = `bar ${info.state === "failed" ? "bad" : "ok"}`;
      setText(up.meta, info.state === "ready" ? `Uploaded and imported as ${info.name}` : info.state === "failed" ? `Import failed: ${info.error}` : `Uploaded · ${words[info.state]}`);
    }
    if (info.state === "ready" && !row.announced) { row.announced = true; toast(`${info.name} is ready`, "ok"); refreshInstalled(); }
    // Imports move on the event stream; while it is down, look every second instead.
    clearTimeout(row.poll);
    if (info.state !== "ready" && info.state !== "failed") {
      row.poll = setTimeout(function again() {
        if (!row.el.isConnected) return;
        if (ctx.connected || document.hidden) { row.poll = setTimeout(again, 1000); return; }
        read("import", { import: info.id }).then(renderImport).catch(() => { row.poll = setTimeout(again, 3000); });
      }, 1000);
    }
  }
  async function refreshImports() {
    try {
      const all = (await read("imports")).imports;
      if (!all.length && panels.upload.imports && !panels.upload.imports.children.length) panels.upload.imports.append(h("p", { class: "empty" }, "No import yet."));
      for (const info of all.slice(0, 20).reverse()) renderImport(info, true);
    } catch (e) { panels.upload.imports?.replaceChildren(h("p", { class: "error" }, `Cannot list imports: ${e.message}`)); }
  }

  // ---- wiring ------------------------------------------------------------------------------
  function show(name) {
    tab = name;
    for (const b of tabButtons) b.setAttribute("aria-pressed", String(b.dataset.tab === tab));
    for (const [id, panel] of Object.entries(panels)) panel.hidden = id !== tab;
    if (tab === "installed" && !panels.installed.body) installedPanel();
    if (tab === "catalogue" && !panels.catalogue.grid) cataloguePanel();
    if (tab === "upload" && !panels.upload.list && !panels.upload.children.length) uploadPanel();
  }
  const off = ctx.onEvent((event) => {
    if (event.type === "job") renderJob(event);
    else if (event.type === "import") renderImport(check("import", event));
    else if (event.type === "models_changed" || event.type === "running_models") refreshInstalled();
    else if (event.type === "node_changed") refreshNodes().then(refreshInstalled);
  });
  show(tab);
  refreshNodes();
  refreshInstalled();
  refreshJobs();
  // Leaving the view closes its details drawer (it would stay over the next view).
  return { unmount: () => { off(); openDrawer?.close(); }, update: (p) => show(TABS.some(([id]) => id === p[0]) ? p[0] : "installed") };
}

function verb(kind, past = false) {
  return (past ? { pull: "Pulled", start: "Started", delete: "Deleted" } : { pull: "Pulling", start: "Starting", delete: "Deleting" })[kind] ?? kind;
}
function isDone(state) { return state === "done"; }
function isFinal(state) { return ["done", "failed", "cancelled", "interrupted"].includes(state); }
function stateWords(state, job) {
  return { queued: "Queued", running: "Running", done: "Done", failed: `Failed${job.error ? `: ${job.error.message}` : ""}`, cancelled: "Cancelled", interrupted: "Interrupted (the server restarted); resume to go on" }[state] ?? state;
}

function paramCount(n) {
  return n >= 1e9 ? `${(n / 1e9).toFixed(1)} B` : n >= 1e6 ? `${(n / 1e6).toFixed(1)} M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} K` : String(n);
}
