// The operations page: sign-in, the views, and the live stream that keeps them current.
import { get, stream } from "./api.js";
import { $, say } from "./dom.js";
import { beginSignIn, finishSignIn } from "./oidc.js";
import { markChanged, startQueue, wireQueue } from "./queue.js";
import { render } from "./views.js";

const KEPT = "docket.token"; // session storage: this tab only, gone when it closes
const VIEWS = ["figures", "volume", "sla", "workload", "queue"];
const LIVE = { live: "live", connecting: "connecting…", reconnecting: "reconnecting…", off: "offline" };
let token = null;
let stopStream = null;
let provider = null;
let batches = 0;

function claimsOf(jwt) {
  try {
    const part = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const bytes = Uint8Array.from(atob(part), (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (error) {
    return {};
  }
}

function refusal(error) {
  if (error.status === 401) return `That token was not accepted: ${error.message}`;
  if (error.status === 403) {
    return "This page is for the staff who read the dashboard (agents, managers, administrators, auditors and ward councillors). "
      + `Your token may not read it: ${error.message}`;
  }
  return `Signing in failed: ${error.message}`;
}

async function signIn(candidate) {
  say($("sign-in-error"), "");
  try {
    await get(candidate, "/api/v1/dashboard/metrics");
  } catch (error) {
    sessionStorage.removeItem(KEPT);
    say($("sign-in-error"), refusal(error));
    return;
  }
  token = candidate;
  sessionStorage.setItem(KEPT, token);
  $("token").value = "";
  enter(claimsOf(token));
}

function enter(claims) {
  $("sign-in").hidden = true;
  $("console").hidden = false;
  $("who").hidden = false;
  const role = typeof claims.role === "string" ? claims.role : "";
  $("who-name").textContent = [claims.sub, role, claims.tenant, claims.ward ? `ward ${claims.ward}` : ""].filter(Boolean).join(" · ");
  const ward = $("scope-ward");
  ward.disabled = role === "ward_councillor";
  ward.value = role === "ward_councillor" ? claims.ward || "" : "";
  say($("scope-note"), role === "ward_councillor" ? "Your ward's figures only." : "");
  const asked = location.hash.slice(1);
  select(VIEWS.includes(asked) ? asked : "figures", false);
  startQueue(token, showError);
  connect();
}

function signOut() {
  if (stopStream) stopStream();
  stopStream = null;
  token = null;
  sessionStorage.removeItem(KEPT);
  $("console").hidden = true;
  $("who").hidden = true;
  $("sign-in").hidden = false;
  $("token").focus();
}

function showError(message) {
  say($("error"), message);
}

function setLive(state) {
  const live = $("live");
  live.dataset.state = state;
  live.textContent = LIVE[state];
}

function scope() {
  return { ward: $("scope-ward").disabled ? "" : $("scope-ward").value, from: $("scope-from").value, to: $("scope-to").value };
}

function connect() {
  if (stopStream) stopStream();
  batches = 0;
  setLive("connecting");
  stopStream = stream(token, "/api/v1/dashboard/stream", scope(), {
    open: () => { setLive("live"); showError(""); },
    closed: () => setLive("reconnecting"),
    refused: (error) => { setLive("off"); showError(`The figures could not be loaded: ${error.message}`); },
    event: (name, value) => {
      if (name === "unavailable") return showError(value.message);
      if (!render[name]) return;
      render[name](value);
      if (name === "metrics" && batches++ > 0) markChanged(); // every batch after the first: figures changed
    },
  });
}

function select(view, focus = true) {
  for (const name of VIEWS) {
    const tab = $(`tab-${name}`);
    tab.setAttribute("aria-selected", String(name === view));
    tab.tabIndex = name === view ? 0 : -1;
    $(`view-${name}`).hidden = name !== view;
  }
  $("scope").hidden = view === "queue";
  history.replaceState(null, "", `#${view}`);
  if (focus) $(`tab-${view}`).focus();
}

function wire() {
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const candidate = $("token").value.trim().replace(/^Bearer\s+/i, "");
    if (candidate) signIn(candidate);
  });
  $("provider-sign-in").addEventListener("click", () => beginSignIn(provider));
  $("sign-out").addEventListener("click", signOut);
  $("scope").addEventListener("submit", (event) => { event.preventDefault(); connect(); });
  const tabs = document.querySelector(".tabs");
  tabs.addEventListener("click", (event) => {
    const tab = event.target.closest("[data-view]");
    if (tab) select(tab.dataset.view);
  });
  tabs.addEventListener("keydown", (event) => {
    const at = VIEWS.indexOf(document.activeElement.dataset.view);
    const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
    if (at >= 0 && step) select(VIEWS[(at + step + VIEWS.length) % VIEWS.length]);
  });
  wireQueue();
}

async function boot() {
  wire();
  const config = await fetch("/ops/config.json", { cache: "no-store" }).then((r) => r.json()).catch(() => ({}));
  provider = config.identity_provider || null;
  $("provider").hidden = !provider;
  try {
    const fromProvider = await finishSignIn(provider);
    if (fromProvider) return signIn(fromProvider);
  } catch (error) {
    say($("sign-in-error"), error.message);
  }
  const kept = sessionStorage.getItem(KEPT);
  if (kept) return signIn(kept);
  $("token").focus();
}

boot();
