// The session bar of the jidoka pages: pick a demo user (when the server runs with --demo-login) or paste a
// token; shows who is signed in. The widget on the same page shares the session.

import { api, el, jwtClaims, readSession, writeSession } from "./api.js";

/** Render the bar into `container`; `onChange(session)` runs after every sign-in or sign-out. */
export function mountSessionBar(container, onChange) {
  const render = async () => {
    const session = readSession();
    if (session && session.token) {
      const user = session.user || {};
      const detail = [(user.roles || []).join(", "), (user.sites || []).join(", ")].filter(Boolean).join(" · ");
      container.replaceChildren(
        el("span", { class: "who" }, "Signed in as ", el("strong", { text: user.name || user.id || "token user" }),
          detail ? ` (${detail})` : ""),
        el("button", { type: "button", class: "secondary", text: "Sign out", onclick: () => writeSession(null) }));
      return;
    }
    let users = null;
    try {
      users = await api("/v1/demo/users");
    } catch {
      users = null; // demo login is off: ask for a token instead
    }
    const field = users && users.length
      ? el("select", { id: "session-user", name: "user", required: true },
        users.map((u) => el("option", { value: u.id, text: `${u.name} — ${(u.roles || []).join(", ")}` })))
      : el("input", { id: "session-user", name: "token", type: "password", required: true, autocomplete: "off" });
    const message = el("span", { class: "error", role: "alert" });
    const form = el("form", { class: "signin" },
      el("label", { for: "session-user", text: users && users.length ? "Demo user" : "Access token (JWT)" }),
      field, el("button", { type: "submit", text: "Sign in" }), message);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const value = field.value.trim();
      if (!value) return;
      try {
        if (users && users.length) {
          const body = await api("/v1/demo/token", { method: "POST", body: { user: value } });
          writeSession({ token: body.token, user: body.user });
        } else {
          const claims = jwtClaims(value);
          writeSession({ token: value, user: { id: claims.sub, name: claims.sub, roles: claims.roles, sites: claims.sites } });
        }
      } catch (error) {
        message.textContent = error.message;
      }
    });
    container.replaceChildren(form);
  };
  window.addEventListener("jidoka:session", () => {
    render();
    onChange(readSession());
  });
  render();
  onChange(readSession());
}

/** Forget the session after a 401 (the bar then asks to sign in again). */
export function sessionExpired() {
  writeSession(null);
}
