// gwfactory dashboard, access: sign-in with an API token (kept in sessionStorage: gone when
// the tab closes), controls limited to what the role may do, the live feed over fetch (an
// EventSource cannot send the token), authorised downloads, and the admin panel.
// Everything that came from the server goes into the page as text, never as markup.
"use strict";

const TOKEN_KEY = "gwf-token";
const access = { token: sessionStorage.getItem(TOKEN_KEY), me: null };

function authHeaders() { return access.token ? { Authorization: `Bearer ${access.token}` } : {}; }

// Who the server says we are: {name, role, mode, may}, or null with the reason.
async function whoAmI() {
  const response = await fetch("/api/auth/me", { headers: authHeaders() });
  const data = await response.json().catch(() => ({}));
  return response.ok ? { me: data, reason: null } : { me: null, reason: data.detail || `HTTP ${response.status}` };
}

function showSignIn(reason) {
  access.me = null;
  document.getElementById("main").hidden = true;
  document.getElementById("signin").hidden = false;
  document.getElementById("who").hidden = true;
  document.getElementById("sign-out").hidden = true;
  const box = document.querySelector("[data-error-for=signin]");
  box.textContent = access.token ? reason || "" : "";
  document.querySelector("#signin-form input[name=token]").focus();
}

// Hide what the role may not do; the server refuses it anyway (403), this only spares the click.
function applyRole(me) {
  access.me = me;
  document.getElementById("signin").hidden = true;
  document.getElementById("main").hidden = false;
  for (const node of document.querySelectorAll("[data-needs]")) node.hidden = !me.may[node.dataset.needs];
  const who = document.getElementById("who");
  who.hidden = false;
  who.textContent = me.mode === "local" ? "local admin (no tokens issued: loopback only)" : `${me.name} · ${me.role}`;
  who.title = me.mode === "local" ? "This server has never issued a token, so everyone on this machine is admin. `gwf token create` ends that." : `token ${me.token_id}`;
  document.getElementById("sign-out").hidden = me.mode === "local";
}

function may(what) { return !!(access.me && access.me.may[what]); }

function wireSignIn(onSignedIn) {
  const form = document.getElementById("signin-form");
  form.addEventListener("submit", async e => {
    e.preventDefault();
    access.token = form.elements.token.value.trim();
    const { me, reason } = await whoAmI();
    if (!me) { sessionStorage.removeItem(TOKEN_KEY); showSignIn(reason); return; }
    sessionStorage.setItem(TOKEN_KEY, access.token);
    form.reset();
    onSignedIn(me);
  });
  document.getElementById("sign-out").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    location.reload();
  });
}

// A page of the API (the Gantt) fetched with the token and saved: a new tab could not carry
// the token, and a page opened from a blob would inherit this page's script policy.
async function downloadPage(url, filename) {
  const response = await fetch(url, { headers: authHeaders() });
  if (!response.ok) return false;
  const link = document.createElement("a");
  link.href = URL.createObjectURL(await response.blob());
  link.download = filename;
  document.body.appendChild(link);
  link.click();
  setTimeout(() => { URL.revokeObjectURL(link.href); link.remove(); }, 1000);
  return true;
}

// ---------- the live feed: Server-Sent Events read through fetch ----------
function parseEvent(block) {
  const event = { event: "message", data: "", id: null };
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const at = line.indexOf(":");
    const field = at < 0 ? line : line.slice(0, at), value = at < 0 ? "" : line.slice(at + 1).replace(/^ /, "");
    if (field === "data") event.data += (event.data ? "\n" : "") + value;
    else if (field === "event") event.event = value;
    else if (field === "id") event.id = value;
  }
  return event;
}

// Calls handlers[eventName](data) for each event; reconnects after 2 s, resuming after the last id.
async function liveFeed(handlers, onState) {
  let lastId = null;
  for (;;) {
    try {
      const headers = authHeaders();
      if (lastId !== null) headers["Last-Event-ID"] = lastId;
      const response = await fetch("/api/events", { headers, cache: "no-store" });
      if (response.status === 401) { showSignIn("signed out: the token is no longer valid"); return; }
      if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
      onState(true);
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value.replace(/\r\n?/g, "\n");
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const event = parseEvent(buffer.slice(0, cut));
          buffer = buffer.slice(cut + 2);
          if (event.id !== null) lastId = event.id;
          if (event.data && handlers[event.event]) handlers[event.event](JSON.parse(event.data).data);
        }
      }
    } catch (_) { /* dropped: reconnect below */ }
    onState(false);
    await new Promise(resolve => setTimeout(resolve, 2000));
  }
}

// ---------- admin: tokens and the audit log ----------
function row(cells, tbody) {
  const tr = document.createElement("tr");
  for (const cell of cells) {
    const td = document.createElement("td");
    if (cell instanceof Node) td.appendChild(cell); else td.textContent = cell ?? "";
    tr.appendChild(td);
  }
  tbody.appendChild(tr);
  return tr;
}

async function loadAdmin() {
  if (!may("admin")) return;
  const [tokens, audit] = await Promise.all([api("GET", "/api/tokens"), api("GET", "/api/audit?limit=50")]);
  if (tokens.ok) {
    const body = clear(document.querySelector("#tokens tbody"));
    for (const t of tokens.data) {
      let action = "";
      if (!t.revoked) {
        action = document.createElement("button");
        action.type = "button"; action.className = "revoke"; action.textContent = "revoke";
        action.addEventListener("click", async () => { await api("DELETE", `/api/tokens/${encodeURIComponent(t.id)}`); loadAdmin(); });
      }
      row([t.id, t.name, t.role, t.created.slice(0, 16).replace("T", " "), t.revoked ? `revoked ${t.revoked.slice(0, 16).replace("T", " ")}` : (t.last_used ? `used ${t.last_used.slice(0, 16).replace("T", " ")}` : "never used"), action], body);
    }
  }
  if (audit.ok) {
    const body = clear(document.querySelector("#audit tbody"));
    for (const r of audit.data.records) {
      const tr = row([r.at.slice(0, 19).replace("T", " "), r.who, r.role, r.action, r.target, `${r.status} ${r.outcome}`, r.detail], body);
      tr.className = `outcome-${r.outcome}`;
    }
    document.getElementById("audit-total").textContent = `${audit.data.total} state-changing requests recorded; latest ${audit.data.records.length}`;
  }
}

function wireAdmin() {
  const form = document.getElementById("token-form");
  form.addEventListener("submit", async e => {
    e.preventDefault();
    showError(form, "token", null);
    const r = await api("POST", "/api/tokens", { name: form.elements.name.value, role: form.elements.role.value });
    if (!r.ok) { showError(form, "token", r.data || { detail: `HTTP ${r.status}` }); return; }
    document.getElementById("new-token").textContent = `${r.data.token}  (shown once: give it to ${r.data.name} now)`;
    form.reset();
    loadAdmin();
  });
}
