// Small formatting helpers shared by the views.

export function bytes(n) {
  if (n == null || Number.isNaN(n)) return "–";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(n >= 100 || i === 0 ? 0 : 1)} ${units[i]}`;
}

export function percent(part, whole) { return whole > 0 ? Math.round((part / whole) * 100) : 0; }

/** "in about 4 minutes", "never" for keep-alive forever (Ollama reports ~292 years ahead). */
export function relative(iso) {
  if (!iso) return "–";
  const ms = new Date(iso).getTime() - Date.now();
  if (ms > 100 * 365 * 864e5) return "never";
  const abs = Math.abs(ms);
  const [value, unit] = abs < 6e4 ? [abs / 1e3, "second"] : abs < 36e5 ? [abs / 6e4, "minute"] : abs < 864e5 ? [abs / 36e5, "hour"] : [abs / 864e5, "day"];
  const n = Math.max(1, Math.round(value));
  const phrase = `${n} ${unit}${n === 1 ? "" : "s"}`;
  return ms >= 0 ? `in ${phrase}` : `${phrase} ago`;
}

export function localTime(iso) { return iso ? new Date(iso).toLocaleString() : "–"; }

/** Builds an element: h("div", {class: "card"}, child, "text"). Text is never parsed as HTML. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value == null || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "style") el.style.cssText = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child == null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}
