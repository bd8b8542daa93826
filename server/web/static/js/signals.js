// The monitor's signals in the approver inbox: a card per signal (evidence, figures, proposals, responses) and the
// acknowledge / dismiss / override form, each response with a reason. The server decides who sees and may respond.
import { api, display, el, when } from "./api.js";
import { sessionExpired } from "./session.js";

/** Wire the cards to the page: its status line and its reload; ``requests`` are the request cards on the page. */
export function configureSignals({ say, reload }) {
  hooks = { say, reload };
}

/** The request cards now on the page (a proposal links to its card when there is one). */
export function showRequests(requests) {
  requestsById = new Map(requests.map((r) => [r.id, r]));
}


const RESPONSES = {
  acknowledge: { label: "Acknowledge", past: "acknowledged", cls: "secondary" },
  dismiss: { label: "Dismiss", past: "dismissed", cls: "secondary" },
  override: { label: "Override", past: "overrode", cls: "danger" },
};
const RESPONDED = { acknowledge: "acknowledged", dismiss: "dismissed", override: "overrode the recommendation" };
const MIN_REASON = 3;
const ACTION_NAME = /^[a-z][a-z0-9_]{0,63}$/;
let requestsById = new Map();
let hooks = { say: () => {}, reload: async () => {} };

function figuresTable(signal) {
  const figures = signal.figures || {};
  const names = Object.keys(figures);
  if (!names.length) return null;
  const masked = new Set(signal.masked_figures || []);
  return el("details", { class: "figures" }, el("summary", { text: `Figures (${names.length})${masked.size ? ", some masked for you" : ""}` }),
    el("table", {},
    el("caption", { text: `Figures as of ${signal.as_of || "—"}` }),
    el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "Figure" }), el("th", { scope: "col", text: "Value" }))),
    el("tbody", {}, names.map((name) => el("tr", {}, el("th", { scope: "row" }, el("code", { text: name })),
      el("td", {}, el("code", { text: display(figures[name]) }), masked.has(name) ? " (masked for you)" : ""))))));
}

/** A request id: a link to its card when that card is on this page. */
function requestRef(requestId) {
  if (!requestId) return el("span", { text: "no request" });
  const shown = document.getElementById(`req-${requestId}`);
  return el("span", {}, shown ? el("a", { href: `#req-${requestId}` }, el("code", { text: requestId }))
    : el("code", { text: requestId }));
}

function proposalItem(proposal, signal) {
  // The request's status: from the approvals list when it is there (pending for the caller, or theirs); a request
  // an override declined was rejected by it; else what the signal knows (the settled status, or the gate's effect).
  const request = proposal.request_id ? requestsById.get(proposal.request_id) : null;
  const decliner = (signal.responses || []).find((r) => (r.declined || []).includes(proposal.request_id));
  const status = (request && request.status) || (decliner ? "rejected" : "") || proposal.status || proposal.effect || "";
  return el("li", { "data-request": proposal.request_id || "" },
    el("code", { text: proposal.action || "?" }), " · ",
    el("span", { class: "badge", "data-status": status, text: String(status).replace(/_/g, " ") }),
    proposal.request_id ? el("span", {}, " · request ", requestRef(proposal.request_id)) : "",
    proposal.by ? ` · asked by ${proposal.by}` : " · proposed by the monitor",
    decliner && !request ? ` · declined by ${decliner.user_id}'s override` : "",
    proposal.reason ? el("div", { class: "note", text: proposal.reason }) : null);
}

function responseItem(response) {
  const verb = RESPONDED[response.kind] || response.kind;
  return el("li", {},
    `${response.user_id} ${verb} ${when(response.at)}: “${response.reason}”`,
    (response.declined || []).length ? el("span", {}, " · declined ",
      ...response.declined.map((id, i) => el("span", {}, i ? ", " : "", requestRef(id)))) : "",
    response.request_id ? el("span", {}, " · instead asked for ", requestRef(response.request_id)) : "");
}

function signalFacts(signal) {
  const list = el("dl", { class: "facts" });
  const add = (label, value) => {
    if (value === undefined || value === null || value === "" || (Array.isArray(value) && !value.length)) return;
    list.append(el("dt", { text: label }), el("dd", {}, value));
  };
  add("Site", signal.site_id);
  add("With role", `${signal.role}${signal.level ? ` (escalated, level ${signal.level})` : ""}`);
  add("Detector", el("code", { text: signal.detector }));
  add("Evidence", (signal.record_ids || []).length
    ? el("ul", { class: "ids", "aria-label": "Evidence records" }, signal.record_ids.map((id) => el("li", {}, el("code", { text: id }))))
    : null);
  add("Figures as of", signal.as_of);
  add("Opened", when(signal.opened_at));
  add("Updated", when(signal.updated_at));
  add("Policy rule", el("code", { text: signal.rule_id }));
  const outcome = signal.outcome || {};
  if (Object.keys(outcome).length) {
    add("Outcome", `${outcome.status || ""}${outcome.note ? ` — ${outcome.note}` : ""}` || display(outcome));
  }
  if (signal.closed_at) add("Closed", `${when(signal.closed_at)}${signal.closed_reason ? ` — ${signal.closed_reason}` : ""}`);
  return list;
}

function responseForm(signal) {
  const id = signal.signal_id;
  const reasonId = `reason-${id}`;
  const hintId = `reason-hint-${id}`;
  const reason = el("textarea", { id: reasonId, rows: "2", maxlength: "1000", required: true,
    "aria-describedby": hintId });
  const hint = el("p", { id: hintId, class: "note", text: "A reason is required (at least 3 characters) for any response." });
  const error = el("p", { class: "form-error", role: "alert" });

  // Override only: optionally another action instead of the recommendation.
  const insteadId = `instead-${id}`;
  const instead = el("select", { id: insteadId },
    el("option", { value: "none", text: "Nothing else: decline the recommendation only" }),
    el("option", { value: "hold", text: "Hold another lot (place_quality_hold)" }),
    el("option", { value: "custom", text: "Another action (name and JSON arguments)" }));
  const lotId = `instead-lot-${id}`;
  const lot = el("input", { id: lotId, type: "text", maxlength: "24", autocomplete: "off", placeholder: "e.g. LOT-P100-0483" });
  const actionId = `instead-action-${id}`;
  const action = el("input", { id: actionId, type: "text", maxlength: "64", autocomplete: "off",
    placeholder: "e.g. open_supplier_review" });
  const argsId = `instead-args-${id}`;
  const args = el("textarea", { id: argsId, rows: "3", placeholder: "{\"reason\": \"…\"}" });
  const lotField = el("div", { class: "field", hidden: true },
    el("label", { for: lotId, text: "Lot to hold instead" }), lot);
  const customField = el("div", { class: "field", hidden: true },
    el("label", { for: actionId, text: "Action to take instead" }), action,
    el("label", { for: argsId, text: "Its arguments (a JSON object)" }), args);
  instead.addEventListener("change", () => {
    lotField.hidden = instead.value !== "hold";
    customField.hidden = instead.value !== "custom";
  });
  const overrideBox = el("details", { class: "override-options" },
    el("summary", { text: "Override options: decline only, or ask for another action instead" }),
    el("div", { class: "field" }, el("label", { for: insteadId, text: "Instead of the recommendation" }), instead),
    lotField, customField);

  const buttons = Object.entries(RESPONSES).map(([kind, info]) => el("button", {
    type: "button", class: info.cls, "data-response": kind, disabled: true, text: info.label,
    "aria-describedby": hintId,
    onclick: () => {
      error.textContent = "";
      const text = reason.value.trim();
      if (text.length < MIN_REASON) {
        error.textContent = "Give a reason of at least 3 characters first.";
        reason.focus();
        return;
      }
      const body = { reason: text };
      if (kind === "override") {
        const other = alternative(instead.value, lot.value.trim(), action.value.trim(), args.value.trim(), text);
        if (other.error) {
          error.textContent = other.error;
          return;
        }
        Object.assign(body, other.body);
      }
      respond(signal, kind, body, buttons, error);
    },
  }));
  const sync = () => {
    const ok = reason.value.trim().length >= MIN_REASON;
    for (const button of buttons) button.disabled = !ok;
  };
  reason.addEventListener("input", sync);
  const form = el("form", { class: "decide", "aria-label": `Respond to ${id}` },
    el("label", { for: reasonId, text: "Reason (required; recorded in the audit trail)" }), reason, hint,
    overrideBox, el("div", { class: "buttons" }, buttons), error);
  form.addEventListener("submit", (event) => event.preventDefault());
  return form;
}

/** The override's other action as {body} (action and args), or {error}. */
function alternative(choice, lot, action, rawArgs, reason) {
  if (choice === "hold") {
    if (!lot) return { error: "Name the lot to hold instead, or choose to decline only." };
    return { body: { action: "place_quality_hold", args: { lot_id: lot, reason: reason.slice(0, 500) } } };
  }
  if (choice === "custom") {
    if (!ACTION_NAME.test(action)) return { error: "Name the action to take instead (e.g. open_supplier_review)." };
    let parsed = {};
    if (rawArgs) {
      try {
        parsed = JSON.parse(rawArgs);
      } catch (error) {
        return { error: `The arguments are not valid JSON: ${error.message}` };
      }
      if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
        return { error: "The arguments must be a JSON object, e.g. {\"reason\": \"…\"}." };
      }
    }
    return { body: { action, args: parsed } };
  }
  return { body: {} };
}

export function signalCard(signal) {
  const id = signal.signal_id;
  const headingId = `sig-h-${id}`;
  const proposals = signal.proposals || [];
  const responses = signal.responses || [];
  return el("article", { class: "request signal", id: `signal-${id}`, "data-signal": id, "data-status": signal.status,
    "data-severity": signal.severity, "aria-labelledby": headingId, tabindex: "-1" },
    el("h3", { id: headingId },
      el("span", { class: "badge severity", "data-severity": signal.severity, text: signal.severity }),
      el("span", { text: signal.title }), el("code", { text: id }),
      el("span", { class: "badge", "data-status": signal.status, text: signal.status })),
    signalFacts(signal), figuresTable(signal),
    el("h4", { class: "sub", text: "Proposed actions" }),
    proposals.length ? el("ul", { class: "proposals", "aria-label": `Proposals for ${id}` }, proposals.map((p) => proposalItem(p, signal)))
      : el("p", { class: "empty", text: "The monitor proposed no action." }),
    responses.length ? el("h4", { class: "sub", text: "Responses" }) : null,
    responses.length ? el("ul", { class: "responses" }, responses.map(responseItem)) : null,
    signal.status === "resolved" ? null : responseForm(signal));
}

async function respond(signal, kind, body, buttons, error) {
  for (const button of buttons) button.disabled = true;
  hooks.say(`Sending your response to ${signal.signal_id}…`);
  try {
    const result = await api(`/v1/signals/${encodeURIComponent(signal.signal_id)}/${kind}`, { method: "POST", body });
    const after = (result && result.signal) || {};
    const latest = (after.responses || []).slice(-1)[0] || {};
    const declined = (latest.declined || []).length ? ` Declined ${latest.declined.join(", ")}.` : "";
    const instead = latest.request_id ? ` Your other action is request ${latest.request_id}.` : "";
    hooks.say(`You ${RESPONSES[kind].past} ${signal.signal_id}; it is now ${after.status || "updated"}.${declined}${instead}`, "ok");
    await hooks.reload();
  } catch (failure) {
    if (failure.status === 401) sessionExpired();
    const message = failure.status === 403 ? `Not allowed: ${failure.message}` : failure.message;
    error.textContent = message;
    hooks.say(message, "error");
    for (const button of buttons) button.disabled = false;
  }
}

/** The caller's active signals, newest first; a server without a monitor is not an error for this page. */
export async function loadSignals() {
  try {
    const body = await api("/v1/signals?status=active");
    const signals = (body && body.signals) || [];
    signals.sort((a, b) => String(b.opened_at || "").localeCompare(String(a.opened_at || "")));
    return { signals, note: "" };
  } catch (error) {
    if (error.status === 503) return { signals: [], note: `Signals are not available: ${error.message}` };
    throw error;
  }
}
