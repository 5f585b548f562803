// Views whose APIs are still being built show what they will hold.

import { h } from "../format.js";

export function make(title, text) {
  return { mount(root) { root.replaceChildren(h("h1", {}, title), h("p", { class: "muted" }, text)); return () => {}; } };
}
