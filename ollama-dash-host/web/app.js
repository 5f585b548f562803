// The page's shell: sign-in, navigation between views, the live connection.

import { adoptTokenFromUrl, events, session, setToken, token, whenUnauthorized } from "./api.js";
import { read } from "./contract.js";
import { h } from "./format.js";

// Views load on first visit; the dashboard is preloaded by index.html.
const views = {
  dashboard: () => import("./views/dashboard.js"),
  models: () => import("./views/models.js"),
  chat: () => import("./views/chat.js"),
  traces: () => import("./views/traces.js"),
  usage: () => import("./views/usage.js"),
  nodes: () => import("./views/nodes.js"),
  settings: () => import("./views/settings.js"),
};

const listeners = new Set();
const ctx = {
  /** Subscribes to live events; returns the unsubscribe function. */
  onEvent(fn) { listeners.add(fn); return () => listeners.delete(fn); },
  connected: false,
};
let current = { name: null, unmount: () => {}, update: null };
let stopEvents = () => {};
let routeSeq = 0;

function parseRoute() {
  const parts = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  const name = views[parts[0]] ? parts[0] : "dashboard";
  return { name, params: views[parts[0]] ? parts.slice(1) : [] };
}

async function route({ focus = true } = {}) {
  const { name, params } = parseRoute();
  for (const a of document.querySelectorAll("nav a")) {
    if (a.dataset.view === name) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  if (current.name === name && current.update) { current.update(params); return; }
  const seq = ++routeSeq;
  const module = await views[name]();
  if (seq !== routeSeq) return;
  current.unmount();
  const root = document.getElementById("view");
  root.replaceChildren();
  const mounted = module.mount(root, ctx, params) || {};
  current = {
    name,
    unmount: typeof mounted === "function" ? mounted : mounted.unmount || (() => {}),
    update: mounted.update || null,
  };
  document.body.dataset.view = name;
  document.title = `${name[0].toUpperCase()}${name.slice(1)} · ollama-dash`;
  if (focus) root.focus({ preventScroll: true });
}

function setConnection(state) {
  ctx.connected = state === "live";
  const pill = document.getElementById("conn");
  pill.textContent = state === "live" ? "● live" : state === "connecting" ? "connecting…" : "● disconnected — retrying";
  pill.className = `pill ${state === "live" ? "ok" : state === "connecting" ? "" : "bad"}`;
  listeners.forEach((fn) => fn({ type: "connection", state }));
}

function signIn(reason) {
  const dialog = document.getElementById("signin");
  stopEvents();
  stopEvents = () => {};
  current.unmount();
  current = { name: null, unmount: () => {}, update: null };
  document.getElementById("view").replaceChildren();
  delete document.body.dataset.view;
  document.getElementById("who").hidden = true;
  document.getElementById("signout").hidden = true;
  setConnection("connecting");
  document.getElementById("signin-why").textContent = reason || "Paste the token that `ollama-dash serve` printed, or an API key.";
  if (!dialog.open) dialog.showModal();
}

async function verify() {
  const who = await read("verify");
  session.name = who.name;
  session.role = who.role;
  const chip = document.getElementById("who");
  chip.replaceChildren(h("span", {}, session.name), h("span", { class: `role role-${session.role}` }, session.role));
  chip.title = `Signed in as ${session.name} (${session.role})`;
  chip.hidden = false;
  document.getElementById("signout").hidden = false;
  document.body.dataset.role = session.role;
}

async function start() {
  try {
    await verify();
  } catch (e) {
    if (e.status !== 401) signIn(`Cannot reach ollama-dash: ${e.message}`);
    return;
  }
  setConnection("connecting");
  stopEvents = events("/api/events", (event) => listeners.forEach((fn) => fn(event)), setConnection);
  await route({ focus: false });
}

document.getElementById("signin-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = document.getElementById("token");
  const error = document.getElementById("signin-error");
  setToken(input.value.trim());
  try {
    await verify();
    error.textContent = "";
    input.value = "";
    document.getElementById("signin").close();
    start();
  } catch (e) {
    setToken("");
    error.textContent = e.status === 401 ? "That token is not valid." : e.status === 429 ? e.message : `Cannot sign in: ${e.message}`;
  }
});
// The sign-in dialog cannot be dismissed with Escape: there is nothing behind it.
document.getElementById("signin").addEventListener("cancel", (event) => event.preventDefault());

document.getElementById("signout").addEventListener("click", () => { setToken(""); signIn("Signed out. Sign in again with a token or an API key."); });
whenUnauthorized(() => { setToken(""); signIn("Your token was refused (it may have been revoked). Sign in again."); });
window.addEventListener("hashchange", () => { setMenu(false); if (token() && !document.getElementById("signin").open) route(); });

// Small screens: the nav folds into a menu button; choosing a view folds it again.
function setMenu(open) {
  document.querySelector(".topbar").classList.toggle("menu-open", open);
  document.getElementById("menu").setAttribute("aria-expanded", String(open));
}
document.getElementById("menu").addEventListener("click", () => setMenu(!document.querySelector(".topbar").classList.contains("menu-open")));
document.getElementById("mainnav").addEventListener("click", (event) => { if (event.target.closest("a")) setMenu(false); });

adoptTokenFromUrl();
if (token()) start(); else signIn();
