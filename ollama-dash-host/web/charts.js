// Time-series charts on uPlot (vendor/uplot, MIT), loaded from our origin on first use.
// A chart's box has a fixed height from the start, so drawing, redrawing and live points never
// move the page; hovering shows every series' value at the cursor in the legend.

import { h } from "./format.js";

/** The windows the pickers offer: [query value, label, seconds]. */
export const WINDOWS = [["10m", "10 min", 600], ["1h", "1 h", 3600], ["24h", "24 h", 86400], ["7d", "7 d", 604800]];

const PALETTE = ["#3563e9", "#16a34a", "#d97706", "#dc2626", "#9333ea", "#0891b2", "#db2777", "#65a30d"];

/** The colour of series `i`. */
export function colour(i) { return PALETTE[i % PALETTE.length]; }

let loading = null;
/** Loads uPlot's script and stylesheet once; resolves to its constructor. */
export function loadUplot() {
  if (window.uPlot) return Promise.resolve(window.uPlot);
  if (!loading) {
    loading = new Promise((resolve, reject) => {
      const css = h("link", { rel: "stylesheet", href: new URL("./vendor/uplot/uPlot.min.css", import.meta.url).href });
      const script = h("script", { src: new URL("./vendor/uplot/uPlot.iife.min.js", import.meta.url).href });
      script.addEventListener("load", () => (window.uPlot ? resolve(window.uPlot) : reject(new Error("the chart library did not start"))));
      script.addEventListener("error", () => { loading = null; reject(new Error("could not load the chart library")); });
      document.head.append(css, script);
    });
  }
  return loading;
}

/** A row of toggle buttons for the time window; `onChange(value)` on a new choice. */
export function windowPicker(initial, onChange, label = "Time window") {
  const buttons = WINDOWS.map(([value, text]) => h("button", {
    type: "button", "data-window": value, "aria-pressed": String(value === initial),
    onclick: () => {
      for (const b of buttons) b.setAttribute("aria-pressed", String(b.dataset.window === value));
      onChange(value);
    },
  }, text));
  return h("div", { class: "tabs window-picker", role: "group", "aria-label": label }, buttons);
}

/** Seconds of a window value ("1h" → 3600). */
export function windowSeconds(value) { return (WINDOWS.find(([v]) => v === value) || WINDOWS[0])[2]; }

function cssVar(name, fallback) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

/**
 * A chart of series over time. `fmt` formats a value (axis and legend); `max` fixes the top of
 * the y axis (100 for percentages), otherwise it follows the data from 0; `span()` (seconds)
 * makes the x axis the whole window up to now; `dots` marks every point, `spanGaps` joins
 * points across empty buckets.
 * Returns `{ card, set(xs, columns, series), push(x, values, keepSeconds) }`; xs are Unix seconds,
 * `series` is `[{ label, colour?, dash? }]`, one per column.
 */
export function timeChart({ title, id, fmt = (v) => String(v), max = null, height = 170, span = null, dots = false, spanGaps = false }) {
  const box = h("div", { class: "chart-box" });
  const empty = h("p", { class: "chart-empty muted small" }, "No data in this window yet.");
  const card = h("section", { class: "card chart", "data-chart": id, "aria-label": title }, h("h3", {}, title), box, empty);
  let plot = null;
  let labels = "";
  let data = [[]];
  let building = null;
  const observer = new ResizeObserver(() => { if (plot && box.clientWidth) plot.setSize({ width: box.clientWidth, height }); });
  observer.observe(box);
  // The library loads, and the plot is made, only once the chart is near the screen: a chart
  // below the fold costs nothing until it is scrolled to.
  let near = false;
  let waiting = null;
  const seen = new IntersectionObserver((entries) => {
    if (!entries.some((e) => e.isIntersecting)) return;
    near = true;
    seen.disconnect();
    if (waiting) draw(waiting);
  }, { rootMargin: "150px" });
  seen.observe(card);

  async function build(series) {
    const uPlot = await loadUplot();
    plot?.destroy();
    const axis = { stroke: cssVar("--muted", "#5b6470"), grid: { stroke: cssVar("--border", "#e1e4e8"), width: 1 }, ticks: { show: false } };
    plot = new uPlot({
      width: box.clientWidth || 300,
      height,
      cursor: { drag: { x: false, y: false } },
      legend: { live: true },
      scales: {
        // With a `span` the x axis is the whole window up to now, however little data there is.
        x: { time: true, range: span ? (u, lo, hi) => { const end = Math.max(hi ?? 0, Date.now() / 1000); return [end - span(), end]; } : undefined },
        y: { range: (u, lo, hi) => [0, max ?? (hi > 0 ? hi * 1.15 : 1)] },
      },
      axes: [axis, { ...axis, size: 62, values: (u, ticks) => ticks.map(fmt) }],
      series: [
        { value: (u, v) => (v == null ? "–" : new Date(v * 1000).toLocaleString()) },
        ...series.map((s, i) => ({
          label: s.label, stroke: s.colour || colour(i), width: 1.6, dash: s.dash, spanGaps,
          points: dots ? { show: true, size: 5, fill: s.colour || colour(i) } : { show: false },
          value: (u, v) => (v == null ? "–" : fmt(v)),
        })),
      ],
    }, data, box);
    card.dataset.series = String(series.length);
  }

  function draw(series) {
    const key = JSON.stringify(series);
    empty.hidden = data[0].length > 0;
    if (!near) { waiting = series; return Promise.resolve(); }
    if (key !== labels) {
      labels = key;
      // The plot is made with the data as it is once uPlot has loaded.
      building = build(series).catch((e) => { empty.hidden = false; empty.textContent = e.message; });
      return building;
    }
    if (plot) plot.setData(data);
    return building;
  }

  return {
    card,
    /** Replaces everything shown. */
    set(xs, columns, series) {
      data = [xs, ...columns];
      card.dataset.points = String(xs.length);
      return draw(series);
    },
    /** Appends one point per series (live data) and drops what fell out of the window. */
    push(x, values, keepSeconds) {
      if (data.length !== values.length + 1 || (data[0].length && x <= data[0][data[0].length - 1])) return;
      data[0].push(x);
      values.forEach((v, i) => data[i + 1].push(v));
      while (data[0].length && data[0][0] < x - keepSeconds) data.forEach((column) => column.shift());
      card.dataset.points = String(data[0].length);
      empty.hidden = true;
      if (plot) plot.setData(data);
    },
    destroy() { observer.disconnect(); seen.disconnect(); plot?.destroy(); plot = null; },
  };
}
