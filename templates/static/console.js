// The operator console. It talks to the admin API with the operator's
// bearer token, which stays in this tab's session storage and is sent to
// the admin API only (never to the console's own paths). It renders with
// textContent only, never as markup, so no stored value (a username, a
// client name, a user agent) can become markup. Destructive actions ask
// first, in a <dialog> that the keyboard drives.
"use strict";
const $ = (id) => document.getElementById(id);
const TOKEN_KEY = "latch-admin-token";
let token = sessionStorage.getItem(TOKEN_KEY) || "";

// api calls the admin API. It refuses any other path, so the bearer never
// leaves for anything but /admin/... on this origin.
async function api(method, path, body) {
  if (!path.startsWith("/admin/") || path.startsWith("/admin/ui")) throw new Error("not an admin API path: " + path);
  const init = { method, headers: { Authorization: "Bearer " + token }, credentials: "omit", cache: "no-store" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  if (res.status === 204) return null;
  const data = await res.json().catch(() => ({}));
  if (!res.ok) {
    const err = new Error(data.error_description || data.error || res.status + " " + res.statusText);
    err.status = res.status;
    throw err;
  }
  return data;
}

const enc = encodeURIComponent;

// el makes an element with text (never markup) and attributes.
function el(name, text, attrs) {
  const e = document.createElement(name);
  if (text !== undefined && text !== null) e.textContent = String(text);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  return e;
}

function button(label, onClick, cls) {
  const b = el("button", label, { type: "button" });
  if (cls) b.className = cls;
  b.addEventListener("click", onClick);
  return b;
}

function link(label, href) { return el("a", label, { href }); }

// row makes a table row; a cell is text, or a node (a button, a link).
function row(cells) {
  const tr = document.createElement("tr");
  for (const c of cells) {
    const td = document.createElement("td");
    if (c instanceof Node) td.appendChild(c);
    else if (Array.isArray(c)) td.append(...c);
    else td.textContent = c === undefined || c === null ? "" : String(c);
    tr.appendChild(td);
  }
  return tr;
}

function fill(tableId, rows, empty) {
  const body = $(tableId).tBodies[0];
  if (rows.length === 0 && empty) {
    const td = el("td", empty, { colspan: String($(tableId).tHead.rows[0].cells.length) });
    td.className = "empty";
    const tr = document.createElement("tr");
    tr.className = "empty";
    tr.appendChild(td);
    body.replaceChildren(tr);
    return;
  }
  body.replaceChildren(...rows);
}

// when shows a time in UTC, to the second.
function when(t) {
  if (!t) return "";
  const d = new Date(t);
  return isNaN(d) ? String(t) : d.toISOString().slice(0, 19).replace("T", " ") + "Z";
}

function fail(err) {
  if (err && err.status === 401) { signOut("The admin token was refused."); return; }
  $("error").textContent = err && err.message ? err.message : String(err);
  $("error").hidden = false;
}

function notice(text) {
  $("notice").textContent = text;
  $("notice").hidden = false;
}

function clearMessages() {
  $("error").hidden = true;
  $("notice").hidden = true;
}

// confirmAction asks before a destructive action; it resolves to true only
// when the operator confirms. The dialog starts on Cancel.
function confirmAction(text, okLabel) {
  const dlg = $("confirm");
  $("confirm-text").textContent = text;
  $("confirm-ok").textContent = okLabel || "Confirm";
  return new Promise((resolve) => {
    dlg.addEventListener("close", () => resolve(dlg.returnValue === "ok"), { once: true });
    dlg.returnValue = "";
    dlg.showModal();
    $("confirm-cancel").focus();
  });
}

// act runs an admin action, shows its error, and reloads the page's data.
async function act(fn, done) {
  clearMessages();
  try {
    await fn();
    if (done) notice(done);
  } catch (err) {
    fail(err);
  }
  await route();
}

// ---------------------------------------------------------------- Overview

const SERIES = [
  ["logins", "Logins"],
  ["refreshes", "Refreshes"],
  ["refused_logins", "Refused logins (lockouts)"],
  ["reuse_detections", "Reuse detections"],
  ["revocations", "Logins ended"],
  ["signals", "Refreshes with signals"],
];

async function showOverview() {
  const q = $("stats-range").value;
  const st = await api("GET", "/admin/stats?" + q);
  const live = [
    ["Live logins", st.live_logins],
    ["Logins, last hour", st.last_hour.logins],
    ["Refreshes, last hour", st.last_hour.refreshes],
    ["Refused logins, last hour", st.last_hour.refused_logins],
    ["Reuse detections, last hour", st.last_hour.reuse_detections],
    ["Logins ended, last hour", st.last_hour.revocations],
    ["Refreshes with signals, last hour", st.last_hour.signals],
  ];
  $("live").replaceChildren(...live.map(([k, v]) => {
    const div = el("div");
    div.append(el("dt", k), el("dd", v));
    return div;
  }));
  fill("failures", st.failures_last_hour.map((f) => row([f.type, f.reason || "—", f.count])), "None in the last hour.");
  $("charts-title").textContent = $("stats-range").selectedOptions[0].textContent.replace(/^./, (c) => c.toUpperCase());
  const label = (i) => when(st.buckets[i] && st.buckets[i].start).slice(5, 16);
  $("charts").replaceChildren(...SERIES.map(([key, title]) =>
    window.latchChart.barChart(title, st.buckets.map((b) => b[key]), label)));
}

// ----------------------------------------------------------------- Clients

async function showClients() {
  const { items } = await api("GET", "/admin/clients");
  fill("clients", items.map((c) => {
    const actions = [];
    if (c.token_endpoint_auth_method !== "none") {
      actions.push(button("Rotate secret", async () => {
        if (!await confirmAction("Rotate the secret of client " + c.client_id + "? The current secret stops working at once.", "Rotate secret")) return;
        await act(async () => {
          const out = await api("POST", "/admin/clients/" + enc(c.client_id) + "/secret");
          showSecret(out.client_id, out.client_secret);
        }, "The secret of " + c.client_id + " was rotated.");
      }));
    }
    actions.push(button("Delete", async () => {
      if (!await confirmAction("Delete client " + c.client_id + "? Every token it holds stops working.", "Delete client")) return;
      await act(() => api("DELETE", "/admin/clients/" + enc(c.client_id)), "Client " + c.client_id + " was deleted.");
    }, "danger"));
    return row([c.client_id, c.client_name || "", c.token_endpoint_auth_method, c.grant_types.join(" "), c.scope,
      c.can_introspect ? "yes" : "no", c.dpop_bound_access_tokens ? "required" : "no", (c.audience || []).join(" "), actions]);
  }), "No clients yet.");
}

function showSecret(clientId, secret) {
  if (!secret) { $("secret-box").hidden = true; return; }
  $("secret-client").textContent = clientId;
  $("secret-value").value = secret;
  $("secret-copied").textContent = "";
  $("secret-box").hidden = false;
  $("secret-value").focus();
  $("secret-value").select();
}

async function copySecret() {
  const input = $("secret-value");
  try {
    await navigator.clipboard.writeText(input.value);
  } catch {
    input.select();
    document.execCommand("copy");
  }
  $("secret-copied").textContent = "Copied.";
}

async function createClient(e) {
  e.preventDefault();
  const words = (id) => $(id).value.split(/\s+/).filter(Boolean);
  const body = {
    grant_types: [...document.querySelectorAll('#client-form input[name="grant"]:checked')].map((i) => i.value),
    scope: $("c-scope").value.trim(),
    token_endpoint_auth_method: $("c-auth").value,
    can_introspect: $("c-introspect").checked,
    dpop_bound_access_tokens: $("c-dpop").checked,
    audience: words("c-audience"),
  };
  if ($("c-id").value) body.client_id = $("c-id").value;
  if ($("c-name").value) body.client_name = $("c-name").value;
  if ($("c-secret").value) body.client_secret = $("c-secret").value;
  clearMessages();
  try {
    const out = await api("POST", "/admin/clients", body);
    $("client-form").reset();
    notice("Client " + out.client_id + " was created.");
    await showClients();
    showSecret(out.client_id, body.client_secret ? "" : out.client_secret);
  } catch (err) {
    fail(err);
  }
}

// ------------------------------------------------------------------- Users

let lastSearch = null;

async function searchUsers(prefix) {
  lastSearch = prefix;
  const { items } = await api("GET", "/admin/users?username_prefix=" + enc(prefix) + "&limit=50");
  fill("users", items.map((u) => row([u.username, u.id, when(u.created_at), u.disabled ? "disabled" : "active",
    link("Open", "#/users/" + enc(u.id))])), "No user's name starts with that.");
}

async function showUsers(id) {
  if (lastSearch !== null) await searchUsers(lastSearch);
  if (!id) { $("user").hidden = true; return; }
  const u = await api("GET", "/admin/users/" + enc(id));
  $("user-name").textContent = u.username;
  $("user-line").textContent = u.username + " (" + u.id + "), created " + when(u.created_at) + (u.disabled ? ", disabled" : ", active");
  const toggle = $("user-toggle");
  toggle.textContent = u.disabled ? "Enable" : "Disable";
  toggle.onclick = async () => {
    if (!u.disabled && !await confirmAction("Disable " + u.username + "? Every login of the user ends, and the user cannot log in.", "Disable user")) return;
    await act(() => api("PATCH", "/admin/users/" + enc(u.id), { disabled: !u.disabled }), u.username + (u.disabled ? " was enabled." : " was disabled."));
  };
  $("logout-all").onclick = async () => {
    if (!await confirmAction("Log " + u.username + " out everywhere? Every login of the user ends.", "Log out everywhere")) return;
    await act(() => api("DELETE", "/admin/users/" + enc(u.id) + "/sessions"), u.username + " was logged out everywhere.");
  };
  $("user-delete").onclick = async () => {
    if (!await confirmAction("Delete user " + u.username + "? Every login of the user ends. This cannot be undone.", "Delete user")) return;
    clearMessages();
    try {
      await api("DELETE", "/admin/users/" + enc(u.id));
      notice("User " + u.username + " was deleted.");
      location.hash = "#/users";
    } catch (err) { fail(err); }
  };
  $("password-form").onsubmit = async (e) => {
    e.preventDefault();
    const password = $("new-password").value;
    if (!await confirmAction("Set a new password for " + u.username + "? Every login of the user ends.", "Set password")) return;
    $("new-password").value = "";
    await act(() => api("PUT", "/admin/users/" + enc(u.id) + "/password", { password }), "The password of " + u.username + " was set.");
  };
  const { items: sessions } = await api("GET", "/admin/users/" + enc(u.id) + "/sessions");
  fill("sessions", sessions.map((s) => row([link(s.id, "#/sessions/" + enc(s.id)), s.client_id, s.scope,
    when(s.created_at), when(s.last_used_at), when(s.expires_at),
    button("End", async () => {
      if (!await confirmAction("End login " + s.id + " of " + u.username + "?", "End login")) return;
      await act(() => api("DELETE", "/admin/sessions/" + enc(s.id)), "Login " + s.id + " was ended.");
    }, "danger")])), "No live logins.");
  $("user").hidden = false;
}

async function createUser(e) {
  e.preventDefault();
  const username = $("nu-name").value;
  clearMessages();
  try {
    const u = await api("POST", "/admin/users", { username, password: $("nu-password").value });
    $("new-user-form").reset();
    notice("User " + u.username + " was created.");
    location.hash = "#/users/" + enc(u.id);
  } catch (err) {
    fail(err);
  }
}

// ----------------------------------------------------------- A login's story

// STORY says, per event type, what it means for the login.
const STORY = {
  issued: "Login started (password grant).",
  refreshed: "Refresh token rotated.",
  replayed: "The spent refresh token came back within the grace window and got the same answer again: the app retried.",
  reuse_detected: "The spent refresh token came back after the grace window: someone else may hold a copy.",
  family_revoked: "The login ended.",
  revoked: "The client revoked a token of this login (RFC 7009).",
  logout_everywhere: "An operator logged the user out everywhere.",
  lockout: "The password grant was locked for a while.",
};

// details lists an event's extra fields as text: reason, signals, enforced.
function details(ev) {
  const parts = [];
  if (ev.reason) parts.push("reason: " + ev.reason);
  if (Array.isArray(ev.signals) && ev.signals.length) parts.push("signals: " + ev.signals.join(", "));
  else if (typeof ev.signals === "string" && ev.signals) parts.push("signals: " + ev.signals);
  if (ev.enforced === true) parts.push("enforced: the login ended");
  if (ev.enforced === false) parts.push("not enforced (report mode): the login stayed live");
  return parts.join("; ");
}

async function showSession(id) {
  $("session-id").value = id || "";
  $("timeline").replaceChildren();
  $("session-summary").textContent = "";
  $("session-end").hidden = true;
  if (!id) return;
  const { items } = await api("GET", "/admin/sessions/" + enc(id) + "/events");
  let prev = null;
  $("timeline").replaceChildren(...items.map((ev) => {
    const li = el("li");
    li.className = "ev ev-" + ev.type.replace(/[^a-z_]/g, "");
    const head = el("p");
    head.append(el("time", when(ev.created_at), { datetime: ev.created_at }), document.createTextNode(" "), el("strong", ev.type));
    li.appendChild(head);
    li.appendChild(el("p", STORY[ev.type] || ""));
    const facts = el("ul");
    if (ev.client_address) {
      const moved = prev && prev.client_address && prev.client_address !== ev.client_address ? " (changed from " + prev.client_address + ")" : "";
      facts.appendChild(el("li", "address: " + ev.client_address + moved));
    }
    if (ev.user_agent) {
      const moved = prev && prev.user_agent && prev.user_agent !== ev.user_agent ? " (changed)" : "";
      facts.appendChild(el("li", "user agent: " + ev.user_agent + moved));
    }
    if (ev.client_id) facts.appendChild(el("li", "client: " + ev.client_id));
    const d = details(ev);
    if (d) facts.appendChild(el("li", d));
    li.appendChild(facts);
    if (ev.type === "issued" || ev.type === "refreshed") prev = ev;
    return li;
  }));
  const ended = items.find((ev) => ev.type === "family_revoked");
  const first = items[0];
  $("session-summary").textContent = items.length + " events" +
    (first && first.user_id ? ", user " + first.user_id : "") + (first ? ", client " + first.client_id : "") +
    (ended ? "; ended " + when(ended.created_at) + " (" + (ended.reason || "no reason") + ")" : "; not ended by an event");
  if (!ended) {
    $("session-end").hidden = false;
    $("session-end").onclick = async () => {
      if (!await confirmAction("End login " + id + "?", "End login")) return;
      await act(() => api("DELETE", "/admin/sessions/" + enc(id)), "Login " + id + " was ended.");
    };
  }
}

// ------------------------------------------------------------------ Events

// The feed pages with the admin API's cursor: each page's "next" is the
// "before" of the page after it (older events). Going back to newer pages
// replays the cursors seen on the way.
const PAGE = 50;
let feed = { cursors: [""], page: 0, next: "", items: [] };

async function resolveUser(v) {
  if (!v) return "";
  const { items } = await api("GET", "/admin/users?username=" + enc(v));
  return items.length ? items[0].id : v;
}

// feedFilters reads the filter form into the API's parameters.
async function feedFilters() {
  const params = new URLSearchParams({ limit: String(PAGE) });
  if ($("ev-type").value) params.set("type", $("ev-type").value);
  const user = await resolveUser($("ev-user").value.trim());
  if (user) params.set("user_id", user);
  if ($("ev-since").value) params.set("since", new Date($("ev-since").value + "Z").toISOString());
  return params;
}

async function loadEvents(page) {
  const params = await feedFilters();
  if (!page) feed = { cursors: [""], page: 0, next: "", items: [] };
  else feed.page = page;
  const before = feed.cursors[feed.page];
  if (before) params.set("before", before);
  const out = await api("GET", "/admin/events?" + params.toString());
  feed.items = out.items;
  feed.next = out.next || "";
  feed.cursors[feed.page + 1] = feed.next;
  renderEvents();
}

function renderEvents() {
  fill("events", feed.items.map((ev) => row([when(ev.created_at), ev.type, ev.user_id || "", ev.client_id || "",
    ev.session_id ? link(ev.session_id, "#/sessions/" + enc(ev.session_id)) : "", ev.client_address || "", details(ev)])),
  "No events match.");
  $("ev-page").textContent = "page " + (feed.page + 1) + " (" + feed.items.length + " events" + (feed.next ? ", more older" : "") + ")";
  $("ev-newer").disabled = feed.page === 0;
  $("ev-older").disabled = !feed.next;
}

// ------------------------------------------------------------------ Routing

const PAGES = ["overview", "clients", "users", "session", "events"];

function showPage(name) {
  for (const p of PAGES) $("page-" + p).hidden = p !== name;
  for (const a of document.querySelectorAll("#nav a")) {
    if (a.dataset.page === name || (name === "session" && a.dataset.page === "events")) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}

// route shows the page the location's hash names: #/overview, #/clients,
// #/users, #/users/ID, #/sessions/ID, #/events. Calls run one after the
// other, so a slow answer for a page left behind never paints over the
// page asked for last.
let routing = Promise.resolve();
function route() {
  routing = routing.then(showRoute);
  return routing;
}

async function showRoute() {
  if (!token) return;
  const parts = location.hash.replace(/^#\/?/, "").split("/");
  const arg = parts[1] ? decodeURIComponent(parts[1]) : "";
  try {
    switch (parts[0]) {
      case "clients": showPage("clients"); await showClients(); break;
      case "users": showPage("users"); await showUsers(arg); break;
      case "sessions": showPage("session"); await showSession(arg); break;
      case "events": showPage("events"); await loadEvents(0); break;
      default: showPage("overview"); await showOverview(); break;
    }
  } catch (err) {
    fail(err);
  }
  loaded();
}

// loaded counts the times a page has shown its data; tests wait for it to
// move.
function loaded() {
  document.body.dataset.loads = String(Number(document.body.dataset.loads || 0) + 1);
}

function signOut(message) {
  token = "";
  sessionStorage.removeItem(TOKEN_KEY);
  $("console").hidden = true;
  $("nav").hidden = true;
  $("login").hidden = false;
  $("token").value = "";
  if (message) {
    $("login-error").textContent = message;
    $("login-error").hidden = false;
  }
}

async function open() {
  try {
    await api("GET", "/admin/clients");
  } catch (err) {
    signOut(err.status === 401 ? "The admin token was refused." : err.message);
    return;
  }
  $("login").hidden = true;
  $("login-error").hidden = true;
  $("console").hidden = false;
  $("nav").hidden = false;
  await route();
}

$("token-form").addEventListener("submit", (e) => {
  e.preventDefault();
  token = $("token").value;
  sessionStorage.setItem(TOKEN_KEY, token);
  open();
});
$("signout").addEventListener("click", () => signOut(""));
$("stats-form").addEventListener("submit", (e) => { e.preventDefault(); clearMessages(); route(); });
$("stats-range").addEventListener("change", () => route());
$("client-form").addEventListener("submit", createClient);
$("secret-copy").addEventListener("click", copySecret);
$("secret-done").addEventListener("click", () => { $("secret-value").value = ""; $("secret-box").hidden = true; });
$("user-form").addEventListener("submit", (e) => {
  e.preventDefault();
  clearMessages();
  lastSearch = $("username").value;
  route();
});
$("new-user-form").addEventListener("submit", createUser);
$("session-form").addEventListener("submit", (e) => {
  e.preventDefault();
  location.hash = "#/sessions/" + enc($("session-id").value.trim());
});
$("events-form").addEventListener("submit", (e) => { e.preventDefault(); clearMessages(); route(); });
$("ev-newer").addEventListener("click", () => { clearMessages(); loadEvents(feed.page - 1).then(loaded, fail); });
$("ev-older").addEventListener("click", () => { clearMessages(); loadEvents(feed.page + 1).then(loaded, fail); });
window.addEventListener("hashchange", () => { clearMessages(); route(); });
if (token) open();
