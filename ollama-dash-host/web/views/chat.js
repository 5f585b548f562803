// Chat: sessions, a capability-aware model picker, a per-chat settings panel (system prompt,
// options, reasoning, keep-alive: stored with the session, applied to its every turn), streaming replies rendered
// as safe Markdown (code highlighted, math drawn, both loaded lazily), stop, token counts and
// tokens/s, a link to each reply's trace, and per message: copy, regenerate (the last answer),
// edit and resend (a question), and a "‹ 1/2 ›" switch between the branches an edit or a
// regenerate leaves (the server keeps every branch: `siblings`, `POST …/branch`). A chat exports
// as Markdown or JSON.

import { api, can, streamPost } from "../api.js";
import { read } from "../contract.js";
import { h, icon, localTime, ms, number, relative, setText } from "../format.js";
import { copyButton, renderMarkdown } from "../markdown.js";
import { confirmAction, promptText, toast } from "../ui.js";

const OPTION_FIELDS = [
  ["temperature", "Temperature", { min: 0, max: 2, step: 0.05 }],
  ["top_p", "Top P", { min: 0, max: 1, step: 0.01 }],
  ["top_k", "Top K", { min: 0, step: 1 }],
  ["num_ctx", "Context (num_ctx)", { min: 256, step: 256 }],
  ["num_predict", "Max tokens", { min: -1, step: 1 }],
  ["seed", "Seed", { step: 1 }],
];
const THINK = [["", "Model default"], ["true", "On"], ["false", "Off"], ["low", "Low"], ["medium", "Medium"], ["high", "High"]];
const KEEP_ALIVE = /^(-?\d+(\.\d+)?|-?(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+)$/;

export function mount(root, ctx, params) {
  const state = { sessions: [], models: [], session: null, messages: [], controller: null, images: [], saving: null };
  const list = h("ul", { class: "sessions", id: "sessions", "aria-label": "Chats" });
  const messages = h("div", { class: "messages", id: "messages", "aria-live": "polite", "aria-busy": "false" });
  const picker = h("select", { id: "chat-model", "aria-label": "Model", onchange: () => {
    const change = { model: picker.value };
    // A model without reasoning refuses `think: true`: the switch goes back to its default.
    if (!caps(currentModel()).includes("thinking") && think.value) { think.value = ""; change.think = null; }
    onModelChange();
    saveSession(change);
  } });
  const system = h("textarea", { id: "chat-system", rows: "3", placeholder: "You are a helpful assistant.", onchange: () => saveSession({ system_prompt: system.value }) });
  const think = h("select", { id: "chat-think", onchange: () => saveSession({ think: readThink() }) }, THINK.map(([value, label]) => h("option", { value }, label)));
  const thinkField = h("div", {}, h("label", { for: "chat-think" }, "Reasoning (think)"), think);
  const keepAliveError = h("span", { class: "field-error", id: "opt-keep_alive-error", role: "alert" });
  const keepAlive = h("input", { type: "text", id: "opt-keep_alive", placeholder: "default", autocomplete: "off", spellcheck: "false", "aria-describedby": "opt-keep_alive-error",
    onchange: () => { const value = readKeepAlive(); if (value !== undefined) saveSession({ keep_alive: value }); } });
  const optionInputs = Object.fromEntries(OPTION_FIELDS.map(([key, , attrs]) => [key, h("input", { type: "number", id: `opt-${key}`, ...attrs, placeholder: "default", onchange: () => saveSession({ options: readOptions() }) })]));
  const saved = h("span", { class: "muted small", id: "chat-saved", role: "status", "aria-live": "polite" });
  const settings = h("details", { id: "chat-settings", ontoggle: () => { if (settings.open) system.focus(); } }, h("summary", {}, "Chat settings"),
    h("div", { class: "settings-pop chat-panel", id: "chat-panel", role: "group", "aria-label": "This chat's settings" },
      h("p", { class: "muted small panel-note" }, "Saved with this chat and sent with its every message. Empty fields use the defaults from Settings."),
      h("label", { for: "chat-system" }, "System prompt"), system,
      h("div", { class: "panel-grid" }, OPTION_FIELDS.map(([key, label]) => h("div", {}, h("label", { for: `opt-${key}` }, label), optionInputs[key])),
        h("div", {}, h("label", { for: "opt-keep_alive" }, "Keep alive (5m, 1h, -1)"), keepAlive, keepAliveError), thinkField),
      h("div", { class: "panel-actions" }, saved, h("span", { style: "flex:1" }),
        h("button", { type: "button", class: "ghost small", id: "chat-reset", onclick: () => resetSettings() }, "Reset to defaults"),
        h("button", { type: "button", class: "small", id: "chat-settings-done", onclick: () => { settings.open = false; input.focus(); } }, "Done"))));
  const modelInfo = h("span", { class: "muted small", id: "model-info" });
  const exportMenu = h("details", { id: "chat-export", hidden: true }, h("summary", {}, "Export"),
    h("div", { class: "settings-pop export-pop" },
      h("button", { type: "button", class: "ghost", id: "export-md", onclick: () => exportChat("md") }, "Markdown (.md)"),
      h("button", { type: "button", class: "ghost", id: "export-json", onclick: () => exportChat("json") }, "JSON (.json)")));
  const input = h("textarea", { id: "chat-input", rows: "2", placeholder: "Send a message (Enter to send, Shift+Enter for a new line)", "aria-label": "Message",
    onkeydown: (e) => { if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); send(); } } });
  const imageInput = h("input", { type: "file", accept: "image/*", multiple: true, id: "chat-image", class: "visually-hidden", onchange: () => attach([...imageInput.files]) });
  const attachLabel = h("label", { for: "chat-image", class: "file-label", id: "attach-label", style: "font-weight:500" }, "Attach image");
  const attachments = h("span", { class: "attachments" });
  const sendButton = h("button", { type: "button", id: "send", onclick: () => send() }, "Send");
  const stopButton = h("button", { type: "button", id: "stop", class: "danger", hidden: true, onclick: () => state.controller?.abort() }, "Stop");
  const composer = h("div", { class: "composer" }, input, h("div", { style: "display:flex;gap:.4rem" }, sendButton, stopButton),
    h("div", { class: "attach-row" }, imageInput, attachLabel, attachments));

  const chatsToggle = h("button", { type: "button", class: "ghost small chats-toggle", id: "chats-toggle", "aria-expanded": "false", "aria-controls": "chat-sessions",
    onclick: () => showSessions(chatsToggle.getAttribute("aria-expanded") !== "true") }, "Chats");
  const layout = h("div", { class: "chat" },
    h("aside", { "aria-label": "Chat sessions", id: "chat-sessions" }, h("button", { type: "button", class: "new", id: "new-chat", onclick: () => { showSessions(false); location.hash = "#/chat"; } }, "+ New chat"), list),
    h("section", { class: "conversation", "aria-label": "Conversation" },
      h("div", { class: "conv-head" }, chatsToggle, h("label", { for: "chat-model", class: "visually-hidden" }, "Model"), picker, modelInfo, h("span", { class: "head-gap" }), exportMenu, settings),
      messages, composer));
  root.append(h("h1", { class: "visually-hidden" }, "Chat"), layout);
  settings.addEventListener("keydown", (e) => { if (e.key === "Escape" && settings.open) { e.preventDefault(); settings.open = false; settings.querySelector("summary").focus(); } });
  // On a phone the chat is as tall as the screen below its own top (style.css, --chat-top), so
  // the composer is on the first screen.
  const fit = () => layout.style.setProperty("--chat-top", `${Math.round(layout.getBoundingClientRect().top + window.scrollY)}px`);
  requestAnimationFrame(fit);
  window.addEventListener("resize", fit);
  /** On a phone the list of chats folds away behind the "Chats" button. */
  function showSessions(on) {
    layout.classList.toggle("sessions-open", on);
    chatsToggle.setAttribute("aria-expanded", String(on));
  }

  function currentModel() { return state.models.find((m) => m.name === picker.value); }
  function caps(m) { return m ? m.capabilities.map((c) => c.name) : []; }
  function onModelChange() {
    const c = caps(currentModel());
    const vision = c.includes("vision");
    attachLabel.hidden = !vision;
    imageInput.disabled = !vision;
    if (!vision && state.images.length) { state.images = []; renderAttachments(); }
    thinkField.hidden = !c.includes("thinking");
    setText(modelInfo, c.length ? c.join(" · ") : "");
  }

  async function loadModels() {
    try {
      const answer = await read("installed");
      state.models = answer.models.filter((m) => !caps(m).length || caps(m).some((c) => c === "completion" || c === "vision")).sort((a, b) => a.name.localeCompare(b.name));
    } catch (e) { toast(`Cannot list models: ${e.message}`, "error"); }
    const previous = picker.value;
    picker.replaceChildren(...state.models.map((m) => h("option", { value: m.name }, `${m.name}${caps(m).includes("vision") ? "  · vision" : ""}`)));
    picker.value = state.session?.model || previous || localStorage.getItem("ollama-dash-chat-model") || state.models[0]?.name || "";
    if (!picker.value && state.models[0]) picker.value = state.models[0].name;
    onModelChange();
  }

  async function loadSessions() {
    try { state.sessions = (await read("sessions")).sessions; } catch (e) { toast(`Cannot list chats: ${e.message}`, "error"); }
    renderSessions();
  }
  function renderSessions() {
    if (!state.sessions.length) { list.replaceChildren(h("li", { class: "muted small", style: "padding:.5rem .7rem" }, "No chats yet.")); return; }
    list.replaceChildren(...state.sessions.map((s) => h("li", { "data-session": s.id, "aria-current": String(s.id === state.session?.id) },
      h("a", { href: `#/chat/${encodeURIComponent(s.id)}`, title: `${s.title} · ${localTime(s.updated_at)}` }, s.title || "New chat"),
      h("span", { class: "tools" },
        h("button", { type: "button", class: "ghost icon", "aria-label": `Rename ${s.title}`, title: "Rename", onclick: () => rename(s) }, icon("edit")),
        can("user") ? h("button", { type: "button", class: "ghost icon", "data-action": "delete", "aria-label": `Delete ${s.title}`, title: "Delete", onclick: () => remove(s) }, icon("trash")) : null))));
  }
  async function rename(s) {
    const title = await promptText("Rename chat", "Title", s.title, "Rename");
    if (!title) return;
    try { Object.assign(s, await api(`/api/sessions/${encodeURIComponent(s.id)}`, { method: "PATCH", body: { title } })); renderSessions(); }
    catch (e) { toast(`Could not rename: ${e.message}`, "error"); }
  }
  async function remove(s) {
    if (!(await confirmAction(`Delete “${s.title}”?`, "The chat and its messages are deleted. Its traces stay."))) return;
    try {
      await api(`/api/sessions/${encodeURIComponent(s.id)}`, { method: "DELETE" });
      state.sessions = state.sessions.filter((x) => x.id !== s.id);
      if (state.session?.id === s.id) location.hash = "#/chat"; else renderSessions();
    } catch (e) { toast(`Could not delete: ${e.message}`, "error"); }
  }
  /** Stores a change of the session's settings; the next turn waits for it. */
  function saveSession(change) {
    if (change.model) localStorage.setItem("ollama-dash-chat-model", change.model);
    if (!state.session) return;
    const id = state.session.id;
    const previous = state.saving;
    state.saving = (async () => {
      await previous;
      try {
        const session = await api(`/api/sessions/${encodeURIComponent(id)}`, { method: "PATCH", body: change });
        if (state.session?.id === id) Object.assign(state.session, session);
        setText(saved, "Saved");
      } catch (e) { setText(saved, ""); toast(`Could not save the chat settings: ${e.message}`, "error"); }
    })();
  }
  function readThink() {
    const v = think.value;
    return v === "" ? null : v === "true" ? true : v === "false" ? false : v;
  }
  /** The keep-alive typed (a string, a number of seconds, or null when empty); undefined when it is not a duration. */
  function readKeepAlive() {
    const v = keepAlive.value.trim();
    const bad = v !== "" && !KEEP_ALIVE.test(v);
    keepAliveError.textContent = bad ? "must be a duration like 30s, 5m, 2h, 0 (unload) or -1 (forever)" : "";
    keepAlive.setAttribute("aria-invalid", String(bad));
    if (bad) return undefined;
    return v === "" ? null : /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : v;
  }
  /** Shows a session's settings (none: the empty defaults) in the panel. */
  function fillSettings(s) {
    system.value = s?.system_prompt || "";
    for (const [key] of OPTION_FIELDS) optionInputs[key].value = s?.options?.[key] ?? "";
    think.value = s?.think == null ? "" : String(s.think);
    keepAlive.value = s?.keep_alive ?? "";
    keepAliveError.textContent = "";
    keepAlive.removeAttribute("aria-invalid");
    setText(saved, "");
  }
  function resetSettings() {
    fillSettings(null);
    saveSession({ system_prompt: "", options: {}, think: null, keep_alive: null });
  }
  function readOptions() {
    const options = {};
    for (const [key] of OPTION_FIELDS) {
      const v = optionInputs[key].value.trim();
      if (v !== "") options[key] = Number(v);
    }
    return options;
  }

  async function open(id) {
    state.controller?.abort();
    state.session = null;
    state.messages = [];
    exportMenu.hidden = true;
    showSessions(false);
    if (!id) {
      fillSettings(null);
      messages.replaceChildren(h("div", { class: "welcome" }, h("h2", {}, "Start a chat"), h("p", {}, "Pick a model above and send a message. Replies stream in as they are written; every reply links to its trace.")));
      renderSessions();
      input.focus();
      return;
    }
    try {
      const answer = await read("session", { session: id });
      state.session = answer.session;
      state.messages = answer.messages;
    } catch (e) {
      messages.replaceChildren(h("p", { class: "error" }, `Cannot open this chat: ${e.message}`));
      return;
    }
    const s = state.session;
    if (s.model && state.models.some((m) => m.name === s.model)) { picker.value = s.model; onModelChange(); }
    fillSettings(s);
    exportMenu.hidden = false;
    showThread();
    renderSessions();
  }

  /** Draws `state.messages` (the branch the session shows) afresh. */
  function showThread() {
    messages.replaceChildren(...state.messages.map((m) => messageView(m)));
    messages.scrollTop = messages.scrollHeight;
  }
  function views() { return [...messages.querySelectorAll("article.msg")]; }

  /**
   * After a turn: reads the branch again and gives each message on screen its stored id and
   * siblings (for edit, regenerate and the branch switch) without drawing them again, so the
   * notes of the turn ("stopped", tokens/s) stay. A reply cut off by Stop is stored as the
   * server notices the drop: then it asks again a few times.
   */
  async function syncIds(tries = 10) {
    const id = state.session?.id;
    for (let attempt = 0; attempt < tries && id; attempt++) {
      if (attempt) await new Promise((resolve) => setTimeout(resolve, 250));
      let thread;
      try { thread = (await read("session", { session: id })).messages; } catch { return; }
      if (state.session?.id !== id || state.controller) return;
      const shown = views();
      shown.forEach((view, k) => {
        const stored = thread[k];
        if (stored && stored.role === view.msg.role) Object.assign(view.msg, { id: stored.id, parent_id: stored.parent_id, siblings: stored.siblings });
      });
      state.messages = shown.map((v) => v.msg);
      shown.forEach((v) => v.tools());
      if (shown.every((v) => v.msg.id != null)) return;
    }
  }

  function messageView(m, streaming = false) {
    const body = h("div", { class: "bubble" });
    const meta = h("div", { class: "meta" });
    const tools = h("div", { class: "msg-tools" });
    const el = h("article", { class: `msg ${m.role}`, "data-role": m.role },
      h("div", { class: "who-line" }, h("span", {}, m.role === "user" ? "You" : m.model || "assistant"), m.created_at ? h("span", { title: localTime(m.created_at), style: "font-weight:400" }, relative(m.created_at)) : null),
      body, meta, tools);
    el.msg = m;
    el.tools = () => {
      const msg = el.msg;
      const items = [];
      const siblings = msg.siblings;
      if (siblings.length > 1) {
        const at = siblings.indexOf(msg.id);
        items.push(h("span", { class: "branch-switch", role: "group", "aria-label": "Versions of this message" },
          h("button", { type: "button", class: "ghost small", "data-action": "prev-branch", "aria-label": "Previous version", disabled: at <= 0 || !!state.controller, onclick: () => switchBranch(siblings[at - 1], el, "prev-branch") }, "‹"),
          h("span", { class: "num", "data-branch": `${at + 1}/${siblings.length}` }, `${at + 1}/${siblings.length}`),
          h("button", { type: "button", class: "ghost small", "data-action": "next-branch", "aria-label": "Next version", disabled: at < 0 || at >= siblings.length - 1 || !!state.controller, onclick: () => switchBranch(siblings[at + 1], el, "next-branch") }, "›")));
      }
      items.push(copyButton(() => el.msg.content || "", m.role === "user" ? "Copy message" : "Copy reply"));
      if (can("user") && msg.id != null && !state.controller) {
        if (msg.role === "user") items.push(h("button", { type: "button", class: "ghost small", "data-action": "edit", "aria-label": "Edit and resend", title: "Edit and resend", onclick: () => edit(el) }, "Edit"));
        if (msg.role === "assistant" && el === views().at(-1)) items.push(h("button", { type: "button", class: "ghost small", "data-action": "regenerate", "aria-label": "Regenerate the reply", title: "Regenerate the reply", onclick: () => regenerate() }, "Regenerate"));
      }
      tools.replaceChildren(...items);
    };
    el.render = (msg, live) => {
      if (msg.role === "user") {
        body.replaceChildren(msg.content, ...(msg.images || []).map((b64) => h("img", { src: dataUrl(b64), alt: "attached image" })));
        return;
      }
      const parts = [];
      if (msg.thinking) parts.push(h("details", { class: "thinking", open: live && !msg.content }, h("summary", {}, "Reasoning"), msg.thinking));
      parts.push(renderMarkdown(msg.content || ""));
      body.replaceChildren(...parts);
      body.classList.toggle("cursor", !!live);
    };
    el.meta = (msg, extra = {}) => {
      const items = [];
      if (msg.prompt_tokens != null || msg.completion_tokens != null) items.push(`${number(msg.prompt_tokens ?? 0)} prompt + ${number(msg.completion_tokens ?? 0)} reply tokens`);
      if (extra.tps) items.push(`${number(extra.tps, 1)} tokens/s`);
      if (extra.ttft != null) items.push(`first token ${ms(extra.ttft)}`);
      if (extra.note) items.push(extra.note);
      meta.replaceChildren(...items.map((t) => h("span", { class: "num" }, t)),
        ...(msg.trace_id ? [h("a", { href: `#/traces/${encodeURIComponent(msg.trace_id)}`, class: "trace-link" }, "View trace")] : []));
      if (msg.trace_id && !extra.tps && !extra.fetched) traceSpeed(msg, el);
    };
    el.render(m, streaming);
    if (m.role === "assistant" && !streaming) el.meta(m);
    el.tools();
    return el;
  }

  /** Shows the branch through `messageId`; the focus stays on the switch that was used. */
  async function switchBranch(messageId, view, action) {
    if (state.controller || messageId == null || !state.session) return;
    const index = views().indexOf(view);
    try {
      const answer = await api(`/api/sessions/${encodeURIComponent(state.session.id)}/branch`, { method: "POST", body: { message_id: messageId } });
      state.messages = answer.messages;
      const keep = messages.scrollTop;
      showThread();
      messages.scrollTop = keep;
      const again = views()[index];
      (again?.querySelector(`[data-action="${action}"]:not([disabled])`) || again?.querySelector(".branch-switch button:not([disabled])"))?.focus();
    } catch (e) { toast(`Could not switch the branch: ${e.message}`, "error"); }
  }

  /** Edits a question in place: Enter (or Send) sends it as a new branch, Escape cancels. */
  function edit(view) {
    if (state.controller) return;
    const bubble = view.querySelector(".bubble");
    const area = h("textarea", { class: "edit-input", rows: String(Math.min(10, (view.msg.content.match(/\n/g)?.length || 0) + 2)), "aria-label": "Edit the message" });
    area.value = view.msg.content;
    const cancel = () => { view.render(view.msg, false); view.tools(); view.querySelector('[data-action="edit"]')?.focus(); };
    const submit = () => { const text = area.value.trim(); if (text) resend(view, text); };
    area.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); submit(); }
      else if (e.key === "Escape") { e.preventDefault(); cancel(); }
    });
    bubble.replaceChildren(area, h("div", { class: "edit-actions" },
      h("button", { type: "button", class: "ghost small", onclick: cancel }, "Cancel"),
      h("button", { type: "button", class: "small", "data-action": "resend", onclick: submit }, "Send")));
    view.querySelector(".msg-tools").replaceChildren();
    area.focus();
    area.setSelectionRange(area.value.length, area.value.length);
  }

  /** Sends `content` in place of the question of `view`; the old branch stays on the server. */
  function resend(view, content) {
    const shown = views();
    for (const v of shown.slice(shown.indexOf(view))) v.remove();
    const images = view.msg.images || [];
    turn({ content, images, edit_of: view.msg.id });
  }

  /** A new answer to the last question; the old answer stays as a branch. */
  function regenerate() {
    if (state.controller || !state.session) return;
    const last = views().at(-1);
    if (last?.msg.role === "assistant") last.remove();
    turn(null);
  }

  async function exportChat(kind) {
    exportMenu.open = false;
    if (!state.session) return;
    let answer;
    try { answer = await read("session", { session: state.session.id }); }
    catch (e) { toast(`Could not export: ${e.message}`, "error"); return; }
    const { session, messages: thread } = answer;
    const base = (session.title || "chat").replace(/[^\w.-]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 60) || "chat";
    const text = kind === "json"
      ? JSON.stringify({ session, messages: thread, exported_at: new Date().toISOString() }, null, 2)
      : chatMarkdown(session, thread);
    saveFile(text, `${base}.${kind}`, kind === "json" ? "application/json" : "text/markdown");
    toast(`Exported “${session.title}” as ${kind === "json" ? "JSON" : "Markdown"}.`);
  }
  async function traceSpeed(msg, el) {
    try {
      const t = await read("trace", { trace: msg.trace_id });
      const tps = t.eval_ns && t.completion_tokens ? t.completion_tokens / (t.eval_ns / 1e9) : null;
      el.meta(msg, { tps, ttft: t.ttft_ms, fetched: true });
    } catch { /* the trace may be gone (retention): keep the counts */ }
  }

  function attach(files) {
    for (const file of files) {
      const reader = new FileReader();
      reader.onload = () => { state.images.push({ name: file.name, b64: String(reader.result).split(",")[1] }); renderAttachments(); };
      reader.readAsDataURL(file);
    }
    imageInput.value = "";
  }
  function renderAttachments() {
    attachments.replaceChildren(...state.images.map((img, i) => h("span", { style: "display:inline-flex;gap:.3rem;align-items:center" },
      h("img", { src: dataUrl(img.b64), alt: img.name }), img.name,
      h("button", { type: "button", class: "ghost icon", "aria-label": `Remove ${img.name}`, onclick: () => { state.images.splice(i, 1); renderAttachments(); } }, "✕"))));
  }

  function busy(on) {
    sendButton.hidden = on;
    stopButton.hidden = !on;
    messages.setAttribute("aria-busy", String(on));
    if (on) for (const v of views()) v.tools();
  }

  async function send() {
    const content = input.value.trim();
    if (!content || state.controller) return;
    if (!picker.value) { toast("Pick a model first.", "error"); return; }
    if (!state.session) {
      try {
        const keep = readKeepAlive();
        const created = await api("/api/sessions", { method: "POST", body: { title: content.slice(0, 60), model: picker.value, system_prompt: system.value || null, options: readOptions(), think: readThink(), keep_alive: keep ?? null } });
        state.session = created;
        state.sessions.unshift(created);
        state.messages = [];
        messages.replaceChildren();
        history.replaceState(null, "", `#/chat/${encodeURIComponent(created.id)}`);
        exportMenu.hidden = false;
        renderSessions();
      } catch (e) { toast(`Could not start a chat: ${e.message}`, "error"); return; }
    }
    input.value = "";
    const images = state.images.map((i) => i.b64);
    state.images = [];
    renderAttachments();
    await turn({ content, images });
  }

  /**
   * Streams one answer: to a new question (`ask`: content, images, and `edit_of` for an edited
   * one) or, with `ask` null, a regenerated answer to the last question.
   */
  async function turn(ask) {
    await state.settled;
    await state.saving;
    const model = picker.value;
    if (!model) { toast("Pick a model first.", "error"); return; }
    const userView = ask && messageView({ role: "user", content: ask.content, images: ask.images, created_at: Date.now(), siblings: [] });
    const reply = { role: "assistant", content: "", thinking: "", model, siblings: [] };
    const replyView = messageView(reply, true);
    if (userView) messages.append(userView);
    messages.append(replyView);
    messages.scrollTop = messages.scrollHeight;
    const controller = new AbortController();
    state.controller = controller;
    busy(true);
    const started = performance.now();
    let first = null, frame = 0, finished = false;
    const paint = () => { frame = 0; const stick = messages.scrollHeight - messages.scrollTop - messages.clientHeight < 80; replyView.render(reply, !finished); if (stick) messages.scrollTop = messages.scrollHeight; };
    // The session holds the system prompt, options, think and keep-alive (the panel saved them);
    // the options go along too, so each stored message records what it was sent with.
    const common = { model, options: readOptions(), stream: true };
    const id = encodeURIComponent(state.session.id);
    const [path, body] = ask
      ? [`/api/sessions/${id}/messages`, { ...common, content: ask.content, images: ask.images?.length ? ask.images : undefined, edit_of: ask.edit_of ?? undefined }]
      : [`/api/sessions/${id}/regenerate`, common];
    try {
      await streamPost(path, body,
        (event) => {
          if (event.type === "user" && userView && event.message) {
            Object.assign(userView.msg, { id: event.message.id, parent_id: event.message.parent_id, siblings: event.message.siblings });
          } else if (event.type === "delta") {
            if (first == null) first = performance.now();
            reply.content += event.content;
            reply.thinking += event.thinking ?? "";
            if (!frame) frame = requestAnimationFrame(paint);
          } else if (event.type === "done") {
            finished = true;
            Object.assign(reply, event.message);
            const seconds = first != null ? (performance.now() - first) / 1000 : null;
            paint();
            replyView.meta(reply, { ttft: first != null ? first - started : null, note: event.done_reason === "length" ? "stopped at the token limit" : null });
            if (!reply.trace_id && seconds && reply.completion_tokens) replyView.meta(reply, { tps: reply.completion_tokens / seconds });
          } else if (event.type === "error") {
            finished = true;
            paint();
            replyView.meta(reply, { note: `error: ${event.error.message}` });
            replyView.classList.add("failed");
          }
        }, controller.signal);
      if (!finished) { finished = true; paint(); replyView.meta(reply, { note: "the answer ended early" }); }
    } catch (e) {
      finished = true;
      paint();
      if (controller.signal.aborted) replyView.meta(reply, { note: "stopped" });
      else { replyView.meta(reply, { note: `error: ${e.message}` }); toast(e.message, "error"); }
    } finally {
      state.controller = null;
      busy(false);
      for (const v of views()) v.tools();
      input.focus();
      const s = state.sessions.find((x) => x.id === state.session?.id);
      if (s) { s.updated_at = Date.now(); state.sessions.sort((a, b) => b.updated_at - a.updated_at); renderSessions(); }
      // The next turn waits for this one to be stored (a stopped reply is stored as the server
      // notices the drop), so it follows it.
      state.settled = syncIds();
    }
  }

  if (!can("user")) {
    input.disabled = true;
    sendButton.disabled = true;
    input.placeholder = "This key is read-only (viewer): it can read chats but not send messages.";
  }
  loadModels().then(() => open(params[0]));
  loadSessions();
  const off = ctx.onEvent((event) => { if (event.type === "models_changed") loadModels(); });
  return {
    unmount: () => { off(); window.removeEventListener("resize", fit); state.controller?.abort(); },
    update: (p) => { if ((p[0] || null) !== (state.session?.id || null)) open(p[0]); },
  };
}

/** A chat as Markdown: the title, then each message under a heading with who wrote it. */
export function chatMarkdown(session, thread) {
  const lines = [`# ${session.title || "Chat"}`, ""];
  if (session.model) lines.push(`- Model: ${session.model}`);
  lines.push(`- Exported: ${new Date().toISOString()}`, "");
  if (session.system_prompt) lines.push("## System", "", session.system_prompt, "");
  for (const m of thread) {
    lines.push(`## ${m.role === "user" ? "You" : m.role === "assistant" ? `Assistant (${m.model || "model"})` : m.role}`, "");
    if (m.thinking) lines.push(...m.thinking.split("\n").map((l) => `> ${l}`), "");
    lines.push(m.content || "", "");
  }
  return lines.join("\n");
}

/** Saves `text` as a file through a Blob and a[download]. */
function saveFile(text, filename, type) {
  const url = URL.createObjectURL(new Blob([text], { type: `${type};charset=utf-8` }));
  const a = h("a", { href: url, download: filename, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

/** A data: URL for base64 image bytes, typed from their magic number. */
function dataUrl(b64) {
  const type = b64.startsWith("/9j/") ? "jpeg" : b64.startsWith("iVBOR") ? "png" : b64.startsWith("R0lG") ? "gif" : b64.startsWith("UklG") ? "webp" : "png";
  return `data:image/${type};base64,${b64}`;
}
