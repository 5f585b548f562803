// Chat: sessions, a capability-aware model picker, per-chat options, streaming replies rendered
// as safe Markdown, stop, token counts and tokens/s, and a link to each reply's trace.

import { api, can, streamPost } from "../api.js";
import { h, icon, localTime, ms, number, relative, setText } from "../format.js";
import { renderMarkdown } from "../markdown.js";
import { confirmAction, promptText, toast } from "../ui.js";

const OPTION_FIELDS = [
  ["temperature", "Temperature", { min: 0, max: 2, step: 0.05 }],
  ["top_p", "Top P", { min: 0, max: 1, step: 0.01 }],
  ["top_k", "Top K", { min: 0, step: 1 }],
  ["num_ctx", "Context (num_ctx)", { min: 256, step: 256 }],
  ["num_predict", "Max tokens", { min: -1, step: 1 }],
  ["seed", "Seed", { step: 1 }],
];

export function mount(root, ctx, params) {
  const state = { sessions: [], models: [], session: null, messages: [], controller: null, images: [] };
  const list = h("ul", { class: "sessions", id: "sessions", "aria-label": "Chats" });
  const messages = h("div", { class: "messages", id: "messages", "aria-live": "polite", "aria-busy": "false" });
  const picker = h("select", { id: "chat-model", "aria-label": "Model", onchange: () => { onModelChange(); saveSession({ model: picker.value }); } });
  const system = h("textarea", { id: "chat-system", rows: "3", placeholder: "You are a helpful assistant.", onchange: () => saveSession({ system_prompt: system.value }) });
  const think = h("input", { type: "checkbox", id: "chat-think" });
  const thinkLabel = h("label", { for: "chat-think", style: "display:flex;gap:.4rem;align-items:center" }, think, "Show reasoning (thinking models)");
  const optionInputs = Object.fromEntries(OPTION_FIELDS.map(([key, , attrs]) => [key, h("input", { type: "number", id: `opt-${key}`, ...attrs, placeholder: "default", onchange: () => saveSession({ options: readOptions() }) })]));
  const settings = h("details", { id: "chat-settings" }, h("summary", {}, "Chat settings"),
    h("div", { class: "settings-pop" },
      h("label", { for: "chat-system" }, "System prompt"), system,
      h("div", { class: "two" }, OPTION_FIELDS.map(([key, label]) => h("div", {}, h("label", { for: `opt-${key}` }, label), optionInputs[key]))),
      thinkLabel,
      h("p", { class: "muted small" }, "Empty fields use the model's defaults from Settings.")));
  const modelInfo = h("span", { class: "muted small", id: "model-info" });
  const input = h("textarea", { id: "chat-input", rows: "2", placeholder: "Send a message (Enter to send, Shift+Enter for a new line)", "aria-label": "Message",
    onkeydown: (e) => { if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); send(); } } });
  const imageInput = h("input", { type: "file", accept: "image/*", multiple: true, id: "chat-image", class: "visually-hidden", onchange: () => attach([...imageInput.files]) });
  const attachLabel = h("label", { for: "chat-image", class: "file-label", id: "attach-label", style: "font-weight:500" }, "Attach image");
  const attachments = h("span", { class: "attachments" });
  const sendButton = h("button", { type: "button", id: "send", onclick: () => send() }, "Send");
  const stopButton = h("button", { type: "button", id: "stop", class: "danger", hidden: true, onclick: () => state.controller?.abort() }, "Stop");
  const composer = h("div", { class: "composer" }, input, h("div", { style: "display:flex;gap:.4rem" }, sendButton, stopButton),
    h("div", { class: "attach-row" }, imageInput, attachLabel, attachments));

  root.append(h("h1", { class: "visually-hidden" }, "Chat"), h("div", { class: "chat" },
    h("aside", { "aria-label": "Chat sessions" }, h("button", { type: "button", class: "new", id: "new-chat", onclick: () => { location.hash = "#/chat"; } }, "+ New chat"), list),
    h("section", { class: "conversation", "aria-label": "Conversation" },
      h("div", { class: "conv-head" }, h("label", { for: "chat-model", class: "visually-hidden" }, "Model"), picker, modelInfo, h("span", { style: "flex:1" }), settings),
      messages, composer)));

  function currentModel() { return state.models.find((m) => m.name === picker.value); }
  function caps(m) { return (m?.capabilities || []).map((c) => (typeof c === "string" ? c : c.name)); }
  function onModelChange() {
    const c = caps(currentModel());
    const vision = c.includes("vision");
    attachLabel.hidden = !vision;
    imageInput.disabled = !vision;
    if (!vision && state.images.length) { state.images = []; renderAttachments(); }
    thinkLabel.hidden = !c.includes("thinking");
    setText(modelInfo, c.length ? c.join(" · ") : "");
  }

  async function loadModels() {
    try {
      const answer = await api("/api/models/available");
      state.models = (answer.models || []).filter((m) => !caps(m).length || caps(m).some((c) => c === "completion" || c === "vision")).sort((a, b) => a.name.localeCompare(b.name));
    } catch (e) { toast(`Cannot list models: ${e.message}`, "error"); }
    const previous = picker.value;
    picker.replaceChildren(...state.models.map((m) => h("option", { value: m.name }, `${m.name}${caps(m).includes("vision") ? "  · vision" : ""}`)));
    picker.value = state.session?.model || previous || localStorage.getItem("ollama-dash-chat-model") || state.models[0]?.name || "";
    if (!picker.value && state.models[0]) picker.value = state.models[0].name;
    onModelChange();
  }

  async function loadSessions() {
    try { state.sessions = (await api("/api/sessions")).sessions || []; } catch (e) { toast(`Cannot list chats: ${e.message}`, "error"); }
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
  async function saveSession(change) {
    if (change.model) localStorage.setItem("ollama-dash-chat-model", change.model);
    if (!state.session) return;
    try { Object.assign(state.session, await api(`/api/sessions/${encodeURIComponent(state.session.id)}`, { method: "PATCH", body: change })); }
    catch (e) { toast(`Could not save the chat settings: ${e.message}`, "error"); }
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
    if (!id) {
      system.value = "";
      for (const i of Object.values(optionInputs)) i.value = "";
      messages.replaceChildren(h("div", { class: "welcome" }, h("h2", {}, "Start a chat"), h("p", {}, "Pick a model above and send a message. Replies stream in as they are written; every reply links to its trace.")));
      renderSessions();
      input.focus();
      return;
    }
    try {
      const answer = await api(`/api/sessions/${encodeURIComponent(id)}`);
      state.session = answer.session;
      state.messages = answer.messages || [];
    } catch (e) {
      messages.replaceChildren(h("p", { class: "error" }, `Cannot open this chat: ${e.message}`));
      return;
    }
    const s = state.session;
    if (s.model && state.models.some((m) => m.name === s.model)) { picker.value = s.model; onModelChange(); }
    system.value = s.system_prompt || "";
    for (const [key] of OPTION_FIELDS) optionInputs[key].value = s.options?.[key] ?? "";
    messages.replaceChildren(...state.messages.map((m) => messageView(m)));
    messages.scrollTop = messages.scrollHeight;
    renderSessions();
  }

  function messageView(m, streaming = false) {
    const body = h("div", { class: "bubble" });
    const meta = h("div", { class: "meta" });
    const el = h("article", { class: `msg ${m.role}`, "data-role": m.role },
      h("div", { class: "who-line" }, h("span", {}, m.role === "user" ? "You" : m.model || "assistant"), m.created_at ? h("span", { title: localTime(m.created_at), style: "font-weight:400" }, relative(m.created_at)) : null),
      body, meta);
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
    return el;
  }
  async function traceSpeed(msg, el) {
    try {
      const t = await api(`/v1/traces/${encodeURIComponent(msg.trace_id)}`);
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
  }

  async function send() {
    const content = input.value.trim();
    if (!content || state.controller) return;
    const model = picker.value;
    if (!model) { toast("Pick a model first.", "error"); return; }
    if (!state.session) {
      try {
        const created = await api("/api/sessions", { method: "POST", body: { title: content.slice(0, 60), model, system_prompt: system.value || null, options: readOptions() } });
        state.session = created;
        state.sessions.unshift(created);
        state.messages = [];
        messages.replaceChildren();
        history.replaceState(null, "", `#/chat/${encodeURIComponent(created.id)}`);
        renderSessions();
      } catch (e) { toast(`Could not start a chat: ${e.message}`, "error"); return; }
    }
    input.value = "";
    const images = state.images.map((i) => i.b64);
    state.images = [];
    renderAttachments();
    const userView = messageView({ role: "user", content, images, created_at: Date.now() });
    const reply = { role: "assistant", content: "", thinking: "", model };
    const replyView = messageView(reply, true);
    messages.append(userView, replyView);
    messages.scrollTop = messages.scrollHeight;
    const controller = new AbortController();
    state.controller = controller;
    busy(true);
    const started = performance.now();
    let first = null, frame = 0, finished = false;
    const paint = () => { frame = 0; const stick = messages.scrollHeight - messages.scrollTop - messages.clientHeight < 80; replyView.render(reply, !finished); if (stick) messages.scrollTop = messages.scrollHeight; };
    try {
      await streamPost(`/api/sessions/${encodeURIComponent(state.session.id)}/messages`,
        { content, model, options: readOptions(), images: images.length ? images : undefined, think: think.checked && !thinkLabel.hidden ? true : undefined, stream: true },
        (event) => {
          if (event.type === "delta") {
            if (first == null) first = performance.now();
            reply.content += event.content || "";
            reply.thinking += event.thinking || "";
            if (!frame) frame = requestAnimationFrame(paint);
          } else if (event.type === "done") {
            finished = true;
            Object.assign(reply, event.message || {}, { trace_id: event.trace_id || event.message?.trace_id });
            const seconds = first != null ? (performance.now() - first) / 1000 : null;
            paint();
            replyView.meta(reply, { ttft: first != null ? first - started : null, note: event.done_reason === "length" ? "stopped at the token limit" : null });
            if (!reply.trace_id && seconds && reply.completion_tokens) replyView.meta(reply, { tps: reply.completion_tokens / seconds });
          } else if (event.type === "error") {
            finished = true;
            paint();
            replyView.meta(reply, { note: `error: ${event.error?.message || "the model stopped"}` });
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
      input.focus();
      const s = state.sessions.find((x) => x.id === state.session?.id);
      if (s) { s.updated_at = Date.now(); state.sessions.sort((a, b) => b.updated_at - a.updated_at); renderSessions(); }
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
    unmount: () => { off(); state.controller?.abort(); },
    update: (p) => { if ((p[0] || null) !== (state.session?.id || null)) open(p[0]); },
  };
}

/** A data: URL for base64 image bytes, typed from their magic number. */
function dataUrl(b64) {
  const type = b64.startsWith("/9j/") ? "jpeg" : b64.startsWith("iVBOR") ? "png" : b64.startsWith("R0lG") ? "gif" : b64.startsWith("UklG") ? "webp" : "png";
  return `data:image/${type};base64,${b64}`;
}
