// Talking to ollama-dash: the bearer token, JSON calls, and the live event stream.

const TOKEN_KEY = "ollama-dash-token";
let onUnauthorized = () => {};

export function token() { return localStorage.getItem(TOKEN_KEY) || ""; }
export function setToken(value) { value ? localStorage.setItem(TOKEN_KEY, value) : localStorage.removeItem(TOKEN_KEY); }
export function whenUnauthorized(handler) { onUnauthorized = handler; }

/** Takes `#token=…` from the address bar (what `serve` prints) and removes it. */
export function adoptTokenFromUrl() {
  const match = location.hash.match(/^#token=([^&]+)/);
  if (!match) return;
  setToken(decodeURIComponent(match[1]));
  history.replaceState(null, "", location.pathname + location.search + "#/");
}

export class ApiError extends Error {
  constructor(status, message, type) { super(message); this.status = status; this.type = type; }
}

/** A JSON call; throws ApiError with the server's message. 401 sends the user to sign in. */
export async function api(path, { method = "GET", body, signal, headers = {} } = {}) {
  const init = { method, signal, headers: { Authorization: `Bearer ${token()}`, ...headers } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (response.status === 401) onUnauthorized();
  if (response.status === 204) return null;
  const text = await response.text();
  const json = text ? safeJson(text) : null;
  if (!response.ok) {
    const error = json?.error;
    throw new ApiError(response.status, error?.message || `${response.status} ${response.statusText}`, error?.type);
  }
  return json;
}

function safeJson(text) { try { return JSON.parse(text); } catch { return { raw: text }; } }

/**
 * Server-Sent Events over fetch (EventSource cannot send an Authorization header).
 * Reconnects with backoff; `onState` gets "live" | "disconnected".
 */
export function events(path, onEvent, onState) {
  let stopped = false;
  let controller;
  let delay = 500;
  async function run() {
    while (!stopped) {
      controller = new AbortController();
      try {
        const response = await fetch(path, { headers: { Authorization: `Bearer ${token()}`, Accept: "text/event-stream" }, signal: controller.signal });
        if (response.status === 401) { onUnauthorized(); return; }
        if (!response.ok || !response.body) throw new Error(`events: ${response.status}`);
        onState("live");
        delay = 500;
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let end;
          while ((end = buffer.indexOf("\n\n")) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const data = block.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trimStart()).join("\n");
            if (data) { try { onEvent(JSON.parse(data)); } catch { /* not JSON: ignore */ } }
          }
        }
      } catch (error) {
        if (stopped) return;
      }
      onState("disconnected");
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 15000);
    }
  }
  run();
  return () => { stopped = true; controller?.abort(); };
}
