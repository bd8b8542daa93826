// The JSON API as the pages use it: the session in sessionStorage (shared with the widget) and one fetch wrapper
// that turns failures into readable messages.

export const SESSION_KEY = "jidoka.session";

/** An API call that failed; `status` is the HTTP status (0 when the server could not be reached). */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** The stored session `{token, user: {id, name, roles, sites}}`, or null. */
export function readSession() {
  try {
    return JSON.parse(sessionStorage.getItem(SESSION_KEY) || "null");
  } catch {
    return null;
  }
}

/** Store (or with null, forget) the session and tell the widget and the page. */
export function writeSession(value, source = "page") {
  if (value) sessionStorage.setItem(SESSION_KEY, JSON.stringify(value));
  else sessionStorage.removeItem(SESSION_KEY);
  window.dispatchEvent(new CustomEvent("jidoka:session", { detail: { source } }));
}

/** The claims of a JWT, for display only (the server checks the signature). */
export function jwtClaims(token) {
  try {
    return JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
  } catch {
    return {};
  }
}

async function explain(response) {
  let detail = "";
  try {
    const body = await response.json();
    detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail ?? body);
  } catch {
    // not JSON
  }
  if (response.status === 401) return "Your sign-in is missing or has expired. Please sign in again.";
  if (response.status === 429) {
    const wait = response.headers.get("Retry-After");
    return `Slow down: too many requests. Try again${wait ? ` in ${wait} s` : " in a moment"}.`;
  }
  if (response.status === 403) return detail || "You are not allowed to do that.";
  return detail || `The server answered ${response.status}.`;
}

/** Call the API with the session's bearer token; returns parsed JSON or throws ApiError. */
export async function api(path, { method = "GET", body } = {}) {
  const session = readSession();
  const headers = { Accept: "application/json" };
  if (session && session.token) headers.Authorization = `Bearer ${session.token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, "Cannot reach the jidoka server. Check your connection and try again.");
  }
  if (!response.ok) throw new ApiError(response.status, await explain(response));
  return response.status === 204 ? null : response.json();
}

/** A small element builder: el("p", {class: "x", text: "hi"}, child, ...). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** A timestamp as local date and time, e.g. "2026-03-02 14:05". */
export function when(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

/** Approver groups (strings or {roles, site, eligible_user_ids}) in words. */
export function describeApprovers(value) {
  if (!value) return "";
  if (typeof value === "string") return value;
  if (!Array.isArray(value)) return JSON.stringify(value);
  return value.map((group) => {
    if (typeof group === "string") return group;
    const people = (group.eligible_user_ids || group.eligible || []).join(", ");
    return `${(group.roles || []).join(" or ")}${group.site ? ` at ${group.site}` : ""}${people ? ` (${people})` : ""}`;
  }).join("; ");
}

/** A value for a table cell: JSON for objects, "—" for nothing. */
export const display = (value) => (value !== null && typeof value === "object" ? JSON.stringify(value)
  : String(value ?? "—"));
