// Portcullis admin page. Vanilla JS, no build step. Every value from the API
// is inserted with textContent (never innerHTML): agent ids, reasons and
// arguments come from untrusted callers.
"use strict";
(function () {
  let token = null;
  let timer = null;
  const $ = (id) => document.getElementById(id);
  const base = location.pathname.replace(/\/(index\.html)?$/, "").replace(/\/admin$/, "") + "/admin/v1/";

  function status(text, isError) {
    const s = $("status");
    s.textContent = text;
    s.className = isError ? "error" : "";
  }

  async function api(method, path, body) {
    const opts = { method, headers: { Authorization: "Bearer " + token }, cache: "no-store" };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    const r = await fetch(base + path, opts);
    let data = null;
    try { data = await r.json(); } catch (e) { data = null; }
    if (r.status === 401) { logout(); throw new Error("token rejected"); }
    if (!r.ok) throw new Error((data && data.error && data.error.message) || ("HTTP " + r.status));
    return data;
  }

  function cell(tr, text, cls) {
    const td = document.createElement("td");
    td.textContent = text === undefined || text === null ? "" : String(text);
    if (cls) td.className = cls;
    tr.appendChild(td);
    return td;
  }

  function button(td, label, cls, onClick) {
    const b = document.createElement("button");
    b.textContent = label;
    if (cls) b.className = cls;
    b.addEventListener("click", async () => {
      b.disabled = true;
      try { await onClick(); await refresh(); } catch (e) { status(e.message, true); }
      b.disabled = false;
    });
    td.appendChild(b);
  }

  function fill(tbodyId, rows, columns, render) {
    const tb = $(tbodyId);
    tb.replaceChildren();
    if (!rows.length) {
      const tr = document.createElement("tr");
      const td = cell(tr, "none", "empty");
      td.colSpan = columns;
      tb.appendChild(tr);
      return;
    }
    for (const row of rows) {
      const tr = document.createElement("tr");
      render(tr, row);
      tb.appendChild(tr);
    }
  }

  async function refresh() {
    if (!token) return;
    try {
      const [kills, approvals, agents] = await Promise.all([api("GET", "kill"), api("GET", "approvals"), api("GET", "agents")]);
      fill("kills", kills.kill_switches, 7, (tr, k) => {
        cell(tr, k.id); cell(tr, k.kind); cell(tr, k.target); cell(tr, k.reason);
        cell(tr, k.created_by); cell(tr, k.created_at);
        button(cell(tr, ""), "Lift", "", () => api("DELETE", "kill/" + encodeURIComponent(k.id)));
      });
      fill("approvals", approvals.approvals, 9, (tr, a) => {
        cell(tr, a.id); cell(tr, a.agent); cell(tr, a.owner); cell(tr, a.user);
        cell(tr, a.upstream + "/" + a.tool); cell(tr, JSON.stringify(a.arguments, null, 1), "args");
        cell(tr, a.rule_id); cell(tr, a.deadline);
        const td = cell(tr, "");
        button(td, "Approve", "", () => api("POST", "approvals/" + encodeURIComponent(a.id) + "/approve",
                                            { arguments_hash: a.arguments_hash }));
        button(td, "Deny", "danger", () => {
          const reason = prompt("Reason for denying (optional)") || "";
          return api("POST", "approvals/" + encodeURIComponent(a.id) + "/deny", { reason });
        });
      });
      fill("agents", agents.agents, 7, (tr, a) => {
        cell(tr, a.id); cell(tr, a.owner);
        cell(tr, a.status, a.status === "active" ? "" : a.status);
        cell(tr, a.last_seen || "never"); cell(tr, a.requests); cell(tr, a.denials);
        const td = cell(tr, "");
        if (a.status !== "killed") {
          button(td, "Kill", "danger", () => {
            const reason = prompt("Kill agent " + a.id + "? Reason:");
            if (reason === null) return Promise.resolve();
            return api("POST", "kill", { agent: a.id, reason });
          });
        }
      });
      status("updated " + new Date().toLocaleTimeString(), false);
    } catch (e) {
      status(e.message, true);
    }
  }

  function login(t) {
    token = t;
    $("login").hidden = true;
    $("app").hidden = false;
    $("logout").hidden = false;
    refresh();
    timer = setInterval(refresh, 2000);
  }

  function logout() {
    token = null;
    if (timer) clearInterval(timer);
    timer = null;
    $("login").hidden = false;
    $("app").hidden = true;
    $("logout").hidden = true;
    $("token").value = "";
  }

  $("login-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const t = $("token").value.trim();
    $("token").value = "";
    if (t) login(t);
  });
  $("logout").addEventListener("click", logout);
  $("kill-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const kind = $("kill-kind").value;
    const body = { reason: $("kill-reason").value };
    if (kind === "all") {
      if (!confirm("Kill EVERYTHING?")) return;
      body.all = true;
    } else {
      body[kind] = $("kill-target").value.trim();
    }
    try {
      await api("POST", "kill", body);
      $("kill-target").value = "";
      $("kill-reason").value = "";
      await refresh();
    } catch (e) {
      status(e.message, true);
    }
  });
})();
