// The audit viewer: one trace's events as a timeline and the chain's verification result. The API answers
// auditors and administrators only; everyone else sees a clear "not allowed".
import { api, el } from "./api.js";
import { mountSessionBar, sessionExpired } from "./session.js";

const AUDIT_PERMISSION = "audit.read";
const RECENT_KEY = "jidoka.recentTraces";
const denied = document.getElementById("denied");
const auditor = document.getElementById("auditor");
const verifyLine = document.getElementById("verify");
const traceForm = document.getElementById("trace-form");
const traceInput = document.getElementById("trace-id");
const traceStatus = document.getElementById("trace-status");
const timeline = document.getElementById("timeline");
const recent = document.getElementById("recent-traces");
const recentList = document.getElementById("recent");

const deny = (message) => {
  denied.textContent = message;
  denied.hidden = false;
  auditor.hidden = true;
};

const fail = (error) => {
  if (error.status === 401) sessionExpired();
  if (error.status === 403) deny(`Not allowed: ${error.message}`);
  return error.message;
};

async function verify() {
  verifyLine.textContent = "Checking the chain…";
  try {
    const report = await api("/v1/audit/verify");
    const head = report.head && typeof report.head === "object" ? report.head : null;
    verifyLine.replaceChildren(report.ok
      ? el("span", {}, el("span", { class: "badge", "data-status": "ok", text: "intact" }),
        ` ${report.checked} events checked${head && head.seq ? `, head at seq ${head.seq}` : ""}.`)
      : el("span", {}, el("span", { class: "badge", "data-status": "broken", text: "broken" }),
        ` first bad seq ${report.first_bad_seq ?? "?"}: ${report.reason || report.problem || "damaged"}`
        + ` (${report.checked} events checked before it).`));
  } catch (error) {
    verifyLine.textContent = fail(error);
  }
}

const decisionOf = (payload) => payload.effect || payload.decision || payload.verdict || payload.status || "";
const ruleOf = (payload) => payload.rule_id || (payload.decision && payload.decision.rule_id) || "";

function eventItem(event) {
  const payload = event.payload || {};
  const decision = decisionOf(payload);
  const rule = ruleOf(payload);
  const subject = payload.tool || payload.action || payload.name || "";
  return el("li", { "data-kind": event.kind },
    el("div", {}, el("span", { class: "kind", text: event.kind }), subject ? ` · ${subject}` : "",
      decision ? el("span", {}, " · ", el("span", { class: "badge", "data-status": decision, text: decision })) : ""),
    el("div", { class: "meta" },
      el("time", { datetime: event.ts, text: String(event.ts || "").replace("T", " ").replace(/(\.\d{3})\d*/, "$1").replace("+00:00", " UTC") }), ` · seq ${event.seq ?? "?"} · by ${event.user_id || "—"}`,
      rule ? el("span", {}, " · rule ", el("code", { text: rule })) : ""),
    el("details", {}, el("summary", { text: "Details" }),
      el("pre", { text: JSON.stringify(payload, null, 2) })));
}

function remember(traceId) {
  let ids = [];
  try { ids = JSON.parse(sessionStorage.getItem(RECENT_KEY) || "[]"); } catch { ids = []; }
  ids = [traceId, ...ids.filter((id) => id !== traceId)].slice(0, 10);
  sessionStorage.setItem(RECENT_KEY, JSON.stringify(ids));
  recent.replaceChildren(...ids.map((id) => el("option", { value: id })));
}

async function showTrace(traceId) {
  traceStatus.textContent = `Loading trace ${traceId}…`;
  traceStatus.className = "status-line";
  timeline.hidden = true;
  try {
    const body = await api(`/v1/audit?trace_id=${encodeURIComponent(traceId)}`);
    const events = Array.isArray(body) ? body : body.records || body.events || [];
    timeline.replaceChildren(...events.map(eventItem));
    timeline.hidden = !events.length;
    const masked = Array.isArray(body.masked_fields) && body.masked_fields.length
      ? ` Masked for you (shown as ***): ${body.masked_fields.join(", ")}.` : "";
    traceStatus.textContent = events.length ? `${events.length} events in trace ${traceId}.${masked}`
      : `No events with trace id ${traceId}.`;
    remember(traceId);
    history.replaceState(null, "", `/audit?trace=${encodeURIComponent(traceId)}`);
  } catch (error) {
    traceStatus.textContent = fail(error);
    traceStatus.className = "status-line error";
  }
}

/** The newest events' traces, as buttons to pick from (newest first). */
async function listRecent() {
  try {
    const body = await api("/v1/audit?limit=200&include_reads=false");
    const events = Array.isArray(body) ? body : body.records || [];
    const traces = new Map();
    for (const event of events) {
      const seen = traces.get(event.trace_id);
      if (!seen) traces.set(event.trace_id, { first: event, count: 1, kinds: new Set([event.kind]) });
      else { seen.count += 1; seen.kinds.add(event.kind); if (event.seq < seen.first.seq) seen.first = event; }
    }
    const newest = [...traces.entries()].sort((a, b) => b[1].first.seq - a[1].first.seq).slice(0, 12);
    recentList.replaceChildren(...newest.map(([traceId, info]) => el("li", {},
      el("button", { type: "button", class: "secondary", "data-trace": traceId, onclick: () => {
        traceInput.value = traceId;
        showTrace(traceId);
      } }, el("code", { text: traceId.slice(0, 12) }), ` · ${info.first.user_id} · ${info.first.ts.slice(0, 16).replace("T", " ")}`
        + ` · ${info.count} events${info.kinds.has("approval_requested") ? " · approval" : ""}`))));
    document.getElementById("recent-box").hidden = !newest.length;
  } catch (error) {
    fail(error);
  }
}

async function render(session) {
  denied.hidden = true;
  auditor.hidden = false;
  timeline.replaceChildren();
  timeline.hidden = true;
  traceStatus.textContent = "";
  if (!session || !session.token) {
    deny("Sign in as an auditor to read the audit trail.");
    return;
  }
  let me;
  try {
    me = await api("/v1/me");
  } catch (error) {
    deny(fail(error));
    return;
  }
  if (!(me.permissions || []).includes(AUDIT_PERMISSION)) {
    deny(`Not allowed: the audit trail is for auditors and administrators; ${me.id} (${(me.roles || []).join(", ")})`
      + ` lacks the ${AUDIT_PERMISSION} permission.`);
    return;
  }
  verify();
  listRecent();
  const fromUrl = new URLSearchParams(location.search).get("trace");
  if (fromUrl) {
    traceInput.value = fromUrl;
    showTrace(fromUrl);
  }
}

traceForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const traceId = traceInput.value.trim();
  if (traceId) showTrace(traceId);
});
document.getElementById("verify-again").addEventListener("click", verify);
mountSessionBar(document.getElementById("session"), render);
