// The page's shell: sign-in, navigation between views, the live connection.

import { adoptTokenFromUrl, api, events, setToken, token, whenUnauthorized } from "./api.js";
import * as dashboard from "./views/dashboard.js";
import { make } from "./views/placeholder.js";

const views = {
  dashboard,
  models: make("Models", "Installed models, the catalogue and uploads will appear here."),
  chat: make("Chat", "Chat with your models here."),
  traces: make("Traces", "Every request through ollama-dash will be listed here."),
  settings: make("Settings", "Generation defaults and API keys."),
};

const listeners = new Set();
const ctx = { onEvent(fn) { listeners.add(fn); return () => listeners.delete(fn); } };
let unmount = () => {};
let stopEvents = () => {};

function route() {
  const name = (location.hash.match(/^#\/(\w+)/) || [])[1] || "dashboard";
  const view = views[name] ? name : "dashboard";
  for (const a of document.querySelectorAll("nav a")) {
    a.toggleAttribute("aria-current", a.dataset.view === view);
    if (a.dataset.view === view) a.setAttribute("aria-current", "page");
  }
  unmount();
  const root = document.getElementById("view");
  unmount = views[view].mount(root, ctx) || (() => {});
}

function setConnection(state) {
  const pill = document.getElementById("conn");
  pill.textContent = state === "live" ? "live" : "disconnected";
  pill.className = `pill ${state === "live" ? "ok" : "bad"}`;
}

function signIn() {
  const dialog = document.getElementById("signin");
  if (dialog.open) return;
  stopEvents();
  dialog.showModal();
}

async function start() {
  stopEvents = events("/api/events", (event) => listeners.forEach((fn) => fn(event)), setConnection);
  route();
}

document.getElementById("signin-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = document.getElementById("token");
  const error = document.getElementById("signin-error");
  setToken(input.value.trim());
  try {
    await api("/api/auth/verify", { method: "POST" });
    error.textContent = "";
    input.value = "";
    document.getElementById("signin").close();
    start();
  } catch (e) {
    error.textContent = e.status === 401 ? "That token is not valid." : e.message;
  }
});

document.getElementById("signout").addEventListener("click", () => { setToken(""); unmount(); signIn(); });
whenUnauthorized(signIn);
window.addEventListener("hashchange", () => { if (token()) route(); });

adoptTokenFromUrl();
if (token()) start(); else signIn();
