// Pieces several views share: toasts, a confirm dialog, a side drawer, progress bars, badges.

import { h, icon } from "./format.js";

/** A short message at the bottom of the page, read out by screen readers. */
export function toast(message, kind = "info") {
  const region = document.getElementById("toasts");
  const item = h("div", { class: `toast ${kind}`, role: kind === "error" ? "alert" : "status" }, message);
  region.append(item);
  setTimeout(() => item.remove(), kind === "error" ? 9000 : 4500);
}

/** Asks before something that cannot be undone; resolves true when confirmed. */
export function confirmAction(title, text, action = "Delete") {
  return new Promise((resolve) => {
    const dialog = h("dialog", { class: "confirm", "aria-labelledby": "confirm-title" },
      h("form", { method: "dialog" },
        h("h2", { id: "confirm-title" }, title),
        h("p", {}, text),
        h("div", { class: "actions" },
          h("button", { type: "submit", value: "cancel", class: "ghost", autofocus: true }, "Cancel"),
          h("button", { type: "submit", value: "ok", class: "danger" }, action))));
    dialog.addEventListener("close", () => { resolve(dialog.returnValue === "ok"); dialog.remove(); });
    document.body.append(dialog);
    dialog.showModal();
  });
}

/** Asks for one line of text (e.g. a new name); resolves the text or null. */
export function promptText(title, label, initial = "", action = "Save") {
  return new Promise((resolve) => {
    const input = h("input", { id: "prompt-input", value: initial, required: true, autocomplete: "off" });
    const dialog = h("dialog", { class: "confirm", "aria-labelledby": "prompt-title" },
      h("form", { method: "dialog" },
        h("h2", { id: "prompt-title" }, title),
        h("label", { for: "prompt-input" }, label), input,
        h("div", { class: "actions" },
          h("button", { type: "submit", value: "cancel", class: "ghost", formnovalidate: true }, "Cancel"),
          h("button", { type: "submit", value: "ok" }, action))));
    dialog.addEventListener("close", () => { resolve(dialog.returnValue === "ok" ? input.value.trim() || null : null); dialog.remove(); });
    document.body.append(dialog);
    dialog.showModal();
    input.select();
  });
}

/** A drawer sliding in from the right; returns its body element and a close function. */
export function drawer(title) {
  const body = h("div", { class: "drawer-body" });
  const close = () => { dialog.close(); };
  const dialog = h("dialog", { class: "drawer", "aria-labelledby": "drawer-title" },
    h("header", {}, h("h2", { id: "drawer-title" }, title), h("button", { type: "button", class: "ghost icon", "aria-label": "Close", onclick: close }, icon("close"))),
    body);
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  return { body, close, dialog };
}

/** A progress bar; `set(fraction)` moves it, `null` makes it indeterminate. */
export function progressBar(label) {
  const fill = h("span");
  const bar = h("div", { class: "bar", role: "progressbar", "aria-label": label, "aria-valuemin": "0", "aria-valuemax": "100" }, fill);
  bar.set = (fraction) => {
    if (fraction == null) { bar.classList.add("indeterminate"); bar.removeAttribute("aria-valuenow"); return; }
    bar.classList.remove("indeterminate");
    const pct = Math.max(0, Math.min(100, fraction * 100));
    fill.style.width = `${pct}%`;
    bar.setAttribute("aria-valuenow", String(Math.round(pct)));
  };
  return bar;
}

const CAPABILITY_HINTS = {
  completion: "Generates text", vision: "Understands images", tools: "Can call tools",
  thinking: "Shows its reasoning", embedding: "Makes embeddings", insert: "Fills in the middle (code)",
};

/** Capability badges; `caps` is a list of names or of {name, source}. */
export function capabilityBadges(caps = []) {
  return h("div", { class: "badges" }, caps.map((c) => {
    const name = typeof c === "string" ? c : c.name || c.capability;
    const source = typeof c === "string" ? null : c.source;
    const title = [CAPABILITY_HINTS[name], source && `from ${source}`].filter(Boolean).join(" · ");
    return h("span", { class: `badge cap-${name}`, title: title || null }, name);
  }));
}

/** Tracks rate and ETA of a transfer from successive (done, total) samples. */
export function transferMeter() {
  const samples = [];
  return {
    update(done, total) {
      const now = performance.now();
      samples.push([now, done]);
      while (samples.length > 2 && now - samples[0][0] > 5000) samples.shift();
      const [t0, d0] = samples[0];
      const speed = now > t0 ? ((done - d0) * 1000) / (now - t0) : 0;
      const eta = speed > 0 && total ? (total - done) / speed : null;
      return { speed, eta };
    },
    reset() { samples.length = 0; },
  };
}

/**
 * A table that becomes a list of cards on a phone (CSS `table.cards`): every cell is labelled
 * with its column's header (`data-label`, shown above the value there), rows added later too.
 * A header is its text, or `[text, attrs]` for a header cell with attributes of its own.
 */
export function cardTable(attrs, columns, body) {
  const headers = columns.map((c) => (Array.isArray(c) ? c[0] : c));
  const table = h("table", { ...attrs, class: `cards ${attrs.class || ""}`.trim() },
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", ...(Array.isArray(c) ? c[1] : {}) }, Array.isArray(c) ? c[0] : c)))), body);
  const label = () => {
    for (const row of body.rows) {
      [...row.cells].forEach((cell, i) => { if (cell.colSpan === 1 && headers[i]) cell.dataset.label = headers[i]; });
    }
  };
  new MutationObserver(label).observe(body, { childList: true });
  label();
  return table;
}
