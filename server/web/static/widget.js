/* jidoka chat widget — embed with one tag:
 *   <script src="https://jidoka.example/widget.js" data-jidoka-url="https://jidoka.example" defer></script>
 * A classic script (document.currentScript gives its data attributes). Everything lives in an open shadow root
 * with jd- classes, so host pages' CSS and the widget's cannot clash. The bearer token is kept in sessionStorage
 * ("jidoka.session", shared with the portal, inbox and audit pages of the same origin). */
(() => {
  "use strict";
  if (window.JidokaWidget) return; // embedded twice: keep the first
  const script = document.currentScript;
  const base = ((script && script.dataset.jidokaUrl) || (script ? new URL(script.src, location.href).origin : ""))
    .replace(/\/+$/, "");
  const SESSION_KEY = "jidoka.session";
  const POLL_MS = Number((script && script.dataset.pollMs) || 3000);
  const SETTLED = new Set(["executed", "rejected", "expired", "failed", "compensated"]);
  const ID = /[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)+(?:\/\d+)?(?: §[\w.]+)?/g;

  // ---- session (shared key; the portal's session bar sends "jidoka:session" when it changes it) ----
  const readSession = () => {
    try { return JSON.parse(sessionStorage.getItem(SESSION_KEY) || "null"); } catch { return null; }
  };
  const writeSession = (value) => {
    if (value) sessionStorage.setItem(SESSION_KEY, JSON.stringify(value));
    else sessionStorage.removeItem(SESSION_KEY);
    window.dispatchEvent(new CustomEvent("jidoka:session", { detail: { source: "widget" } }));
  };
  const jwtClaims = (token) => {
    try {
      const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      return JSON.parse(atob(part));
    } catch { return {}; }
  };

  // ---- HTTP ----
  class ApiError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }
  const explain = async (response) => {
    let detail = "";
    try {
      const body = await response.json();
      detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail ?? body);
    } catch { /* not JSON */ }
    if (response.status === 401) return "Your sign-in is missing or has expired. Please sign in again.";
    if (response.status === 429) {
      const wait = response.headers.get("Retry-After");
      return `Slow down: too many requests. Try again${wait ? ` in ${wait} s` : " in a moment"}.`;
    }
    if (response.status === 403) return detail || "You are not allowed to do that.";
    return detail || `The server answered ${response.status}.`;
  };
  const request = async (path, { method = "GET", body, accept = "application/json" } = {}) => {
    const session = readSession();
    const headers = { Accept: accept };
    if (session && session.token) headers.Authorization = `Bearer ${session.token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch {
      throw new ApiError(0, "Cannot reach the jidoka server. Check your connection and try again.");
    }
    if (!response.ok) throw new ApiError(response.status, await explain(response));
    return response;
  };
  async function* serverEvents(response) { // text/event-stream over fetch: EventSource cannot POST or send headers
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer = (buffer + value).replace(/\r\n?/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let name = "message";
        const data = [];
        for (const line of block.split("\n")) {
          if (line.startsWith("event:")) name = line.slice(6).trim();
          else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
        }
        if (!data.length) continue;
        let parsed;
        try { parsed = JSON.parse(data.join("\n")); } catch { parsed = { text: data.join("\n") }; }
        yield { name, data: parsed };
      }
    }
  }

  // ---- DOM helpers ----
  const el = (tag, attrs = {}, ...children) => {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value === false || value === null || value === undefined) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) if (child !== null && child !== undefined && child !== false)
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    return node;
  };
  const describeApprovers = (value) => {
    if (!value) return "";
    if (typeof value === "string") return value;
    if (Array.isArray(value)) return value.map((g) => {
      if (typeof g === "string") return g;
      const who = (g.eligible_user_ids || g.eligible || []).join(", ");
      const roles = (g.roles || []).join(" or ");
      return `${roles}${g.site ? ` at ${g.site}` : ""}${who ? ` (${who})` : ""}`;
    }).join("; ");
    return JSON.stringify(value);
  };

  // ---- the widget ----
  const host = el("div", { id: "jidoka-widget" });
  const root = host.attachShadow({ mode: "open" });
  // The signed-in user's active signals (the monitor's alerts): a count on the bubble (described, so the bubble's
  // name stays "Ask jidoka"), and a short list at the top of the panel linking to the inbox.
  const alertCount = el("span", { class: "jd-alert-count", "aria-hidden": "true", hidden: true });
  const alertNote = el("span", { id: "jd-alert-note", class: "jd-sr" });
  const bubble = el("button", { type: "button", class: "jd-bubble", "aria-expanded": "false",
    "aria-controls": "jd-panel", "aria-describedby": "jd-alert-note" },
    el("span", { class: "jd-bubble-icon", "aria-hidden": "true", text: "✦" }), el("span", { text: "Ask jidoka" }),
    alertCount);
  const alertSummary = el("summary", { class: "jd-alerts-summary" });
  const alertList = el("ul", { class: "jd-alerts-list", "aria-label": "Your active signals" });
  const alerts = el("details", { class: "jd-alerts", hidden: true }, alertSummary, alertList,
    el("p", { class: "jd-alerts-foot" }, el("a", { href: `${base}/inbox`, text: "Respond in the inbox" })));
  const who = el("p", { class: "jd-who" });
  const newThread = el("button", { type: "button", class: "jd-link", text: "New conversation" });
  const signOut = el("button", { type: "button", class: "jd-link", text: "Sign out" });
  const closeButton = el("button", { type: "button", class: "jd-close", "aria-label": "Close the assistant", text: "×" });
  const log = el("div", { class: "jd-log", role: "log", "aria-live": "polite", "aria-label": "Conversation" });
  const status = el("p", { class: "jd-status", role: "status" });
  const question = el("textarea", { id: "jd-question", rows: "2", maxlength: "4000", autocomplete: "off",
    placeholder: "e.g. which items are below their reorder point at P100?" });
  const send = el("button", { type: "submit", class: "jd-send", text: "Send" });
  const askForm = el("form", { class: "jd-ask" },
    el("label", { for: "jd-question", text: "Ask a question or request an action" }),
    el("div", { class: "jd-row" }, question, send),
    el("p", { class: "jd-hint", text: "Enter sends · Shift+Enter adds a line · Esc closes" }));
  const loginForm = el("form", { class: "jd-login", hidden: true });
  const panel = el("section", { id: "jd-panel", class: "jd-panel", role: "dialog", "aria-modal": "false",
    "aria-labelledby": "jd-title", hidden: true },
    el("header", { class: "jd-head" },
      el("div", {}, el("h2", { id: "jd-title", text: "jidoka assistant" }), who),
      el("div", { class: "jd-tools" }, newThread, signOut, closeButton)),
    alerts, loginForm, log, status, askForm);
  const recordTitle = el("h3", { id: "jd-record-title" });
  const recordBody = el("div", { class: "jd-record-body" });
  const recordDialog = el("dialog", { class: "jd-record", "aria-labelledby": "jd-record-title" },
    el("div", { class: "jd-record-head" }, recordTitle,
      el("button", { type: "button", class: "jd-close", "aria-label": "Close record details", text: "×",
        onclick: () => recordDialog.close() })),
    recordBody);
  root.append(el("link", { rel: "stylesheet", href: `${base}/static/widget.css` }), bubble, alertNote, panel,
    recordDialog);

  let threadId = null;
  let busy = false;
  const polls = new Map();

  const setStatus = (text) => { status.textContent = text; };
  const isOpen = () => !panel.hidden;
  const open = (prefill) => {
    panel.hidden = false;
    bubble.setAttribute("aria-expanded", "true");
    refreshSession();
    refreshAlerts();
    if (typeof prefill === "string" && prefill) question.value = prefill;
    (loginForm.hidden ? question : loginForm.querySelector("select, input"))?.focus();
  };
  const close = () => {
    panel.hidden = true;
    bubble.setAttribute("aria-expanded", "false");
    bubble.focus();
  };

  // ---- alerts: GET /v1/signals (site-scoped and masked by the server) ----
  const ATTENTION = new Set(["open", "escalated"]);
  let alertTicket = 0;
  const clearAlerts = () => {
    alertTicket += 1;
    alerts.hidden = true;
    alertCount.hidden = true;
    alertCount.textContent = "";
    alertNote.textContent = "";
    alertList.replaceChildren();
  };
  const refreshAlerts = async () => {
    const session = readSession();
    if (!session || !session.token) { clearAlerts(); return; }
    const ticket = ++alertTicket;
    let signals;
    try {
      const body = await (await request("/v1/signals?status=active")).json();
      signals = (body && body.signals) || [];
    } catch {
      if (ticket === alertTicket) clearAlerts(); // no monitor, or not signed in: no alerts to show
      return;
    }
    if (ticket !== alertTicket) return;
    const waiting = signals.filter((s) => ATTENTION.has(s.status)).length;
    alertCount.textContent = String(waiting);
    alertCount.hidden = !waiting;
    alertNote.textContent = waiting ? `${waiting} signal${waiting === 1 ? "" : "s"} need${waiting === 1 ? "s" : ""} your attention` : "";
    alerts.hidden = !signals.length;
    alertSummary.textContent = `Signals: ${signals.length} active${waiting ? `, ${waiting} need${waiting === 1 ? "s" : ""} attention` : ""}`;
    alertList.replaceChildren(...signals.slice(0, 8).map((s) => el("li", { class: "jd-alert", "data-signal": s.signal_id },
      el("span", { class: "jd-sev", "data-severity": s.severity, text: s.severity }), " ",
      el("a", { href: `${base}/inbox#signal-${encodeURIComponent(s.signal_id)}`, text: s.title }),
      el("span", { class: "jd-alert-meta", text: ` · ${s.site_id} · ${s.status}` }))),
    signals.length > 8 ? el("li", { class: "jd-note", text: `and ${signals.length - 8} more in the inbox` }) : null);
  };

  const refreshSession = () => {
    const session = readSession();
    const signedIn = Boolean(session && session.token);
    askForm.hidden = !signedIn;
    signOut.hidden = !signedIn;
    newThread.hidden = !signedIn;
    if (signedIn) {
      const user = session.user || {};
      const roles = (user.roles || []).join(", ");
      who.textContent = `Signed in as ${user.name || user.id || "token user"}${roles ? ` · ${roles}` : ""}`;
      loginForm.hidden = true;
    } else {
      who.textContent = "Not signed in";
      if (loginForm.hidden && isOpen()) buildLogin();
    }
  };

  const buildLogin = async (message) => {
    loginForm.hidden = false;
    loginForm.replaceChildren(el("p", { class: "jd-note", role: "status", text: message || "Sign in to ask jidoka." }));
    let users = null;
    try {
      users = await (await request("/v1/demo/users")).json();
    } catch { users = null; } // demo login is off: ask for a token
    const field = users && users.length
      ? el("select", { id: "jd-login-user", required: true },
        users.map((u) => el("option", { value: u.id, text: `${u.name} — ${(u.roles || []).join(", ")}` })))
      : el("input", { id: "jd-login-user", type: "password", required: true, autocomplete: "off" });
    loginForm.append(
      el("label", { for: "jd-login-user", text: users && users.length ? "Demo user" : "Access token (JWT)" }),
      el("div", { class: "jd-row" }, field, el("button", { type: "submit", class: "jd-send", text: "Sign in" })));
    loginForm.dataset.mode = users && users.length ? "demo" : "token";
    if (isOpen()) field.focus();
  };
  loginForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const value = loginForm.querySelector("#jd-login-user").value.trim();
    if (!value) return;
    try {
      if (loginForm.dataset.mode === "demo") {
        const body = await (await request("/v1/demo/token", { method: "POST", body: { user: value } })).json();
        writeSession({ token: body.token, user: body.user });
      } else {
        const claims = jwtClaims(value);
        writeSession({ token: value, user: { id: claims.sub, name: claims.sub, roles: claims.roles, sites: claims.sites } });
      }
      loginForm.hidden = true;
      refreshSession();
      refreshAlerts();
      question.focus();
    } catch (error) {
      loginForm.querySelector(".jd-note").textContent = error.message;
    }
  });

  // ---- rendering an answer: text with clickable citations ----
  // lineage: citation id → its lineage from the turn's `citation` events (they follow the text, so it is read when
  // the citation is opened, not when it is drawn).
  const renderText = (node, text, lineage) => {
    const parts = [];
    let last = 0;
    for (const block of text.matchAll(/\[([^\[\]\n]+)\]/g)) {
      const inner = block[1];
      const ids = [...inner.matchAll(ID)];
      if (!ids.length) continue;
      parts.push(text.slice(last, block.index));
      // Each id stays on one line with its neighbouring bracket; long lists may still wrap between ids.
      let at = 0;
      ids.forEach((id, i) => {
        const before = inner.slice(at, id.index);
        const button = el("button", { type: "button", class: "jd-cite", "data-record": id[0],
          "aria-label": `Show record ${id[0]}`, text: id[0], onclick: (e) => showRecord(id[0], e.currentTarget, lineage && lineage.get(id[0])) });
        if (i > 0) parts.push(before);
        parts.push(el("span", { class: "jd-cites" }, i === 0 ? `[${before}` : "", button,
          i === ids.length - 1 ? `${inner.slice(id.index + id[0].length)}]` : ""));
        at = id.index + id[0].length;
      });
      last = block.index + block[0].length;
    }
    parts.push(text.slice(last));
    node.replaceChildren(...parts.filter((p) => p !== ""));
  };

  let recordTicket = 0; // only the newest lookup may fill the dialog
  const showRecord = async (id, opener, cited) => {
    const ticket = ++recordTicket;
    recordTitle.textContent = id;
    const lineage = cited ? renderLineage(cited) : null; // what the answer relied on, shown even if the lookup fails
    recordBody.replaceChildren(el("p", { class: "jd-note", text: "Loading…" }), lineage);
    recordDialog.addEventListener("close", () => opener && opener.focus(), { once: true });
    if (!recordDialog.open) recordDialog.showModal();
    try {
      const record = await (await request(`/v1/records/${encodeURIComponent(id)}`)).json();
      if (ticket === recordTicket) recordBody.replaceChildren(renderRecord(record, cited));
    } catch (error) {
      if (ticket !== recordTicket) return;
      if (error.status === 401) signedOut();
      recordBody.replaceChildren(el("p", { class: "jd-error", role: "alert", text: error.message }), lineage);
    }
  };
  // Where the record comes from: the system, table, record id and as-of (or the document, revision and effective
  // date), as labelled fields in a section of its own.
  const stamp = (value) => String(value || "").replace("T", " ").slice(0, 16);
  const renderLineage = (item) => {
    const fields = item.kind === "document"
      ? [["Source system", "Knowledge base"], ["Document", item.doc_id], ["Section", item.section || "whole document"],
        ["Revision", item.revision], ["Effective", item.effective]]
      : [["Source system", item.system], ["Table", item.table], ["Record ID", item.record_id],
        ["As of", `${stamp(item.as_of)} (${item.as_of_source === "record" ? `record's ${item.as_of_column}` : "time of the read"})`]];
    const list = el("dl", { class: "jd-fields" });
    for (const [name, value] of fields) list.append(el("dt", { text: name }), el("dd", { text: value || "—" }));
    return el("section", { class: "jd-lineage", "aria-labelledby": "jd-lineage-title", "data-kind": item.kind },
      el("h4", { id: "jd-lineage-title", text: "Lineage" }), list,
      item.tool ? el("p", { class: "jd-foot", text: `read by ${item.tool}` }) : null);
  };
  const WORDS = { id: "ID", wo: "WO", po: "PO", so: "SO", qe: "QE", pct: "%", usd: "USD", uom: "UoM" };
  const label = (key) => {
    const text = key.split("_").map((w) => WORDS[w] || w).join(" ");
    return text.charAt(0).toUpperCase() + text.slice(1);
  };
  const renderData = (value, depth = 0) => {
    if (value === null || value === undefined || value === "") return "—";
    if (typeof value === "string" && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(value)) return value.slice(0, 16).replace("T", " ");
    if (typeof value !== "object") return String(value);
    if (Array.isArray(value)) {
      if (!value.length) return "none";
      if (value.every((v) => v === null || typeof v !== "object")) return value.join(", ");
      if (depth > 2) return el("pre", { class: "jd-json", text: JSON.stringify(value, null, 2) });
      const rows = value.slice(0, 25);
      const columns = [...new Set(rows.flatMap((r) => (r && typeof r === "object" ? Object.keys(r) : [])))];
      return el("div", { class: "jd-table-wrap" }, el("table", { class: "jd-table" },
        el("thead", {}, el("tr", {}, columns.map((c) => el("th", { scope: "col", text: label(c) })))),
        el("tbody", {}, rows.map((r) => el("tr", {}, columns.map((c) => el("td", {}, renderData(r[c], depth + 1))))))),
        value.length > rows.length ? el("p", { class: "jd-note", text: `and ${value.length - rows.length} more` }) : null);
    }
    if (depth > 2) return el("pre", { class: "jd-json", text: JSON.stringify(value, null, 2) });
    // Plain fields as a two-column list; nested objects and lists as titled sections below it (full width).
    const entries = Object.entries(value);
    const flat = entries.filter(([, v]) => v === null || typeof v !== "object" || (Array.isArray(v) && v.every((x) => x === null || typeof x !== "object")));
    const nested = entries.filter((entry) => !flat.includes(entry));
    const list = el("dl", { class: "jd-fields" });
    for (const [key, item] of flat) list.append(el("dt", { text: label(key) }), el("dd", {}, renderData(item, depth + 1)));
    return el("div", {}, flat.length ? list : null, nested.map(([key, item]) => el("section", { class: "jd-section" },
      el(depth ? "h5" : "h4", { text: label(key) }), renderData(item, depth + 1))));
  };
  const renderRecord = (body, cited) => {
    if (!body || typeof body !== "object" || !("record" in body)) return renderData(body);
    const lineage = cited || body.lineage;
    const meta = [body.kind && label(body.kind), body.as_of && `as of ${String(body.as_of).replace("T", " ").slice(0, 16)}`,
      body.tool && `shown by ${body.tool}`].filter(Boolean).join(" · ");
    return el("div", {}, el("p", { class: "jd-note", text: meta }), lineage ? renderLineage(lineage) : null,
      renderData(body.record),
      body.rule_id ? el("p", { class: "jd-foot", text: `allowed by ${body.rule_id}` }) : null);
  };

  // ---- answer parts: sortable tables (with CSV export) and small charts, from the turn's governed results ----
  const SVG = "http://www.w3.org/2000/svg";
  const svg = (tag, attrs = {}, ...children) => {
    const node = document.createElementNS(SVG, tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (key === "text") node.textContent = value;
      else if (value !== null && value !== undefined) node.setAttribute(key, String(value));
    }
    for (const child of children.flat(Infinity)) if (child) node.append(child);
    return node;
  };
  const shown = (value, kind) => {
    if (value === null || value === undefined || value === "") return "—";
    if (kind === "number" && typeof value === "number") return value.toLocaleString("en-US", { maximumFractionDigits: 4 });
    return String(value);
  };
  const heading = (column) => (column.unit ? `${column.label} (${column.unit})` : column.label);
  // A spreadsheet runs a cell that starts with = + - @ (or a tab / carriage return) as a formula: quote it as text.
  const csvCell = (text) => {
    const safe = /^[=+\-@\t\r]/.test(text) ? `'${text}` : text;
    return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
  };
  const tableCsv = (columns, rows) => [columns.map((c) => csvCell(heading(c))),
    ...rows.map((row) => row.cells.map((value, i) => csvCell(shown(value, columns[i].kind))))]
    .map((line) => line.join(",")).join("\r\n") + "\r\n";
  const compare = (kind) => (a, b) => {
    if (a === null || a === undefined) return b === null || b === undefined ? 0 : 1; // empty cells last
    if (b === null || b === undefined) return -1;
    if (kind === "number") return a - b;
    return String(a).localeCompare(String(b), "en", { numeric: true });
  };
  let partCount = 0;
  const renderTable = (part) => {
    const id = `jd-part-${++partCount}`;
    const columns = part.columns || [];
    const original = part.rows || [];
    let rows = original.slice();
    const linkAt = columns.findIndex((c) => c.key === part.record_column);
    const body = el("tbody");
    const fill = () => body.replaceChildren(...rows.map((row) => el("tr", {}, row.cells.map((value, i) => {
      const text = shown(value, columns[i].kind);
      if (i === linkAt && row.record_id) {
        return el("td", {}, el("button", { type: "button", class: "jd-cite", "data-record": row.record_id,
          "aria-label": `Show record ${row.record_id}`, text, onclick: (e) => showRecord(row.record_id, e.currentTarget) }));
      }
      return el("td", { class: columns[i].kind === "number" ? "jd-num" : null, text });
    }))));
    const headers = columns.map((column, i) => {
      const th = el("th", { scope: "col", "aria-sort": "none" });
      th.append(el("button", { type: "button", class: "jd-sort", onclick: () => {
        const ascending = th.getAttribute("aria-sort") !== "ascending";
        for (const other of th.parentNode.children) other.setAttribute("aria-sort", "none");
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        const order = compare(column.kind);
        rows = original.slice().sort((a, b) => order(a.cells[i], b.cells[i]) * (ascending ? 1 : -1));
        fill();
        setStatus(`Sorted ${part.title} by ${heading(column)}, ${ascending ? "ascending" : "descending"}.`);
      } }, heading(column), el("span", { class: "jd-sort-icon", "aria-hidden": "true" })));
      return th;
    });
    fill();
    const download = el("button", { type: "button", class: "jd-link jd-csv", text: "Download CSV",
      "aria-label": `Download CSV: ${part.title}`, onclick: () => {
        const url = URL.createObjectURL(new Blob([tableCsv(columns, rows)], { type: "text/csv;charset=utf-8" }));
        const name = `${String(part.title || "table").toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "")}.csv`;
        const link = el("a", { href: url, download: name, hidden: true });
        root.append(link);
        link.click();
        link.remove();
        setTimeout(() => URL.revokeObjectURL(url), 1000);
      } });
    const more = part.total_rows > original.length ? ` · ${original.length} of ${part.total_rows} shown` : "";
    return el("section", { class: "jd-part", "data-part": "table", "data-tool": part.tool, "aria-labelledby": id },
      el("div", { class: "jd-part-head" }, el("h3", { id, text: part.title }),
        el("span", { class: "jd-part-meta", text: `${original.length} row${original.length === 1 ? "" : "s"}${more}` }),
        download),
      el("div", { class: "jd-table-wrap jd-part-scroll" }, el("table", { class: "jd-table jd-sortable" },
        el("caption", { class: "jd-sr", text: `${part.title}: column headers sort the table` }),
        el("thead", {}, el("tr", {}, headers)), body)));
  };

  const chartText = (part) => {
    const unit = part.unit === "%" ? "%" : part.unit ? ` ${part.unit}` : "";
    const lines = (part.series || []).map((s) => `${(part.series.length > 1 ? `${s.name}: ` : "")}${
      s.points.map((p) => `${p.x} ${p.y === null ? "no value" : `${shown(p.y, "number")}${unit}`}`).join(", ")}`);
    const base = part.baseline ? `; ${part.baseline.label} ${shown(part.baseline.value, "number")}${unit}` : "";
    return `${part.title}. ${part.y_label} by ${part.x_label.toLowerCase()}: ${lines.join("; ")}${base}.`;
  };
  const renderChart = (part) => {
    const W = 380, H = 190, L = 46, R = 10, T = 12, B = 40;
    const points = (part.series || []).flatMap((s) => s.points);
    const ys = points.map((p) => p.y).filter((y) => typeof y === "number");
    if (part.baseline) ys.push(part.baseline.value);
    let lo = Math.min(0, ...ys), hi = Math.max(...ys);
    if (hi === lo) hi = lo + 1;
    hi += (hi - lo) * 0.08;
    const xs = [...new Set(points.map((p) => p.x))];
    if (part.x_kind === "date") xs.sort();
    const at = (x) => {
      if (part.x_kind === "date" && xs.length > 1) {
        const t = Date.parse(x), t0 = Date.parse(xs[0]), t1 = Date.parse(xs[xs.length - 1]);
        return L + ((t - t0) / (t1 - t0)) * (W - L - R);
      }
      const step = (W - L - R) / Math.max(xs.length, 1);
      return part.chart === "bar" ? L + step * (xs.indexOf(x) + 0.5) : L + (xs.length > 1 ? (xs.indexOf(x) / (xs.length - 1)) * (W - L - R) : 0);
    };
    const y = (v) => T + (1 - (v - lo) / (hi - lo)) * (H - T - B);
    const unit = part.unit === "%" ? "%" : "";
    const ticks = [lo, lo + (hi - lo) / 2, hi].map((v) => svg("g", { class: "jd-tick" },
      svg("line", { x1: L, x2: W - R, y1: y(v), y2: y(v) }),
      svg("text", { x: L - 4, y: y(v) + 4, "text-anchor": "end", text: `${shown(Math.round(v * 10) / 10, "number")}${unit}` })));
    const xLabels = (part.chart === "bar" || xs.length <= 3 ? xs : [xs[0], xs[Math.floor(xs.length / 2)], xs[xs.length - 1]])
      .map((x, i, all) => svg("text", { class: "jd-xlabel", x: at(x), y: H - B + 14,
        "text-anchor": part.chart === "bar" || all.length < 2 ? "middle" : i === 0 ? "start" : i === all.length - 1 ? "end" : "middle",
        text: part.x_kind === "date" ? x.slice(5) : x }));
    const marks = (part.series || []).map((s, n) => {
      if (part.chart === "bar") {
        const width = Math.max(4, ((W - L - R) / Math.max(xs.length, 1)) * 0.6);
        return s.points.filter((p) => typeof p.y === "number").map((p) => svg("rect", { class: `jd-bar jd-s${n}`,
          x: at(p.x) - width / 2, y: Math.min(y(p.y), y(0)), width, height: Math.abs(y(0) - y(p.y)) },
        svg("title", { text: `${p.x}: ${shown(p.y, "number")}${unit}` })));
      }
      const runs = [[]];
      for (const p of s.points) {
        if (typeof p.y === "number") runs[runs.length - 1].push(`${at(p.x).toFixed(1)},${y(p.y).toFixed(1)}`);
        else if (runs[runs.length - 1].length) runs.push([]);
      }
      return runs.filter((r) => r.length).map((r) => (r.length === 1
        ? svg("circle", { class: `jd-dot jd-s${n}`, cx: r[0].split(",")[0], cy: r[0].split(",")[1], r: 2.5 })
        : svg("polyline", { class: `jd-line jd-s${n}`, points: r.join(" ") })));
    });
    const base = part.baseline ? svg("g", { class: "jd-baseline" },
      svg("line", { x1: L, x2: W - R, y1: y(part.baseline.value), y2: y(part.baseline.value), "stroke-dasharray": "5 4" }),
      svg("text", { x: W - R, y: y(part.baseline.value) - 4, "text-anchor": "end",
        text: `${part.baseline.label} ${shown(part.baseline.value, "number")}${unit}` })) : null;
    const text = chartText(part);
    const id = `jd-part-${++partCount}`;
    const chart = svg("svg", { class: "jd-chart-svg", viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": text },
      svg("title", { text }), ticks, marks, base,
      svg("line", { class: "jd-axis", x1: L, x2: W - R, y1: y(lo), y2: y(lo) }), xLabels,
      svg("text", { class: "jd-axis-label", x: L + (W - L - R) / 2, y: H - 6, "text-anchor": "middle", text: part.x_label }),
      svg("text", { class: "jd-axis-label", x: 12, y: T + (H - T - B) / 2, "text-anchor": "middle",
        transform: `rotate(-90 12 ${T + (H - T - B) / 2})`, text: `${part.y_label}${part.unit ? ` (${part.unit})` : ""}` }));
    return el("figure", { class: "jd-part jd-chart", "data-part": "series", "data-tool": part.tool, "aria-labelledby": id },
      el("figcaption", { id, text: part.title }), chart);
  };
  const renderParts = (node, parts) => node.replaceChildren(...(parts || []).map((part) => {
    try { return part.type === "table" ? renderTable(part) : part.type === "series" ? renderChart(part) : null; }
    catch { return null; } // a part the widget cannot draw never hides the answer
  }).filter(Boolean));

  // After a decision the paused thread resumes on the server; its last answer says what happened.
  const showOutcome = async (turn, card) => {
    if (!turn.thread) return;
    try {
      const thread = await (await request(`/v1/threads/${encodeURIComponent(turn.thread)}`)).json();
      const said = (thread.messages || []).filter((m) => m.role === "assistant").pop();
      if (!said) return;
      const text = el("div", { class: "jd-text" });
      renderText(text, said.text);
      card.append(el("div", { class: "jd-outcome" }, el("strong", { text: "Outcome: " }), text));
      card.scrollIntoView({ block: "nearest" });
    } catch { /* the status above already tells the decision */ }
  };

  const approvalCard = (info, turn) => {
    const badge = el("span", { class: "jd-badge", "data-status": info.status || "pending", text: info.status || "pending" });
    const decisions = el("ul", { class: "jd-decisions" });
    const card = el("div", { class: "jd-approval", "data-approval": info.id },
      el("p", { class: "jd-approval-title" }, el("strong", { text: "Approval requested" }), " · ",
        el("code", { text: info.id })),
      el("p", {}, "Action: ", el("code", { text: info.action || "" })),
      el("p", { class: "jd-approvers" }, `Approvers: ${describeApprovers(info.approvers) || "see the inbox"}`),
      el("p", { role: "status" }, "Status: ", badge),
      decisions);
    const update = (item) => {
      const value = item.status || "pending";
      badge.textContent = value;
      badge.dataset.status = value;
      const approvers = item.approvers || item.groups;
      if (approvers) card.querySelector(".jd-approvers").textContent = `Approvers: ${describeApprovers(approvers)}`;
      decisions.replaceChildren(...(item.decisions || []).map((d) =>
        el("li", { text: `${d.approver} ${d.decision === "approve" ? "approved" : "rejected"}${d.comment ? `: “${d.comment}”` : ""}` })));
      return SETTLED.has(value);
    };
    const poll = async () => {
      polls.delete(info.id);
      try {
        const item = await (await request(`/v1/approvals/${encodeURIComponent(info.id)}`)).json();
        if (update(item)) {
          setStatus(`Request ${info.id} is now ${item.status}.`);
          showOutcome(turn, card);
          refreshAlerts();
          return;
        }
      } catch (error) {
        if (error.status === 401 || error.status === 403 || error.status === 404) {
          badge.textContent = `${badge.textContent} (no longer visible: ${error.message})`;
          return;
        }
      }
      polls.set(info.id, setTimeout(poll, POLL_MS));
    };
    if (!update(info)) polls.set(info.id, setTimeout(poll, POLL_MS));
    return card;
  };

  const stopPolling = () => {
    for (const timer of polls.values()) clearTimeout(timer);
    polls.clear();
  };
  const signedOut = (message) => {
    writeSession(null);
    stopPolling();
    clearAlerts();
    askForm.hidden = true;
    signOut.hidden = true;
    newThread.hidden = true;
    who.textContent = "Not signed in";
    buildLogin(message || "Your sign-in is missing or has expired. Please sign in again.");
  };

  const streamTurn = async (message) => {
    busy = true;
    send.disabled = true;
    log.append(el("div", { class: "jd-msg jd-user" }, el("span", { class: "jd-sr", text: "You: " }), message));
    const chips = el("ul", { class: "jd-chips", "aria-label": "Tool calls" });
    const body = el("div", { class: "jd-text" });
    const lineage = new Map();
    const shownParts = el("div", { class: "jd-parts" });
    const extras = el("div", { class: "jd-extras" });
    const foot = el("p", { class: "jd-foot" });
    const answer = el("div", { class: "jd-msg jd-bot", "aria-busy": "true" },
      el("span", { class: "jd-sr", text: "jidoka: " }), chips, body, shownParts, extras, foot);
    log.append(answer);
    setStatus("jidoka is working on it…");
    let text = "";
    const turn = { thread: threadId };
    try {
      const payload = threadId ? { message, thread_id: threadId } : { message };
      const response = await request("/v1/chat", { method: "POST", body: payload, accept: "text/event-stream" });
      for await (const { name, data } of serverEvents(response)) {
        if (name === "token") {
          text += data.text || "";
          renderText(body, text, lineage);
        } else if (name === "citation") {
          if (data.lineage) lineage.set(data.id, data.lineage);
        } else if (name === "tool_call") {
          chips.append(el("li", { class: "jd-chip", "data-decision": data.decision, title: data.rule_id || "",
            text: `${data.name} · ${String(data.decision || "").replace(/_/g, " ")}` }));
        } else if (name === "approval_requested") {
          extras.append(approvalCard(data, turn));
        } else if (name === "done") {
          renderParts(shownParts, data.parts);
          turn.thread = data.thread_id || threadId;
          // A paused thread takes no questions until its request is decided: the next one starts a new thread.
          threadId = data.paused ? null : turn.thread;
          const notes = [];
          const down = data.unavailable || [];
          if (down.length) notes.push(`unavailable: ${down.join(", ")}`);
          else if (data.degraded) notes.push("answered by the offline fallback model");
          if (data.paused) notes.push("waiting for approval — your next question starts a new conversation");
          foot.textContent = `${notes.length ? `${notes.join(" · ")} · ` : ""}trace ${data.trace_id || "—"}`;
        } else if (name === "error") {
          const message = data.status === 429 ? "Slow down: too many requests. Try again in a moment."
            : data.message || "Something went wrong.";
          if (data.status === 401) signedOut();
          extras.append(el("p", { class: "jd-error", role: "alert", text: message }));
        }
      }
      setStatus("Answer complete.");
    } catch (error) {
      if (error.status === 401) signedOut(error.message);
      extras.append(el("p", { class: "jd-error", role: "alert", text: error.message }));
      setStatus(error.message);
    } finally {
      renderText(body, text, lineage);
      answer.setAttribute("aria-busy", "false");
      busy = false;
      send.disabled = false;
      log.scrollTop = log.scrollHeight;
      refreshAlerts();
    }
  };

  askForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const message = question.value.trim();
    if (!message || busy) return;
    question.value = "";
    streamTurn(message);
  });
  question.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      askForm.requestSubmit();
    }
  });
  bubble.addEventListener("click", () => (isOpen() ? close() : open()));
  closeButton.addEventListener("click", close);
  panel.addEventListener("keydown", (event) => {
    if (event.key === "Escape") { event.stopPropagation(); close(); }
  });
  signOut.addEventListener("click", () => signedOut("Signed out."));
  newThread.addEventListener("click", () => {
    threadId = null;
    log.replaceChildren();
    setStatus("New conversation.");
    question.focus();
  });
  window.addEventListener("jidoka:session", (event) => {
    if (event.detail && event.detail.source === "widget") return;
    stopPolling(); // another user now: the previous user's requests are not theirs to watch
    threadId = null;
    log.replaceChildren();
    loginForm.hidden = true;
    refreshSession();
    refreshAlerts();
  });

  const mount = () => { document.body.append(host); refreshSession(); refreshAlerts(); };
  if (document.body) mount(); else document.addEventListener("DOMContentLoaded", mount);
  window.JidokaWidget = Object.freeze({ open, close });
})();
