// Small formatting helpers and the element builder shared by the views.

export function bytes(n) {
  if (n == null || Number.isNaN(n)) return "–";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (Math.abs(n) >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(Math.abs(n) >= 100 || i === 0 ? 0 : 1)} ${units[i]}`;
}

/** Bytes per second, e.g. "12.4 MB/s". */
export function rate(perSecond) { return perSecond > 0 ? `${bytes(perSecond)}/s` : "–"; }

export function percent(part, whole) { return whole > 0 ? Math.round((part / whole) * 100) : 0; }

/** A duration in seconds as "1 h 4 min", "3 min 5 s", "12 s". */
export function duration(seconds) {
  if (seconds == null || !Number.isFinite(seconds) || seconds < 0) return "–";
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/** Milliseconds, short: "850 ms", "2.4 s". */
export function ms(value) {
  if (value == null || !Number.isFinite(value)) return "–";
  return value < 1000 ? `${Math.round(value)} ms` : `${(value / 1000).toFixed(value < 10000 ? 2 : 1)} s`;
}

export function number(n, digits = 0) {
  return n == null || !Number.isFinite(n) ? "–" : n.toLocaleString(undefined, { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

/** "in about 4 minutes", "never" for keep-alive forever (Ollama reports ~292 years ahead). */
export function relative(iso, now = Date.now()) {
  if (!iso) return "–";
  const delta = new Date(iso).getTime() - now;
  if (delta > 100 * 365 * 864e5) return "never";
  const abs = Math.abs(delta);
  if (abs < 45e3) return "just now";
  const [value, unit] = abs < 6e4 ? [abs / 1e3, "second"] : abs < 36e5 ? [abs / 6e4, "minute"] : abs < 864e5 ? [abs / 36e5, "hour"] : [abs / 864e5, "day"];
  const n = Math.max(1, Math.floor(value));
  const phrase = `${n} ${unit}${n === 1 ? "" : "s"}`;
  return delta >= 0 ? `in ${phrase}` : `${phrase} ago`;
}

/** A countdown "4:05" / "1:02:03" to an ISO time; "never" for keep-alive forever. */
export function countdown(iso, now = Date.now()) {
  if (!iso) return "–";
  const left = Math.max(0, Math.floor((new Date(iso).getTime() - now) / 1000));
  if (left > 100 * 365 * 86400) return "never";
  const hours = Math.floor(left / 3600), m = Math.floor((left % 3600) / 60), s = left % 60;
  const pad = (v) => String(v).padStart(2, "0");
  return hours ? `${hours}:${pad(m)}:${pad(s)}` : `${m}:${pad(s)}`;
}

export function localTime(iso) {
  if (!iso && iso !== 0) return "–";
  const d = new Date(iso);
  if (d.getTime() > Date.now() + 100 * 365 * 864e5) return "never";
  return d.toLocaleString();
}

/** Builds an element: h("div", {class: "card"}, child, "text"). Text is never parsed as HTML. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  return fill(el, attrs, children);
}

const SVG_NS = "http://www.w3.org/2000/svg";
/** Same as h() for SVG elements. */
export function svg(tag, attrs = {}, ...children) {
  return fill(document.createElementNS(SVG_NS, tag), attrs, children);
}

function fill(el, attrs, children) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value == null || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "style") el.style.cssText = value;
    else if (key === "value" && "value" in el) el.value = value;
    else if (key === "checked" && "checked" in el) el.checked = !!value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child == null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** A sparkline of `values` (0..max) as an SVG polyline with a soft fill. */
export function sparkline(values, { max = 100, width = 160, height = 36, label = "" } = {}) {
  const points = values.length ? values : [0];
  const step = points.length > 1 ? width / (points.length - 1) : width;
  const y = (v) => height - 2 - (Math.min(Math.max(v, 0), max) / (max || 1)) * (height - 4);
  const line = points.map((v, i) => `${(i * step).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
  return svg("svg", { class: "spark", viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "none", role: "img", "aria-label": label },
    svg("polygon", { class: "spark-fill", points: `0,${height} ${line} ${((points.length - 1) * step).toFixed(1)},${height}` }),
    svg("polyline", { class: "spark-line", points: line }));
}

/** Replaces `el`'s text only when it changed (keeps selection and avoids needless layout). */
export function setText(el, text) { if (el.textContent !== text) el.textContent = text; }

const ICONS = {
  edit: "M4 20h4L19 9l-4-4L4 16v4zM14 6l4 4",
  trash: "M5 7h14M10 7V5h4v2M7 7l1 13h8l1-13M10 11v6M14 11v6",
  close: "M6 6l12 12M18 6L6 18",
};
/** A small stroke icon (decorative: the button around it carries the label). */
export function icon(name) {
  return svg("svg", { class: "icon-svg", viewBox: "0 0 24 24", width: "16", height: "16", "aria-hidden": "true" },
    svg("path", { d: ICONS[name], fill: "none", stroke: "currentColor", "stroke-width": "1.8", "stroke-linecap": "round", "stroke-linejoin": "round" }));
}
