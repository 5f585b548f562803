// A small, safe Markdown renderer for model output. It builds DOM nodes directly (text nodes
// and a fixed set of elements), never HTML strings, so nothing a model writes can inject markup
// or script. Supported: paragraphs, headings, fenced code (with a copy button), lists, quotes,
// tables, rules, `code`, **bold**, *italic*, ~~strike~~, links (http, https, mailto only).

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

function startsBlock(lines, i) {
  const line = lines[i];
  return /^\s{0,3}(`{3,}|~{3,}|#{1,6}\s|>)/.test(line) || /^\s{0,3}([-*_])(\s*\1){2,}\s*$/.test(line) || listItem(line) || isTableStart(lines, i);
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
  const button = h("button", { type: "button", class: "ghost small copy", "aria-label": "Copy code" }, "Copy");
  button.addEventListener("click", async () => {
    const ok = await copyText(code);
    button.textContent = ok ? "Copied" : "Copy failed";
    setTimeout(() => { button.textContent = "Copy"; }, 1500);
  });
  return h("div", { class: "codeblock" }, h("header", {}, h("span", {}, lang || "code"), button),
    h("pre", {}, h("code", lang ? { "data-lang": lang } : {}, code)));
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
