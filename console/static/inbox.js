// The review inbox: one keystroke (or click) per decision on the current message or
// on the selection, undo, and the conversation around a message, over the JSON API.
// Customer text only ever goes through textContent; the page's Content-Security-Policy
// allows no inline code.
(function () {
  "use strict";

  const data = document.getElementById("inbox-data").dataset;
  const strings = JSON.parse(document.getElementById("strings").textContent);
  const list = document.getElementById("inbox-items");
  const flashNode = document.getElementById("inbox-flash");
  const relabel = document.getElementById("relabel-intent");
  const selectedCount = document.getElementById("selected-count");
  const panel = document.getElementById("conversation-panel");
  const panelMessages = document.getElementById("conversation-messages");
  const DECISIONS = ["confirm", "relabel", "out_of_scope", "ignore", "hold_out"];
  const KEYS = { c: "confirm", r: "relabel", o: "out_of_scope", i: "ignore", h: "hold_out", u: "undo" };

  function t(key, values) {
    let text = strings[key] || key;
    Object.keys(values || {}).forEach(function (name) {
      text = text.split("{" + name + "}").join(String(values[name]));
    });
    return text;
  }

  // A refusal in the trainer's language where the page knows its code.
  function refusal(problem) {
    const code = problem.code || "";
    const message = problem.message || code || "?";
    const key = "training.inbox.error." + code;
    return strings[key] ? t(key, { message: message }) : message;
  }

  function flash(text, error) {
    flashNode.hidden = !text;
    flashNode.textContent = text || "";
    flashNode.classList.toggle("flash-error", Boolean(error));
  }

  function items() { return Array.from(list.querySelectorAll(".inbox-item")); }
  let current = items()[0] || null;

  function focus(item) {
    if (!item) { return; }
    if (current) { current.classList.remove("current"); }
    current = item;
    current.classList.add("current");
    current.focus({ preventScroll: false });
  }

  function picked() { return items().filter(function (item) { return item.querySelector(".pick").checked; }); }

  function countPicked() {
    selectedCount.textContent = t("training.inbox.selected", { count: picked().length });
  }

  async function api(method, path, body) {
    const options = { method: method, headers: { "X-CSRF-Token": data.csrf }, credentials: "same-origin" };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    const response = await fetch(path, options);
    const answer = await response.json().catch(function () { return {}; });
    if (!response.ok) { throw answer.error || { message: String(response.status) }; }
    return answer;
  }

  function show(item, row) {
    item.dataset.status = row.status;
    item.className = "inbox-item status-" + row.status + (item === current ? " current" : "");
    let text = t("training.inbox.status." + row.status);
    if (row.label) { text += " → " + row.label; }
    if (row.held_out) { text += " (" + t("training.inbox.held_out") + ")"; }
    item.querySelector(".status").textContent = text;
  }

  function body(action) {
    const label = relabel.value.trim();
    if (action === "relabel" && !label) { return null; }
    return action === "relabel" || (action === "hold_out" && label)
      ? { action: action, label: label }
      : { action: action };
  }

  async function act(action) {
    const chosen = picked();
    const targets = chosen.length ? chosen : (current ? [current] : []);
    if (!targets.length) { return; }
    if (action === "relabel" && !relabel.value.trim()) {
      const suggestion = targets[0].dataset.flag;
      if (suggestion && !relabel.value) { relabel.value = suggestion; }
      relabel.focus();
      flash(t("training.inbox.choose_intent"), false);
      return;
    }
    try {
      if (action === "undo") {
        for (const item of targets) { show(item, await api("POST", "/api/v1/training/inbox/" + item.dataset.id + "/undo")); }
        flash(t("training.inbox.undone"), false);
      } else if (targets.length === 1 && !chosen.length) {
        show(targets[0], await api("POST", "/api/v1/training/inbox/" + targets[0].dataset.id + "/decision", body(action)));
        flash(t("training.inbox.decided"), false);
      } else {
        const ids = targets.map(function (item) { return Number(item.dataset.id); });
        const answer = await api("POST", "/api/v1/training/inbox/decisions", Object.assign({ ids: ids }, body(action)));
        answer.done.forEach(function (row) {
          const item = list.querySelector('.inbox-item[data-id="' + row.id + '"]');
          if (item) { show(item, row); item.querySelector(".pick").checked = false; }
        });
        countPicked();
        const refused = answer.refused.map(function (r) { return refusal(r); });
        flash(refused.length ? t("training.inbox.some_refused", { count: refused.length }) + " " + refused.join(" ") : t("training.inbox.decided"), refused.length > 0);
      }
      if (action !== "undo" && targets.length === 1) { next(1); }
    } catch (problem) {
      flash(t("training.inbox.refused", { message: refusal(problem) }), true);
    }
  }

  function next(step) {
    const all = items();
    const at = all.indexOf(current);
    focus(all[Math.min(all.length - 1, Math.max(0, at + step))]);
  }

  function hint(node, key, value) {
    node.textContent = value ? t(key, { reason: value }) : "";
  }

  async function conversation(item) {
    try {
      const found = await api("GET", "/api/v1/training/inbox/" + item.dataset.id + "/conversation");
      panelMessages.replaceChildren();
      found.messages.forEach(function (m) {
        const line = document.createElement("li");
        line.className = "message " + m.sender + (m.reviewed ? " reviewed" : "");
        const who = document.createElement("span");
        who.className = "who";
        who.textContent = t("training.inbox.sender." + m.sender) + " ";
        const text = document.createElement("span");
        text.className = "text";
        text.textContent = m.text;
        line.append(who, text);
        if (m.buttons.length) {
          const buttons = document.createElement("span");
          buttons.className = "muted";
          buttons.textContent = " [" + m.buttons.join(" | ") + "]";
          line.append(buttons);
        }
        panelMessages.append(line);
      });
      document.getElementById("conversation-story").href =
        "/console/conversations/" + encodeURIComponent(found.conversation_id) + "/story";
      hint(document.getElementById("hint-handoff"), "training.inbox.hint.handoff", found.handoff_reason);
      hint(document.getElementById("hint-resolution"), "training.inbox.hint.resolution", found.resolution_reason);
      panel.hidden = false;
    } catch (problem) {
      flash(t("training.inbox.refused", { message: problem.message || problem.code || "?" }), true);
    }
  }

  list.addEventListener("click", function (event) {
    const item = event.target.closest(".inbox-item");
    if (!item) { return; }
    if (event.target.classList.contains("pick")) { countPicked(); return; }
    focus(item);
    const action = event.target.dataset.action;
    if (action === "conversation") { conversation(item); }
    else if (action) { act(action); }
  });

  document.getElementById("bulk-bar").addEventListener("click", function (event) {
    const action = event.target.dataset && event.target.dataset.action;
    if (action) { act(action); }
  });

  relabel.addEventListener("keydown", function (event) {
    if (event.key === "Enter") { event.preventDefault(); act("relabel"); }
    if (event.key === "Escape") { relabel.blur(); if (current) { current.focus(); } }
  });

  document.addEventListener("keydown", function (event) {
    const target = event.target;
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    if (target && (target.tagName === "INPUT" || target.tagName === "SELECT" || target.tagName === "TEXTAREA")) { return; }
    if (event.key === "j") { next(1); }
    else if (event.key === "k") { next(-1); }
    else if (event.key === "x" && current) {
      const box = current.querySelector(".pick");
      box.checked = !box.checked;
      countPicked();
    } else if (event.key === "v" || event.key === "Enter") { if (current) { conversation(current); } }
    else if (event.key === "/") { document.getElementById("inbox-search").focus(); }
    else if (KEYS[event.key]) { act(KEYS[event.key]); }
    else { return; }
    event.preventDefault();
  });

  if (DECISIONS.length && current) { focus(current); }
  countPicked();
})();
