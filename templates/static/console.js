// The console talks to the admin API with the operator's bearer token; it
// renders with textContent only, never as markup, so no stored value can
// become markup.
"use strict";
const $ = (id) => document.getElementById(id);
let token = sessionStorage.getItem("latch-admin-token") || "";

async function api(method, path) {
  const res = await fetch(path, { method, headers: { Authorization: "Bearer " + token } });
  if (res.status === 204) return null;
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body.error_description || body.error || res.statusText);
  return body;
}

function row(cells, action) {
  const tr = document.createElement("tr");
  for (const c of cells) {
    const td = document.createElement("td");
    td.textContent = c;
    tr.appendChild(td);
  }
  const td = document.createElement("td");
  if (action) td.appendChild(action);
  tr.appendChild(td);
  return tr;
}

function button(label, onClick) {
  const b = document.createElement("button");
  b.textContent = label;
  b.addEventListener("click", onClick);
  return b;
}

function fail(err) { $("error").textContent = err.message; $("error").hidden = false; }

async function loadClients() {
  const { items } = await api("GET", "/admin/clients");
  const body = $("clients").tBodies[0];
  body.replaceChildren(...items.map((c) => row(
    [c.client_id, c.token_endpoint_auth_method, c.grant_types.join(" "), c.scope, String(c.can_introspect)],
    button("Delete", async () => {
      if (!confirm("Delete client " + c.client_id + "? Every token it holds stops working.")) return;
      await api("DELETE", "/admin/clients/" + encodeURIComponent(c.client_id)).catch(fail);
      loadClients().catch(fail);
    }))));
}

async function loadUser(name) {
  const { items } = await api("GET", "/admin/users?username=" + encodeURIComponent(name));
  if (items.length === 0) throw new Error("no such user");
  const u = items[0];
  $("user-line").textContent = u.username + " (" + u.id + ")" + (u.disabled ? ", disabled" : "");
  $("logout-all").onclick = async () => {
    await api("DELETE", "/admin/users/" + encodeURIComponent(u.id) + "/sessions").catch(fail);
    loadUser(name).catch(fail);
  };
  const { items: sessions } = await api("GET", "/admin/users/" + encodeURIComponent(u.id) + "/sessions");
  $("sessions").tBodies[0].replaceChildren(...sessions.map((s) => row(
    [s.id, s.client_id, s.scope, s.created_at, s.last_used_at, s.expires_at],
    button("End", async () => {
      await api("DELETE", "/admin/sessions/" + encodeURIComponent(s.id)).catch(fail);
      loadUser(name).catch(fail);
    }))));
  $("user").hidden = false;
}

async function open() {
  try {
    await loadClients();
    $("login").hidden = true;
    $("console").hidden = false;
  } catch (err) {
    $("login-error").textContent = err.message;
    $("login-error").hidden = false;
  }
}

$("token-form").addEventListener("submit", (e) => {
  e.preventDefault();
  token = $("token").value;
  sessionStorage.setItem("latch-admin-token", token);
  open();
});
$("user-form").addEventListener("submit", (e) => {
  e.preventDefault();
  $("error").hidden = true;
  loadUser($("username").value).catch(fail);
});
if (token) open();
