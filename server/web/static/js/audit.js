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

const ids = (list) => (Array.isArray(list) ? list.filter(Boolean) : []);
const codes = (list) => ids(list).flatMap((id, i) => [i ? ", " : "", el("code", { text: id })]);
const RESPONSE_WORDS = { acknowledge: "Acknowledged", dismiss: "Dismissed", override: "Override" };

/** A readable line for the monitor's events (runs, signal changes, people's responses); null for the others. */
function summaryOf(event) {
  const p = event.payload || {};
  if (event.kind === "signal_response") {
    const refused = p.effect === "deny";
    const kind = p.override || p.response === "override" ? "override" : p.response;
    const alt = p.alternative && typeof p.alternative === "object" ? p.alternative : null;
    return el("p", { class: "summary" },
      el("span", { class: "badge", "data-status": kind === "override" ? "override" : p.response,
        text: refused ? `${p.response} refused` : RESPONSE_WORDS[kind] || kind || "response" }),
      kind === "override" && !refused ? " recommendation declined" : "",
      " on signal ", el("code", { text: p.signal_id || "?" }), ` by ${p.user_id || event.user_id || "—"}`,
      p.status ? ` → ${p.status}` : "",
      el("br"), refused ? "Refused: " : "Reason: ", el("q", { text: p.reason || "" }),
      ids(p.recommendations).length ? el("span", {}, el("br"), "Recommendation requests: ", ...codes(p.recommendations)) : "",
      ids(p.declined).length ? el("span", {}, el("br"), "Declined: ", ...codes(p.declined)) : "",
      alt ? el("span", {}, el("br"), "Instead: ", el("code", { text: alt.action || "?" }), ` · ${alt.effect || ""}`,
        alt.request_id ? el("span", {}, " · ", el("code", { text: alt.request_id })) : "") : "");
  }
  if (event.kind === "signal") {
    const proposal = p.proposal && typeof p.proposal === "object" ? p.proposal : null;
    return el("p", { class: "summary" }, `Signal ${p.change || "changed"}: `, el("code", { text: p.signal_id || "?" }),
      ` · ${p.detector || "?"} at ${p.site_id || "?"} → ${p.role || "?"}${p.severity ? ` (${p.severity})` : ""}`,
      p.title ? el("span", {}, el("br"), p.title) : "",
      proposal ? el("span", {}, el("br"), "Proposal: ", el("code", { text: proposal.action || "?" }),
        ` · ${proposal.effect || ""}`, proposal.request_id ? el("span", {}, " · ", el("code", { text: proposal.request_id })) : "") : "");
  }
  if (event.kind === "monitor_run") {
    if (p.status === "skipped") return el("p", { class: "summary", text: `Monitor run skipped: another runner holds the lock (${p.holder || "?"}).` });
    const n = (key) => ids(p[key]).length;
    return el("p", { class: "summary" }, `Monitor run ${p.status || ""}: ${n("detectors_run")} detector runs, `
      + `${n("opened")} opened, ${n("updated")} updated, ${n("resolved")} resolved, ${n("escalated")} escalated, `
      + `${n("proposed")} requests made, ${n("settled")} approved requests executed`
      + `${n("errors") ? `, ${n("errors")} detector errors` : ""}.`);
  }
  return null;
}

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
    summaryOf(event),
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
      const override = event.kind === "signal_response" && Boolean((event.payload || {}).override);
      if (!seen) traces.set(event.trace_id, { first: event, count: 1, kinds: new Set([event.kind]), override });
      else {
        seen.count += 1;
        seen.kinds.add(event.kind);
        seen.override ||= override;
        if (event.seq < seen.first.seq) seen.first = event;
      }
    }
    const newest = [...traces.entries()].sort((a, b) => b[1].first.seq - a[1].first.seq).slice(0, 12);
    recentList.replaceChildren(...newest.map(([traceId, info]) => el("li", {},
      el("button", { type: "button", class: "secondary", "data-trace": traceId, onclick: () => {
        traceInput.value = traceId;
        showTrace(traceId);
      } }, el("code", { text: traceId.slice(0, 12) }), ` · ${info.first.user_id} · ${info.first.ts.slice(0, 16).replace("T", " ")}`
        + ` · ${info.count} events${info.kinds.has("approval_requested") ? " · approval" : ""}`
        + `${info.kinds.has("monitor_run") ? " · monitor run" : ""}`
        + `${info.override ? " · signal override" : info.kinds.has("signal_response") ? " · signal response" : ""}`))));
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
