// Code highlighting for chat replies, imported by markdown.js only when a reply has a code block
// in a language it knows; each grammar is its own module (vendor/lezer/, built by
// scripts/vendor-web.sh), fetched the first time a block needs it. Lezer's highlighter hands us
// text runs with their token classes and we put each run in a span: model output stays text.

import { classHighlighter, highlightCode } from "./vendor/lezer/highlight.js";
import { LANGUAGES } from "./markdown.js";
import { h } from "./format.js";

const grammars = new Map(); // fence name → { parser (once loaded), promise }

function grammar(lang) {
  let g = grammars.get(lang);
  if (!g) {
    const [file, dialect] = LANGUAGES[lang];
    g = { parser: null };
    g.promise = import(`./vendor/lezer/${file}.js`).then(({ parser }) => {
      g.parser = dialect ? parser.configure({ dialect }) : parser;
      return g.parser;
    });
    grammars.set(lang, g);
  }
  return g;
}

/** Replaces `el`'s text with highlighted runs of `code` (`span.tok-…`). */
function paint(el, code, parser) {
  const out = document.createDocumentFragment();
  highlightCode(code, parser.parse(code), classHighlighter,
    (text, classes) => out.append(classes ? h("span", { class: classes }, text) : text),
    () => out.append("\n"));
  el.replaceChildren(out);
}

/**
 * Highlights `el` (showing `code` in `lang`) at once when the grammar is loaded (a streaming
 * reply is drawn again every frame), else when it arrives; if it cannot load, the text stays.
 */
export function highlight(el, code, lang) {
  if (!LANGUAGES[lang]) return;
  const g = grammar(lang);
  if (g.parser) paint(el, code, g.parser);
  else g.promise.then((parser) => paint(el, code, parser), () => {});
}
