// Small SVG plots, drawn here (no charting library to fetch): a line chart
// over time and stacked bars per category. Each comes with its figures in
// a table under a <details>, for screen readers and for reading exact values.
import { h, t } from "./common.js";

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 720;
const HEIGHT = 220;
const PAD = { left: 48, right: 12, top: 12, bottom: 28 };
// Distinct and dark enough on white; style.css has the same list (.swatch.cN).
const COLOURS = ["#0b5cad", "#c2410c", "#047857", "#7c3aed", "#b45309", "#be185d", "#0e7490", "#4b5563"];

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) if (c) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

function niceMax(value) {
  if (value <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

function axes(root, yMax, yUnit, xTicks) {
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  for (let i = 0; i <= 4; i++) {
    const y = PAD.top + plotH - (plotH * i) / 4;
    root.append(svg("line", { x1: PAD.left, x2: WIDTH - PAD.right, y1: y, y2: y, class: "grid" }));
    const value = (yMax * i) / 4;
    root.append(svg("text", { x: PAD.left - 6, y: y + 4, "text-anchor": "end", class: "tick" }, `${Number.isInteger(value) ? value : value.toFixed(1)}${yUnit}`));
  }
  for (const [x, label] of xTicks) {
    root.append(svg("text", { x, y: HEIGHT - 8, "text-anchor": "middle", class: "tick" }, label));
  }
}

function legend(series) {
  return h(
    "ul",
    { class: "legend" },
    series.map((s, i) => h("li", {}, h("span", { class: `swatch c${i % COLOURS.length}`, "aria-hidden": "true" }), s.name)),
  );
}

function dataTable(caption, header, rows) {
  return h(
    "details",
    { class: "figures" },
    h("summary", {}, t("plot.figures")),
    h(
      "table",
      {},
      h("caption", {}, caption),
      h("thead", {}, h("tr", {}, header.map((x) => h("th", { scope: "col" }, x)))),
      h("tbody", {}, rows.map((r) => h("tr", {}, r.map((c, i) => (i === 0 ? h("th", { scope: "row" }, c) : h("td", {}, c)))))),
    ),
  );
}

/** Lines over time: `series: [{name, points: [{x: ms, y}]}]`. */
export function lineChart({ id, title, series, xFormat, yUnit = "" }) {
  // A point with y null is a gap (nothing measured): no line through it.
  const all = series.flatMap((s) => s.points).filter((p) => p.y !== null);
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const root = svg("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img", "aria-labelledby": `${id}-title`, class: "plot" });
  if (!all.length) {
    return h("figure", { id, class: "chart" }, h("figcaption", { id: `${id}-title` }, title), h("p", { class: "empty" }, t("plot.no_data")));
  }
  const x0 = Math.min(...all.map((p) => p.x));
  const x1 = Math.max(...all.map((p) => p.x));
  const yMax = niceMax(Math.max(...all.map((p) => p.y)));
  const sx = (x) => PAD.left + (x1 === x0 ? plotW / 2 : ((x - x0) / (x1 - x0)) * plotW);
  const sy = (y) => PAD.top + plotH - (y / yMax) * plotH;
  const ticks = [];
  const span = x1 - x0;
  // Six-hour ticks over a few days, whole days (about seven of them) beyond.
  const step = span <= 3 * 86_400_000 ? 6 * 3_600_000 : Math.max(1, Math.ceil(span / 86_400_000 / 7)) * 86_400_000;
  for (let x = x0; x <= x1; x += step) ticks.push([sx(x), xFormat(x)]);
  axes(root, yMax, yUnit, ticks);
  series.forEach((s, i) => {
    let pen = "M";
    const d = s.points
      .map((p) => {
        if (p.y === null) {
          pen = "M";
          return "";
        }
        const step = `${pen}${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`;
        pen = "L";
        return step;
      })
      .join("");
    root.append(svg("path", { d, fill: "none", stroke: COLOURS[i % COLOURS.length], "stroke-width": 2 }));
  });
  const rows = series[0].points.map((p, j) => [new Date(p.x).toISOString().slice(0, 13).replace("T", " ") + ":00", ...series.map((s) => formatY(s.points[j]?.y, yUnit))]);
  return h(
    "figure",
    { id, class: "chart" },
    h("figcaption", { id: `${id}-title` }, title),
    root,
    series.length > 1 ? legend(series) : null,
    dataTable(title, [t("plot.when"), ...series.map((s) => s.name)], rows),
  );
}

function formatY(y, unit) {
  if (y === undefined || y === null) return "–";
  return `${Number.isInteger(y) ? y : y.toFixed(1)}${unit}`;
}

/** Stacked bars per category: `series: [{name, values: [n per category]}]`; `share` draws percentages. */
export function stackedBars({ id, title, categories, series, share = false }) {
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const root = svg("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img", "aria-labelledby": `${id}-title`, class: "plot" });
  const totals = categories.map((_, j) => series.reduce((sum, s) => sum + (s.values[j] || 0), 0));
  if (!categories.length || totals.every((x) => x === 0)) {
    return h("figure", { id, class: "chart" }, h("figcaption", { id: `${id}-title` }, title), h("p", { class: "empty" }, t("plot.no_data")));
  }
  const yMax = share ? 100 : niceMax(Math.max(...totals));
  const band = plotW / categories.length;
  const barW = Math.max(2, band * 0.7);
  axes(
    root,
    yMax,
    share ? "%" : "",
    categories.map((c, j) => [PAD.left + band * j + band / 2, c]).filter((_, j) => categories.length <= 8 || j % 2 === 0),
  );
  categories.forEach((_, j) => {
    let base = 0;
    series.forEach((s, i) => {
      const raw = s.values[j] || 0;
      const value = share ? (totals[j] ? (100 * raw) / totals[j] : 0) : raw;
      if (value <= 0) return;
      const y = PAD.top + plotH - ((base + value) / yMax) * plotH;
      const height = (value / yMax) * plotH;
      root.append(
        svg("rect", { x: PAD.left + band * j + (band - barW) / 2, y, width: barW, height, fill: COLOURS[i % COLOURS.length] }, svg("title", {}, `${s.name}: ${raw}`)),
      );
      base += value;
    });
  });
  const rows = categories.map((c, j) => [c, ...series.map((s) => (share && totals[j] ? `${s.values[j] || 0} (${Math.round((100 * (s.values[j] || 0)) / totals[j])}%)` : String(s.values[j] || 0)))]);
  return h(
    "figure",
    { id, class: "chart" },
    h("figcaption", { id: `${id}-title` }, title),
    root,
    legend(series),
    dataTable(title, [t("plot.day"), ...series.map((s) => s.name)], rows),
  );
}
