// Talking to ollama-dash: the bearer token, JSON calls, streams and the live event stream.

const TOKEN_KEY = "ollama-dash-token";
let onUnauthorized = () => {};

export function token() { return localStorage.getItem(TOKEN_KEY) || ""; }
export function setToken(value) { value ? localStorage.setItem(TOKEN_KEY, value) : localStorage.removeItem(TOKEN_KEY); }
export function whenUnauthorized(handler) { onUnauthorized = handler; }

/** Who is signed in: `{name, role}` from `/api/auth/verify`. */
export const session = { name: "", role: "viewer" };
const RANK = { viewer: 0, user: 1, admin: 2 };
/** The signed-in key has at least `role`. */
export function can(role) { return (RANK[session.role] ?? 0) >= RANK[role]; }

/** Takes `#token=…` from the address bar (what `serve` prints) and removes it. */
export function adoptTokenFromUrl() {
  const match = location.hash.match(/^#token=([^&]+)/);
  if (!match) return;
  setToken(decodeURIComponent(match[1]));
  history.replaceState(null, "", location.pathname + location.search + "#/");
}

export class ApiError extends Error {
  constructor(status, message, type, param) { super(message); this.status = status; this.type = type; this.param = param; }
}

function headers(extra = {}) { return { Authorization: `Bearer ${token()}`, ...extra }; }

async function send(path, { method = "GET", body, signal, headers: extra = {}, accept } = {}) {
  const init = { method, signal, headers: headers(extra) };
  if (accept) init.headers.Accept = accept;
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (response.status === 401) onUnauthorized();
  if (!response.ok) {
    const text = await response.text();
    const error = safeJson(text)?.error;
    throw new ApiError(response.status, error?.message || `${response.status} ${response.statusText}`, error?.type, error?.param);
  }
  return response;
}

/** A JSON call; throws ApiError with the server's message. 401 sends the user to sign in. */
export async function api(path, options = {}) {
  const response = await send(path, options);
  if (response.status === 204) return null;
  const text = await response.text();
  return text ? safeJson(text) : null;
}

function safeJson(text) { try { return JSON.parse(text); } catch { return { raw: text }; } }

/** Reads `data:` blocks of a text/event-stream body and hands each parsed JSON to `onEvent`. */
async function readEvents(body, onEvent) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = block.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).replace(/^ /, "")).join("\n");
      if (!data || data === "[DONE]") continue;
      let event;
      try { event = JSON.parse(data); } catch { continue; }
      onEvent(event);
    }
  }
}

/** POSTs JSON and reads the answer as Server-Sent Events (a chat reply). */
export async function streamPost(path, body, onEvent, signal) {
  const response = await send(path, { method: "POST", body, signal, accept: "text/event-stream" });
  await readEvents(response.body, onEvent);
}

/** Fetches with the token and saves the answer as a file (exports). */
export async function download(path, filename) {
  const response = await send(path);
  const url = URL.createObjectURL(await response.blob());
  const a = Object.assign(document.createElement("a"), { href: url, download: filename });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

/**
 * The live event stream, as Server-Sent Events over fetch (EventSource cannot send an
 * Authorization header). Reconnects with backoff; `onState` gets "live" | "disconnected".
 */
export function events(path, onEvent, onState) {
  let stopped = false;
  let controller;
  let delay = 500;
  let wake = () => {};
  async function run() {
    while (!stopped) {
      controller = new AbortController();
      try {
        const response = await fetch(path, { headers: headers({ Accept: "text/event-stream" }), signal: controller.signal });
        if (response.status === 401) { onUnauthorized(); return; }
        if (!response.ok || !response.body) throw new Error(`events: ${response.status}`);
        onState("live");
        delay = 500;
        await readEvents(response.body, onEvent);
      } catch {
        if (stopped) return;
      }
      if (stopped) return;
      onState("disconnected");
      await new Promise((resolve) => { wake = resolve; setTimeout(resolve, delay); });
      delay = Math.min(delay * 2, 15000);
    }
  }
  // Coming back online or to the tab: try again at once instead of waiting out the backoff.
  const retry = () => { delay = 500; wake(); };
  window.addEventListener("online", retry);
  document.addEventListener("visibilitychange", retry);
  run();
  return () => {
    stopped = true;
    controller?.abort();
    window.removeEventListener("online", retry);
    document.removeEventListener("visibilitychange", retry);
  };
}

/**
 * Calls `fn` now and every `ms` while the tab is visible (for what has no event yet);
 * pauses while the tab is hidden. Returns a stop function.
 */
export function poll(fn, ms) {
  let timer = null;
  const tick = () => { if (!document.hidden) fn(); };
  const start = () => { if (!timer) timer = setInterval(tick, ms); };
  const stop = () => { clearInterval(timer); timer = null; };
  const onVisibility = () => { if (document.hidden) stop(); else { fn(); start(); } };
  document.addEventListener("visibilitychange", onVisibility);
  fn();
  if (!document.hidden) start();
  return () => { stop(); document.removeEventListener("visibilitychange", onVisibility); };
}
