// Grouped horizontal bar charts drawn as SVG: one row per item, one bar per series.
import { el, svg } from "./dom.js";

const ROW = 30;
const BAR = 11;
const LABEL = 130;
const WIDTH = 560;

export function barChart(title, items, series) {
  if (!items.length) return el("p", { class: "empty" }, "Nothing to show for this scope.");
  const most = Math.max(1, ...items.flatMap((item) => series.map((s) => Number(item[s.field]) || 0)));
  const span = WIDTH - LABEL - 50;
  const height = items.length * ROW + 10;
  const chart = svg("svg", {
    viewBox: `0 0 ${WIDTH} ${height}`,
    role: "img",
    "aria-label": title,
    class: "bars",
    preserveAspectRatio: "xMinYMin meet",
  });
  items.forEach((item, row) => {
    const top = row * ROW + 5;
    const group = svg("g", { "data-key": item.key });
    group.append(svg("text", { x: LABEL - 8, y: top + ROW / 2, class: "label", "text-anchor": "end" }, clip(item.label)));
    series.forEach((s, n) => {
      const value = Number(item[s.field]) || 0;
      const y = top + 2 + n * (BAR + 2);
      const width = Math.max(value ? 2 : 0, (value / most) * span);
      group.append(
        svg("rect", { x: LABEL, y, width, height: BAR, class: `bar ${s.class}`, "data-series": s.field, "data-value": value },
          svg("title", {}, `${item.label}: ${value} ${s.name}`)),
        svg("text", { x: LABEL + width + 4, y: y + BAR - 1, class: "value" }, String(value)),
      );
    });
    chart.append(group);
  });
  return el("figure", {}, chart, legend(series), table(title, items, series));
}

function legend(series) {
  return el("figcaption", { class: "legend" }, series.map((s) => el("span", { class: `key ${s.class}` }, s.name)));
}

// The same figures as a table, for screen readers and for copying.
function table(title, items, series) {
  return el("table", { class: "visually-hidden" },
    el("caption", {}, title),
    el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Name"), series.map((s) => el("th", { scope: "col" }, s.name)))),
    el("tbody", {}, items.map((item) => el("tr", {}, el("th", { scope: "row" }, item.label), series.map((s) => el("td", {}, String(item[s.field])))))));
}

function clip(text) {
  const value = String(text);
  return value.length > 18 ? `${value.slice(0, 17)}…` : value;
}
