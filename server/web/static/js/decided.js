// The inbox's "Decided" view: requests no longer pending that the signed-in user may see (the server applies the
// rule of reading one request, and masks what their roles may not see), newest change first, a page at a time.
import { api, el, when } from "./api.js";

const PAGE = 25;
const SHOWN = { compensated: "undone" }; // what a status reads as here (an undone change is stored compensated)

/** The table body, the "older" button and the status filter of the view; `say` reports errors. */
export function mountDecided({ list, more, filter, say, expired }) {
  let cursor = null;
  let rows = [];

  const statusText = (status) => SHOWN[status] || status;

  function decidedBy(request) {
    const decisions = request.decisions || [];
    if (decisions.length) return decisions.map((d) => `${d.approver} (${d.decision === "approve" ? "approved" : "rejected"})`).join(", ");
    if (request.risk_class === "autonomous") return "nobody: ran under a policy rule";
    return request.status === "expired" ? "nobody before it expired" : "—";
  }

  function decidedAt(request) {
    const decisions = request.decisions || [];
    return decisions.length ? decisions[decisions.length - 1].decided_at : request.updated_at;
  }

  function comments(request) {
    const said = (request.decisions || []).filter((d) => d.comment);
    if (!said.length) return "—";
    return el("ul", { class: "comments" }, said.map((d) => el("li", { text: `${d.approver}: “${d.comment}”` })));
  }

  function row(request) {
    const status = statusText(request.status);
    return el("tr", { "data-request": request.id, "data-status": request.status },
      el("th", { scope: "row" }, el("a", { href: `/inbox?request=${encodeURIComponent(request.id)}`,
        "aria-label": `${request.action} ${request.id}, ${status}: details` }, el("code", { text: request.id }))),
      el("td", {}, request.action),
      el("td", {}, el("span", { class: "badge", "data-status": request.status, text: status })),
      el("td", {}, decidedBy(request)),
      el("td", {}, el("time", { datetime: decidedAt(request), text: when(decidedAt(request)) })),
      el("td", {}, comments(request)));
  }

  function render() {
    if (!rows.length) {
      list.replaceChildren(el("p", { class: "empty", text: "No decided requests for you yet." }));
      return;
    }
    list.replaceChildren(el("table", { class: "decided" },
      el("caption", { text: "Decided requests, newest first" }),
      el("thead", {}, el("tr", {}, ["Request", "Action", "Status", "Decided by", "When", "Comment"]
        .map((name) => el("th", { scope: "col", text: name })))),
      el("tbody", {}, rows.map(row))));
  }

  /** Read the first page again (`older`: the page after the last one shown). */
  async function load({ older = false } = {}) {
    const params = new URLSearchParams({ status: filter.value, limit: String(PAGE) });
    if (older && cursor) params.set("cursor", cursor);
    more.disabled = true;
    try {
      const body = await api(`/v1/approvals?${params}`);
      rows = older ? rows.concat(body.approvals) : body.approvals;
      cursor = body.next_cursor;
      render();
    } catch (error) {
      if (error.status === 401) expired();
      say(error.message, "error");
    } finally {
      more.hidden = !cursor;
      more.disabled = false;
    }
  }

  more.addEventListener("click", () => load({ older: true }));
  filter.addEventListener("change", () => load());
  return { load, clear: () => { rows = []; cursor = null; list.replaceChildren(); more.hidden = true; } };
}
