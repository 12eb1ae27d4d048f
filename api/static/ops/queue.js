// The queue: the ticket list with the API's filters, search, sort and paging; a row opens the ticket.
import { get } from "./api.js";
import { $, el, say, when } from "./dom.js";

const LIST = "/api/v1/tickets";
let page = 1;
let token = null;
let onError = () => {};

export function startQueue(givenToken, showError) {
  token = givenToken;
  onError = showError;
  page = 1;
  return load();
}

export function markChanged() {
  $("queue-changed").hidden = false;
  $("queue-dot").hidden = false;
}

export function wireQueue() {
  $("queue-filters").addEventListener("submit", (event) => {
    event.preventDefault();
    page = 1;
    load();
  });
  $("queue-refresh").addEventListener("click", () => load());
  $("queue-prev").addEventListener("click", () => { page -= 1; load(); });
  $("queue-next").addEventListener("click", () => { page += 1; load(); });
  $("ticket-close").addEventListener("click", closeTicket);
  $("ticket").addEventListener("keydown", (event) => { if (event.key === "Escape") closeTicket(); });
}

function filters() {
  const form = new FormData($("queue-filters"));
  const params = { page };
  for (const [name, value] of form.entries()) params[name] = value;
  if (!params.sort_by) delete params.sort_by;
  return params;
}

async function load() {
  if (!token) return;
  try {
    const answer = await get(token, LIST, filters());
    $("queue-changed").hidden = true;
    $("queue-dot").hidden = true;
    showPage(answer);
  } catch (error) {
    onError(`The queue could not be loaded: ${error.message}`);
  }
}

function showPage(answer) {
  page = answer.page;
  $("queue").tBodies[0].replaceChildren(...answer.items.map(row));
  $("queue-caption").textContent = `${answer.total} tickets`;
  $("queue-page").textContent = `Page ${answer.page} of ${Math.max(answer.page_count, 1)}`;
  $("queue-prev").disabled = answer.page <= 1;
  $("queue-next").disabled = answer.page >= answer.page_count;
}

function row(ticket) {
  const open = () => openTicket(ticket.id);
  return el("tr", {
    tabindex: 0,
    class: "row",
    "data-id": ticket.id,
    "aria-label": `Open ${ticket.tracking_number}`,
    onclick: open,
    onkeydown: (event) => { if (event.key === "Enter" || event.key === " ") { event.preventDefault(); open(); } },
  },
  el("td", {}, ticket.tracking_number),
  el("td", {}, ticket.title),
  el("td", {}, el("span", { class: `status ${ticket.status_category}` }, ticket.status)),
  el("td", {}, ticket.priority),
  el("td", {}, ticket.category),
  el("td", {}, ticket.ward ?? "—"),
  el("td", {}, ticket.team_name ?? "—"),
  el("td", {}, ticket.sla_status ?? "—"),
  el("td", {}, when(ticket.created_at)));
}

function closeTicket() {
  $("ticket").hidden = true;
  const back = document.querySelector("#queue tbody tr");
  if (back) back.focus();
}

async function openTicket(id) {
  const body = $("ticket-body");
  body.replaceChildren(el("p", {}, "Loading…"));
  $("ticket").hidden = false;
  const path = `${LIST}/${encodeURIComponent(id)}`;
  const [ticket, history, replies] = await Promise.allSettled([
    get(token, path), get(token, `${path}/history`), get(token, `${path}/replies`),
  ]);
  if (ticket.status === "rejected") {
    say($("ticket-title"), "Ticket");
    body.replaceChildren(el("p", { class: "error" }, ticket.reason.message));
    return;
  }
  const t = ticket.value;
  $("ticket-title").textContent = `${t.tracking_number}: ${t.title}`;
  body.replaceChildren(record(t), sla(t), assignments(t.assignments || []), timeline(history), conversation(replies));
  $("ticket-title").focus();
}

function pairs(rows) {
  return el("dl", { class: "pairs" }, rows.map(([name, value]) => [el("dt", {}, name), el("dd", {}, value ?? "—")]));
}

function record(t) {
  return el("section", {}, el("h4", {}, "Record"), pairs([
    ["Status", `${t.status} (${t.status_category})`], ["Priority", t.priority], ["Severity", t.severity],
    ["Category", t.category], ["Ward", t.ward], ["Address", t.address], ["Team", t.team_name],
    ["Assignee", t.assignee_name ?? t.assignee_id], ["Opened", when(t.created_at)], ["Updated", when(t.updated_at)],
    ["Description", t.description],
  ]));
}

function sla(t) {
  return el("section", {}, el("h4", {}, "SLA"), pairs([
    ["Status", t.sla_status], ["Response due", when(t.response_due)], ["Responded", when(t.response_met_at)],
    ["Resolution due", when(t.resolution_due)], ["Resolved", when(t.resolution_met_at)],
    ["Escalation", t.escalation_level ? `level ${t.escalation_level}: ${t.escalation_reason ?? ""}` : "none"],
  ]));
}

function assignments(steps) {
  const items = steps.map((step) => el("li", {},
    el("strong", {}, step.event), ` ${when(step.at)} by ${step.assigned_by_name ?? step.actor} (${step.role})`,
    step.team_name ? ` · team ${step.team_name}` : "", step.assignee_name || step.assignee_id ? ` · ${step.assignee_name ?? step.assignee_id}` : "",
    step.reason ? ` · ${step.reason}` : ""));
  return el("section", {}, el("h4", {}, "Assignment history"), items.length ? el("ol", { class: "steps" }, items) : el("p", {}, "Never assigned."));
}

function timeline(result) {
  const title = el("h4", {}, "History");
  if (result.status === "rejected") return el("section", {}, title, el("p", { class: "error" }, result.reason.message));
  const items = result.value.items.map((entry) => el("li", {},
    el("time", { datetime: entry.at }, when(entry.at)), " ", el("strong", {}, entry.event), ` by ${entry.actor} (${entry.role})`,
    entry.event === "Opened" ? null : changes(entry.changes), entry.note ? el("p", { class: "note" }, entry.note) : null));
  return el("section", {}, title, el("ol", { class: "timeline" }, items));
}

function changes(values) {
  const shown = Object.entries(values || {}).filter(([, change]) => change && typeof change === "object" && "new" in change);
  if (!shown.length) return null;
  return el("ul", { class: "changes" }, shown.map(([name, change]) => el("li", {}, `${name}: ${text(change.old)} → ${text(change.new)}`)));
}

function text(value) {
  if (value === null || value === undefined) return "—";
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

function conversation(result) {
  const title = el("h4", {}, "Replies");
  if (result.status === "rejected") return el("section", {}, title, el("p", { class: "error" }, result.reason.message));
  const items = result.value.items.map((reply) => el("li", { class: reply.internal ? "internal" : "" },
    el("p", { class: "meta" }, `${reply.author} (${reply.role}) · ${when(reply.at)}${reply.internal ? " · internal" : ""}`),
    el("p", {}, reply.body)));
  return el("section", {}, title, items.length ? el("ol", { class: "replies" }, items) : el("p", {}, "No replies."));
}
