// The approver inbox: the monitor's signals for the signed-in user (acknowledge, dismiss or override, each with a
// reason), requests they may decide (approve or reject with a comment), and the requests they made, with status;
// a "Decided" tab lists the requests no longer pending they may see, and `/inbox?request=ID` shows one request.
// The server decides who may see and decide what; this page only shows it.
import { api, describeApprovers, display, el, readSession, when } from "./api.js";
import { mountDecided } from "./decided.js";
import { mountSessionBar, sessionExpired } from "./session.js";
import { configureSignals, loadSignals, showRequests, signalCard } from "./signals.js";
import { mountTabs } from "./tabs.js";

const statusLine = document.getElementById("status");
const signalList = document.getElementById("signals");
const pendingList = document.getElementById("pending");
const mineList = document.getElementById("mine");
const refreshButton = document.getElementById("refresh");
const detail = document.getElementById("detail");
const detailBody = document.getElementById("detail-body");
const decidedPanel = document.getElementById("panel-decided");
const REFRESH_MS = 15000;

const say = (text, kind = "") => {
  statusLine.textContent = text;
  statusLine.className = `status-line ${kind}`;
};

const groupsOf = (request) => request.approvers || request.groups || [];
const valueOf = (request) => request.value_usd ?? (request.subject || {}).value_usd;

/** True when the signed-in user could decide this request now (the server checks again on the decision). */
function mayDecide(request, userId) {
  if (typeof request.may_decide === "boolean") return request.may_decide;
  if (typeof request.can_decide === "boolean") return request.can_decide;
  if (request.status !== "pending" || request.requester === userId) return false;
  if ((request.decisions || []).some((d) => d.approver === userId)) return false;
  const approved = new Set((request.decisions || []).filter((d) => d.decision === "approve").map((d) => d.group_index));
  return groupsOf(request).some((group, index) => !approved.has(index)
    && (group.eligible_user_ids || group.eligible || []).includes(userId));
}


function argumentsTable(request) {
  const args = request.args || {};
  const names = Object.keys(args);
  if (!names.length) return el("p", { class: "empty", text: "No arguments." });
  return el("table", {},
    el("caption", { text: "Arguments (exactly what will run)" }),
    el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "Argument" }), el("th", { scope: "col", text: "Value" }))),
    el("tbody", {}, names.map((name) => el("tr", {}, el("th", { scope: "row" }, el("code", { text: name })),
      el("td", {}, el("code", { text: display(args[name]) }))))));
}

/** The signal a request was made for (its thread is ``signal:SIG-…``), or "". */
const signalOf = (request) => {
  const thread = String(request.thread_id || "");
  return thread.startsWith("signal:") ? thread.slice("signal:".length) : "";
};

/** A link to a signal's card on this page. */
const signalLink = (signalId) => el("a", { href: `#signal-${signalId}`, class: "from-signal" },
  "from signal ", el("code", { text: signalId }));

function facts(request) {
  const value = valueOf(request);
  const rows = [
    ["Requested by", request.requester],
    ["Their reason", (request.args || {}).reason],
    ["What it does", request.summary || (request.subject || {}).summary],
    ["Site", request.site],
    ["Why approval is needed", request.reason],
    ["Policy rule", request.rule_id],
    ["Value", typeof value === "number" ? value.toLocaleString("en-US", { style: "currency", currency: "USD" }) : value],
    ["Approvers", describeApprovers(groupsOf(request))],
    ["Repeated requests", request.probing_note],
    ["Requested", when(request.created_at)],
    ["Expires", when(request.expires_at)],
  ];
  const list = el("dl", { class: "facts" });
  for (const [label, value] of rows) {
    if (value === undefined || value === null || value === "") continue;
    list.append(el("dt", { text: label }), el("dd", {}, label === "Policy rule" ? el("code", { text: value }) : value));
  }
  const decisions = request.decisions || [];
  if (decisions.length) {
    list.append(el("dt", { text: "Decisions" }), el("dd", {}, el("ul", {}, decisions.map((d) => el("li", {
      text: `${d.approver} ${d.decision === "approve" ? "approved" : "rejected"} ${when(d.decided_at)}${d.comment ? `: “${d.comment}”` : ""}`,
    })))));
  }
  return list;
}

function decisionForm(request) {
  const fieldId = `comment-${request.id}`;
  const comment = el("textarea", { id: fieldId, rows: "2", maxlength: "2000" });
  const form = el("form", { class: "decide", "aria-label": `Decide ${request.id}` },
    el("label", { for: fieldId, text: "Comment (recorded in the audit trail)" }), comment);
  const buttons = ["approve", "reject"].map((verb) => el("button", {
    type: "button", class: verb === "reject" ? "danger" : "", "data-verb": verb,
    text: verb === "approve" ? "Approve" : "Reject",
    onclick: () => decide(request, verb, comment.value.trim(), buttons),
  }));
  form.append(el("div", { class: "buttons" }, buttons));
  form.addEventListener("submit", (event) => event.preventDefault());
  return form;
}

function undoForm(request) {
  const button = el("button", { type: "button", class: "secondary", text: "Undo this change",
    onclick: () => decide(request, "undo", "", [button]) });
  return el("div", { class: "decide" }, button);
}

function card(request, userId, decidable) {
  const headingId = `req-${request.id}`;
  return el("article", { class: "request", "data-status": request.status, "data-request": request.id,
    "aria-labelledby": headingId },
    el("h3", { id: headingId }, el("span", { text: request.action }), el("code", { text: request.id }),
      el("span", { class: "badge", "data-status": request.status, text: request.status }),
      signalOf(request) ? signalLink(signalOf(request)) : null),
    argumentsTable(request), facts(request),
    decidable ? decisionForm(request) : null,
    request.may_undo ?? (request.requester === userId && request.status === "executed") ? undoForm(request) : null,
    request.outcome ? el("p", { class: "note" }, "Outcome: ", request.outcome) : null);
}

async function decide(request, verb, comment, buttons) {
  for (const button of buttons) button.disabled = true;
  say(`Sending your decision on ${request.id}…`);
  try {
    const result = await api(`/v1/approvals/${encodeURIComponent(request.id)}/${verb}`, {
      method: "POST", body: comment ? { comment } : {},
    });
    const after = (result && (result.status || (result.request && result.request.status))) || "updated";
    const past = { approve: "approved", reject: "rejected", undo: "undone" }[verb];
    const resumeError = result && result.resume_error ? ` The thread did not resume yet: ${result.resume_error}` : "";
    say(`You ${past} ${request.id}; its status is now ${after}.${resumeError}`, "ok");
    await load();
  } catch (error) {
    if (error.status === 401) sessionExpired();
    say(error.message, "error");
    for (const button of buttons) button.disabled = false;
  }
}

const decided = mountDecided({ list: document.getElementById("decided"), more: document.getElementById("decided-more"),
  filter: document.getElementById("decided-status"), say, expired: () => sessionExpired() });

/** The request named by `?request=ID`, as a card (with the decision form when the user may decide it). */
async function loadDetail(userId) {
  const requestId = new URLSearchParams(window.location.search).get("request");
  detail.hidden = !requestId;
  if (!requestId) return;
  try {
    const request = await api(`/v1/approvals/${encodeURIComponent(requestId)}`);
    detailBody.replaceChildren(card(request, userId, mayDecide(request, userId)));
  } catch (error) {
    if (error.status === 401) sessionExpired();
    detailBody.replaceChildren(el("p", { class: "empty", text: error.status === 404
      ? `No request ${requestId} that you may see.` : error.message }));
  }
}

let shown = "";

async function load({ quiet = false } = {}) {
  const session = readSession();
  if (!session || !session.token) {
    signalList.replaceChildren(el("p", { class: "empty", text: "Sign in to see signals." }));
    pendingList.replaceChildren(el("p", { class: "empty", text: "Sign in to see requests." }));
    mineList.replaceChildren();
    detail.hidden = true;
    decided.clear();
    return;
  }
  const userId = (session.user || {}).id;
  refreshButton.disabled = true;
  if (!quiet) await Promise.all([loadDetail(userId), decidedPanel.hidden ? null : decided.load()]);
  try {
    const [body, signalBody] = await Promise.all([api("/v1/approvals"), loadSignals()]);
    const requests = Array.isArray(body) ? body : body.approvals || body.requests || [];
    const signals = signalBody.signals;
    const snapshot = JSON.stringify([requests, signals, signalBody.note]);
    if (quiet && snapshot === shown) return; // nothing new: leave the page (and the reader's place) alone
    shown = snapshot;
    showRequests(requests);
    const pending = requests.filter((r) => mayDecide(r, userId));
    const mine = requests.filter((r) => r.requester === userId);
    pendingList.replaceChildren(...(pending.length ? pending.map((r) => card(r, userId, true))
      : [el("p", { class: "empty", text: "Nothing waits for your decision." })]));
    mineList.replaceChildren(...(mine.length ? mine.map((r) => card(r, userId, false))
      : [el("p", { class: "empty", text: "You have not requested anything." })]));
    // After the request cards: a signal's proposals link to them when they are on the page.
    signalList.replaceChildren(...(signals.length ? signals.map(signalCard)
      : [el("p", { class: signalBody.note ? "note" : "empty", text: signalBody.note || "No active signals for you." })]));
  } catch (error) {
    if (error.status === 401) sessionExpired();
    say(error.message, "error");
  } finally {
    refreshButton.disabled = false;
  }
}

refreshButton.addEventListener("click", () => { say(""); load(); });
// New requests appear on their own; never while the user is writing a comment or working in the list.
setInterval(() => {
  const active = document.activeElement;
  const busy = [...document.querySelectorAll(".decide textarea, .decide input")].some((t) => t.value.trim())
    || (active && active !== document.body && [signalList, pendingList, mineList].some((list) => list.contains(active)));
  if (!document.hidden && !busy && readSession()) load({ quiet: true });
}, REFRESH_MS);
configureSignals({ say, reload: () => load() });
const selectTab = mountTabs(document.querySelector('[role="tablist"]'), (tab) => {
  if (tab.id === "tab-decided" && readSession()) decided.load();
});
if (window.location.hash === "#decided") selectTab("tab-decided");
mountSessionBar(document.getElementById("session"), () => { say(""); load(); });
