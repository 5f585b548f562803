// Math for chat replies: TeX drawn as MathML by Temml (vendor/temml/), imported by markdown.js
// only when a reply has math. Temml builds MathML elements (no markup from strings, `\href` and
// other trusted commands off); on a TeX error the source stays as text.

import temml from "./vendor/temml/temml.min.js";
import { h } from "./format.js";

/** Draws `tex` into `el` as MathML; false (and the source kept, marked) on a TeX error. */
export function math(el, tex, display) {
  const box = h(display ? "div" : "span");
  try {
    temml.render(tex, box, { displayMode: display, throwOnError: true, trust: false });
  } catch (e) {
    el.classList.add("math-error");
    el.title = `Not rendered: ${e.message}`;
    return false;
  }
  el.replaceChildren(...box.childNodes);
  el.classList.add("math-done");
  return true;
}
