// The four views of the dashboard's figures, each drawn from what its endpoint answers.
import { barChart } from "./charts.js";
import { $, el, figure } from "./dom.js";

const METRICS = [
  ["total_open", "Open", ""],
  ["total_resolved", "Resolved", ""],
  ["sla_compliance_percent", "SLA compliance", " %"],
  ["avg_response_hours", "Average response", " h"],
  ["sla_breaches", "SLA breaches", ""],
];
const SLA = [
  ["response_compliance_percent", "Response compliance", " %"],
  ["resolution_compliance_percent", "Resolution compliance", " %"],
  ["total_with_sla", "Tickets with an SLA", ""],
  ["response_breaches", "Response breaches", ""],
  ["resolution_breaches", "Resolution breaches", ""],
];

function cards(node, values, labels) {
  node.replaceChildren(
    ...labels.map(([field, label, unit]) =>
      el("div", { class: "card" },
        el("dt", {}, label),
        el("dd", { "data-figure": field, "data-value": JSON.stringify(values[field] ?? null) }, figure(values[field], unit)))),
  );
}

export const render = {
  metrics(values) {
    cards($("figures"), values, METRICS);
  },
  sla(values) {
    cards($("sla"), values, SLA);
    const rows = [
      { key: "response", label: "Response", met: values.response_compliance_percent ?? 0 },
      { key: "resolution", label: "Resolution", met: values.resolution_compliance_percent ?? 0 },
    ];
    $("sla-chart").replaceChildren(barChart("SLA compliance, per cent", rows, [{ field: "met", name: "% within SLA", class: "met" }]));
  },
  volume(items) {
    const rows = items.map((item) => ({ ...item, key: item.category, label: item.category }));
    $("volume-chart").replaceChildren(barChart("Open and resolved tickets per category", rows, [
      { field: "open", name: "open", class: "open" },
      { field: "resolved", name: "resolved", class: "resolved" },
    ]));
  },
  workload(items) {
    const rows = items.map((item) => ({ ...item, key: item.team_id, label: item.team_name }));
    $("workload-chart").replaceChildren(barChart("Open and total tickets per team", rows, [
      { field: "open_count", name: "open", class: "open" },
      { field: "total_count", name: "total", class: "total" },
    ]));
  },
};
