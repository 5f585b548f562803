// A small, safe Markdown renderer for model output. It builds DOM nodes directly (text nodes
// and a fixed set of elements), never HTML strings, so nothing a model writes can inject markup
// or script. Supported: paragraphs, headings, fenced code (with a copy button), lists, quotes,
// tables, rules, `code`, **bold**, *italic*, ~~strike~~, links (http, https, mailto only),
// math ($…$, \(…\), $$…$$, \[…\]).
//
// Code highlighting (lezer, `code-highlight.js`) and math (Temml → MathML, `math.js`) come from
// vendored libraries imported only when a reply has a code block in a known language or math,
// so a page without them never fetches them; until they are loaded, or if they fail, the code
// and the TeX show as plain text. Both build DOM nodes (text in spans, MathML elements), never
// markup from strings.

import { h } from "./format.js";

const SAFE_URL = /^(https?:|mailto:)/i;

/** Renders `text` into a fresh `div.md`. Unclosed code fences (mid-stream) render as code. */
export function renderMarkdown(text) {
  return h("div", { class: "md" }, blocks(String(text ?? "").replace(/\r\n?/g, "\n").split("\n")));
}

function blocks(lines) {
  const out = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    const display = displayMath(lines, i);
    if (display) { out.push(display.node); i = display.next; continue; }
    const fence = line.match(/^\s{0,3}(`{3,}|~{3,})\s*([\w+#.-]*)/);
    if (fence) {
      const body = [];
      i++;
      while (i < lines.length && !lines[i].trimStart().startsWith(fence[1])) body.push(lines[i++]);
      i++;
      out.push(codeBlock(body.join("\n"), fence[2]));
      continue;
    }
    if (!line.trim()) { i++; continue; }
    const heading = line.match(/^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/);
    if (heading) { out.push(h(`h${Math.min(heading[1].length + 1, 6)}`, {}, inline(heading[2]))); i++; continue; }
    if (/^\s{0,3}([-*_])(\s*\1){2,}\s*$/.test(line)) { out.push(h("hr")); i++; continue; }
    if (/^\s{0,3}>/.test(line)) {
      const quoted = [];
      while (i < lines.length && /^\s{0,3}>/.test(lines[i])) quoted.push(lines[i++].replace(/^\s{0,3}>\s?/, ""));
      out.push(h("blockquote", {}, blocks(quoted)));
      continue;
    }
    if (isTableStart(lines, i)) { const [table, next] = tableBlock(lines, i); out.push(table); i = next; continue; }
    const item = listItem(line);
    if (item) { const [list, next] = listBlock(lines, i, item); out.push(list); i = next; continue; }
    const para = [];
    while (i < lines.length && lines[i].trim() && !startsBlock(lines, i)) para.push(lines[i++]);
    if (!para.length) para.push(lines[i++]);
    out.push(h("p", {}, inlineLines(para)));
  }
  return out;
}

/** `$$ … $$` or `\[ … \]` starting a line, over one line or several (to the closing one). */
function displayMath(lines, i) {
  const open = lines[i].match(/^\s{0,3}(\$\$|\\\[)(.*)$/);
  if (!open) return null;
  const close = open[1] === "$$" ? "$$" : "\\]";
  const first = open[2];
  const end = first.indexOf(close);
  if (end >= 0) {
    if (first.slice(end + close.length).trim()) return null; // text after it: inline math
    return { node: mathNode(first.slice(0, end), true, lines[i].trim()), next: i + 1 };
  }
  const body = [first];
  for (let k = i + 1; k < lines.length; k++) {
    const at = lines[k].indexOf(close);
    if (at >= 0) {
      body.push(lines[k].slice(0, at));
      return { node: mathNode(body.join("\n"), true, lines.slice(i, k + 1).join("\n").trim()), next: k + 1 };
    }
    body.push(lines[k]);
  }
  return null; // not closed (yet, while streaming): text
}

function startsBlock(lines, i) {
  const line = lines[i];
  return /^\s{0,3}(`{3,}|~{3,}|#{1,6}\s|>|\$\$|\\\[)/.test(line) || /^\s{0,3}([-*_])(\s*\1){2,}\s*$/.test(line) || listItem(line) || isTableStart(lines, i);
}

function listItem(line) {
  const m = line.match(/^(\s*)([-*+]|\d{1,9}[.)])\s+(.*)$/);
  return m && { indent: m[1].length, ordered: /\d/.test(m[2]), start: parseInt(m[2], 10), text: m[3] };
}

function listBlock(lines, i, first) {
  const list = h(first.ordered ? "ol" : "ul", first.ordered && first.start !== 1 ? { start: String(first.start) } : {});
  while (i < lines.length) {
    const item = listItem(lines[i]);
    if (!item || item.indent > first.indent + 1 || item.ordered !== first.ordered) break;
    i++;
    const body = [item.text];
    // Continuation lines and nested lists belong to this item.
    while (i < lines.length && lines[i].trim() && (/^\s{2,}/.test(lines[i]) && (listItem(lines[i])?.indent ?? 99) > first.indent || (!listItem(lines[i]) && !startsBlock(lines, i)))) {
      body.push(lines[i].replace(/^\s{2,4}/, ""));
      i++;
    }
    const nested = body.slice(1).some((l) => listItem(l));
    list.append(h("li", {}, nested ? [inline(body[0]), blocks(body.slice(1))] : inlineLines(body)));
    while (i < lines.length && !lines[i].trim() && listItem(lines[i + 1] || "")?.indent === first.indent) i++;
  }
  return [list, i];
}

function cells(line) { return line.trim().replace(/^\|/, "").replace(/\|$/, "").split("|").map((c) => c.trim()); }
function isTableStart(lines, i) {
  return lines[i].includes("|") && i + 1 < lines.length && /^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$/.test(lines[i + 1]);
}
function tableBlock(lines, i) {
  const head = cells(lines[i]);
  const align = cells(lines[i + 1]).map((c) => (c.startsWith(":") && c.endsWith(":") ? "center" : c.endsWith(":") ? "right" : null));
  i += 2;
  const rows = [];
  while (i < lines.length && lines[i].includes("|") && lines[i].trim()) rows.push(cells(lines[i++]));
  const cell = (tag, text, k) => h(tag, align[k] ? { style: `text-align:${align[k]}` } : {}, inline(text));
  const table = h("table", {}, h("thead", {}, h("tr", {}, head.map((c, k) => cell("th", c, k)))),
    h("tbody", {}, rows.map((r) => h("tr", {}, head.map((_, k) => cell("td", r[k] ?? "", k))))));
  return [h("div", { class: "table-scroll" }, table), i];
}

function codeBlock(code, lang) {
  const button = copyButton(() => code, "Copy code");
  const el = h("code", lang ? { "data-lang": lang } : {}, code);
  const known = lang && Object.hasOwn(LANGUAGES, lang.toLowerCase()) ? lang.toLowerCase() : null;
  if (known) later("highlight", (lib) => lib.highlight(el, code, known));
  return h("div", { class: "codeblock" }, h("header", {}, h("span", {}, lang || "code"), button),
    h("pre", {}, el));
}

/** Fence names the highlighter knows: the grammar module in vendor/lezer/ and its dialect. */
export const LANGUAGES = {
  javascript: ["javascript"], js: ["javascript"], mjs: ["javascript"], cjs: ["javascript"], node: ["javascript"],
  typescript: ["javascript", "ts"], ts: ["javascript", "ts"], jsx: ["javascript", "jsx"], tsx: ["javascript", "ts jsx"],
  python: ["python"], py: ["python"], rust: ["rust"], rs: ["rust"], json: ["json"], jsonc: ["json"], css: ["css"],
  html: ["html"], htm: ["html"], xml: ["html"], svg: ["html"], vue: ["html"],
  c: ["cpp"], h: ["cpp"], cpp: ["cpp"], "c++": ["cpp"], cc: ["cpp"], cxx: ["cpp"], hpp: ["cpp"],
  go: ["go"], golang: ["go"], java: ["java"], yaml: ["yaml"], yml: ["yaml"],
};

/** TeX shown as its source until the math library has drawn it (`display`: a block). */
function mathNode(tex, display, source) {
  const el = h(display ? "div" : "span", { class: display ? "math math-display" : "math", "data-tex": tex }, source);
  later("math", (lib) => lib.math(el, tex, display));
  return el;
}

// The highlighter and the math library, each imported on first use. While loading, the work
// waits; once loaded it runs at once (a streaming reply is drawn again every frame); if loading
// fails, the plain text stays.
const LIBRARIES = { highlight: () => import("./code-highlight.js"), math: () => import("./math.js") };
const libs = {};
function later(name, work) {
  const run = () => { try { work(libs[name].module); } catch { /* keep the plain text */ } };
  const lib = (libs[name] ??= { module: null, failed: false, loading: null });
  if (lib.module) { run(); return; }
  if (lib.failed) return;
  lib.loading ??= LIBRARIES[name]().then((m) => { lib.module = m; }, () => { lib.failed = true; });
  lib.loading.then(() => { if (lib.module) run(); });
}

/** A button that copies `text()` and says so ("Copied", or "Copy failed") for a moment. */
export function copyButton(text, label = "Copy", caption = "Copy") {
  const button = h("button", { type: "button", class: "ghost small copy", "aria-label": label, title: label }, caption);
  let timer = 0;
  button.addEventListener("click", async () => {
    const ok = await copyText(text());
    button.textContent = ok ? "Copied" : "Copy failed";
    button.classList.toggle("copied", ok);
    clearTimeout(timer);
    timer = setTimeout(() => { button.textContent = caption; button.classList.remove("copied"); }, 2000);
  });
  return button;
}

/** Copies text; works on plain-http LAN addresses too, where the Clipboard API is missing. */
export async function copyText(text) {
  try {
    if (navigator.clipboard && window.isSecureContext) { await navigator.clipboard.writeText(text); return true; }
  } catch { /* fall back below */ }
  const area = h("textarea", { style: "position:fixed;opacity:0", readonly: true });
  area.value = text;
  document.body.append(area);
  area.select();
  let ok = false;
  try { ok = document.execCommand("copy"); } catch { ok = false; }
  area.remove();
  return ok;
}

function inlineLines(lines) {
  const out = [];
  lines.forEach((line, k) => {
    const hard = / {2,}$|\\$/.test(line);
    out.push(inline(line.replace(/( {2,}|\\)$/, "")));
    if (k < lines.length - 1) out.push(hard ? h("br") : " ");
  });
  return out;
}

const INLINE = [
  ["code", /(`+)([^`]|[^`][\s\S]*?[^`])\1(?!`)/],
  ["display", /\$\$(?=\S)(.+?)\$\$|\\\[(.+?)\\\]/],
  ["math", /(?<![\\$\w])\$(?=[^\s$])((?:[^$\\\n]|\\.)*?[^\s\\$])\$(?![\w$])|\\\((.+?)\\\)/],
  ["link", /\[([^\]\n]+)\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/],
  ["auto", /<((?:https?:\/\/|mailto:)[^\s<>]+)>/],
  ["bold", /\*\*(?=\S)([\s\S]*?\S)\*\*|__(?=\S)([\s\S]*?\S)__/],
  ["strike", /~~(?=\S)([\s\S]*?\S)~~/],
  ["em", /\*(?=[^\s*])([^*]*?[^\s*])\*|(?<![\w])_(?=[^\s_])([^_]*?[^\s_])_(?![\w])/],
  ["url", /\bhttps?:\/\/[^\s<>"'`]+[^\s<>"'`.,;:!?)\]]/],
];

/** Inline Markdown → nodes; whatever is not markup stays text. */
export function inline(text) {
  const out = [];
  let rest = text;
  while (rest) {
    let best = null;
    for (const [kind, re] of INLINE) {
      const m = re.exec(rest);
      if (m && (!best || m.index < best.m.index)) best = { kind, m };
    }
    if (!best) { out.push(unescape(rest)); break; }
    const { kind, m } = best;
    if (m.index) out.push(unescape(rest.slice(0, m.index)));
    rest = rest.slice(m.index + m[0].length);
    switch (kind) {
      case "code": out.push(h("code", {}, m[2].replace(/^ (.*) $/, "$1"))); break;
      case "display": out.push(mathNode(m[1] ?? m[2], true, m[0])); break;
      case "math": out.push(mathNode(m[1] ?? m[2], false, m[0])); break;
      case "link": out.push(SAFE_URL.test(m[2]) ? link(m[2], inline(m[1])) : inline(m[1])); break;
      case "auto": case "url": out.push(link(m[1] || m[0], m[1] || m[0])); break;
      case "bold": out.push(h("strong", {}, inline(m[1] ?? m[2]))); break;
      case "strike": out.push(h("del", {}, inline(m[1]))); break;
      case "em": out.push(h("em", {}, inline(m[1] ?? m[2]))); break;
      default: break;
    }
  }
  return out;
}

function link(href, children) { return h("a", { href, target: "_blank", rel: "noopener noreferrer nofollow" }, children); }
function unescape(text) { return text.replace(/\\([\\`*_{}[\]()#+\-.!~|>])/g, "$1"); }
