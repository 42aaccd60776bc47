// The agent workspace: the live queue, one conversation's transcript and notes,
// and the side panel for acting on it, over the /agents socket.io namespace and
// the casework API. Text from customers and agents only ever goes through
// textContent; the page's Content-Security-Policy allows no inline code.
(function () {
  "use strict";

  const ANSWER_TARGET_SECONDS = 20;
  const TYPING_REPEAT_MS = 3000; // tell the server "still typing" at most this often
  const TYPING_IDLE_MS = 2500; // and "stopped" after this long without a key
  const TYPING_SHOWN_MS = 8000; // hide a typing indicator nobody switched off

  const data = document.getElementById("console-data").dataset;
  const me = {
    id: Number(data.agentId),
    name: data.agentName,
    role: data.role,
    team: data.team,
    supervisor: data.role === "supervisor" || data.role === "admin",
  };
  const lang = data.lang === "en" ? "en" : "zh";
  const locale = lang === "en" ? "en-GB" : "zh-CN";
  const csrf = data.csrf;
  const strings = JSON.parse(document.getElementById("strings").textContent);

  const $ = function (id) { return document.getElementById(id); };
  const ui = {
    status: $("status"),
    presence: $("presence"),
    tagFilter: $("tag-filter"),
    queued: $("queued"),
    queuedCount: $("queued-count"),
    mine: $("mine"),
    mineCount: $("mine-count"),
    supervision: $("supervision"),
    byAgent: $("assigned-by-agent"),
    agents: $("agents"),
    title: $("conversation-title"),
    meta: $("conversation-meta"),
    accept: $("accept"),
    flash: $("flash"),
    messages: $("messages"),
    typing: $("typing"),
    readOnly: $("read-only"),
    reply: $("reply"),
    replyText: $("reply-text"),
    side: $("side"),
    handoffReason: $("handoff-reason"),
    handoffSummary: $("handoff-summary"),
    labels: $("labels"),
    labelForm: $("label-form"),
    labelInput: $("label-input"),
    cannedForm: $("canned-form"),
    canned: $("canned"),
    resolveForm: $("resolve-form"),
    resolveReason: $("resolve-reason"),
    transferForm: $("transfer-form"),
    transferTeam: $("transfer-team"),
    transferAgent: $("transfer-agent"),
    transferNote: $("transfer-note"),
    noteForm: $("note-form"),
    noteText: $("note-text"),
    callbackForm: $("callback-form"),
    callbackPhone: $("callback-phone"),
    callbackStart: $("callback-start"),
    callbackEnd: $("callback-end"),
    callbackReason: $("callback-reason"),
    callbackResult: $("callback-result"),
    customer: $("customer"),
    reminders: $("reminders"),
  };

  // ---- strings, dates, small DOM helpers ---------------------------------------------

  /** The interface string `key`, with `{name}` placeholders filled in. */
  function t(key, values) {
    const text = Object.prototype.hasOwnProperty.call(strings, key) ? strings[key] : key;
    if (!values) { return text; }
    return text.replace(/\{(\w+)\}/g, function (whole, name) {
      return Object.prototype.hasOwnProperty.call(values, name) ? String(values[name]) : whole;
    });
  }

  /** A code's label (`console.stage.paid`), or the code itself when there is none. */
  function label(prefix, code) {
    if (code === null || code === undefined || code === "") { return ""; }
    const key = prefix + code;
    return Object.prototype.hasOwnProperty.call(strings, key) ? strings[key] : String(code);
  }

  const dateTimeFormat = new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "short" });
  const dateFormat = new Intl.DateTimeFormat(locale, { dateStyle: "medium" });
  const timeFormat = new Intl.DateTimeFormat(locale, { timeStyle: "medium" });
  const numberFormat = new Intl.NumberFormat(locale, { maximumFractionDigits: 2 });

  function parse(iso) {
    const at = iso ? new Date(iso) : null;
    return at && !isNaN(at.getTime()) ? at : null;
  }
  function dateTime(iso) { const at = parse(iso); return at ? dateTimeFormat.format(at) : ""; }
  function time(iso) { const at = parse(iso); return at ? timeFormat.format(at) : ""; }
  function day(iso) {
    if (!iso) { return ""; }
    // A plain date ("2024-05-01") is a calendar day, not a UTC midnight.
    const plain = /^\d{4}-\d{2}-\d{2}$/.test(iso);
    const at = parse(plain ? iso + "T00:00:00" : iso);
    return at ? dateFormat.format(at) : String(iso);
  }
  function windowText(start, end) {
    const from = parse(start);
    const to = parse(end);
    if (!from) { return ""; }
    if (to && typeof dateTimeFormat.formatRange === "function") {
      return dateTimeFormat.formatRange(from, to);
    }
    return dateTime(start) + (to ? " – " + dateTime(end) : "");
  }
  function amount(value) {
    if (value === null || value === undefined || value === "") { return "—"; }
    const number = Number(value);
    return isNaN(number) ? String(value) : numberFormat.format(number);
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  function button(text, onClick, className) {
    const node = el("button", className, text);
    node.type = "button";
    node.addEventListener("click", onClick);
    return node;
  }

  function newId() {
    if (window.crypto && crypto.randomUUID) { return crypto.randomUUID(); }
    return Date.now().toString(36) + "-" + Math.random().toString(36).slice(2);
  }

  function flash(text) {
    ui.flash.textContent = text || "";
  }

  function failed(answer) {
    const message = answer && answer.error ? answer.error.message || answer.error.code : "?";
    flash(t("console.error", { message: message }));
  }

  // ---- state ------------------------------------------------------------------------

  const conversations = new Map(); // id -> ConversationView, with `receivedAt`
  const agents = new Map(); // id -> AgentView
  let teams = [];
  let reasons = [];
  let canned = [];
  let currentId = null;
  // What the open transcript shows: sequence numbers, note ids, the highest seq seen.
  let shownSeqs = new Set();
  let shownNotes = new Set();
  let lastSeq = 0;
  let ackedSeq = 0;
  // Replies not yet confirmed by the server, resent with the same id after a reconnect.
  const pending = new Map(); // client_message_id -> {conversation_id, text, node}
  let customerShown = null; // the customer id whose 360 is on screen
  let chosenPresence = sessionStorage.getItem("hd.console.presence") || "online";

  // The customers' tags of the listed conversations, asked of the server (which
  // answers only for conversations this agent may view), with the customer they were
  // read for: a verification changes the customer, and so the tags.
  const tagsOf = new Map(); // conversation id -> {customer, tags}

  const socket = io("/agents", { transports: ["websocket", "polling"] });

  function remember(view) {
    view.receivedAt = Date.now();
    conversations.set(view.id, view);
    return view;
  }

  function current() {
    return currentId === null ? null : conversations.get(currentId) || null;
  }

  function mineToAct(c) {
    return !!c && c.state === "assigned" && c.assigned_agent_id === me.id;
  }

  function mayAct(c) {
    return !!c && c.state === "assigned" && (c.assigned_agent_id === me.id || me.supervisor);
  }

  /** Seconds since the conversation was queued, moving with the clock. */
  function waitingSeconds(c) {
    if (typeof c.waiting_seconds === "number") {
      return Math.max(0, Math.floor(c.waiting_seconds + (Date.now() - c.receivedAt) / 1000));
    }
    const queuedAt = parse(c.queued_at);
    return queuedAt ? Math.max(0, Math.floor((Date.now() - queuedAt.getTime()) / 1000)) : 0;
  }

  function teamName(code) {
    const team = teams.find(function (x) { return x.code === code; });
    if (!team) { return code || ""; }
    return (lang === "en" ? team.name_en : team.name_zh) || team.code;
  }

  function agentName(id) {
    const agent = agents.get(id);
    return agent ? agent.display_name : "#" + id;
  }

  // ---- queue column -----------------------------------------------------------------

  function conversationItem(c) {
    const item = el("li");
    const open = el("button", "conversation-item");
    open.type = "button";
    open.dataset.conversationId = String(c.id);
    open.addEventListener("click", function () { openConversation(c.id); });
    if (c.id === currentId) {
      open.classList.add("current");
      open.setAttribute("aria-current", "true");
    }
    const head = el("span", "line");
    head.append(el("strong", null, "#" + c.id));
    if (c.priority) { head.append(el("span", "priority", t("console.priority", { priority: c.priority }))); }
    if (c.state === "queued") {
      const seconds = waitingSeconds(c);
      const waiting = el("span", "waiting", t("console.waiting", { seconds: seconds, target: ANSWER_TARGET_SECONDS }));
      waiting.dataset.conversationId = String(c.id);
      if (seconds > ANSWER_TARGET_SECONDS) {
        open.classList.add("over-target");
        waiting.title = t("console.over_target");
      }
      head.append(waiting);
    }
    open.append(head);
    const facts = el("span", "line facts-line");
    facts.append(
      el("span", "team", teamName(c.team)),
      el("span", "language", label("console.language.", c.language)),
      el("span", "channel", label("console.channel.", c.channel))
    );
    open.append(facts);
    if (c.labels && c.labels.length) {
      const chips = el("span", "line chips-line");
      c.labels.forEach(function (name) { chips.append(el("span", "chip", name)); });
      open.append(chips);
    }
    const tags = tagsOfConversation(c);
    if (tags.length) {
      const chips = el("span", "line chips-line customer-tags");
      tags.forEach(function (tag) {
        const chip = el("span", "chip chip-" + tag, label("console.behaviour.", tag));
        chip.dataset.tag = tag;
        chips.append(chip);
      });
      open.append(chips);
    }
    item.append(open);
    return item;
  }

  function visibleQueued(c) {
    if (c.state !== "queued") { return false; }
    return me.supervisor || c.team === me.team || c.assigned_agent_id === me.id;
  }

  function askTags() {
    const wanted = Array.from(conversations.values()).filter(function (c) {
      const known = tagsOf.get(c.id);
      return !known || known.customer !== c.customer_id;
    }).slice(0, 500);
    if (!wanted.length) { return; }
    const customers = new Map(wanted.map(function (c) { return [c.id, c.customer_id]; }));
    socket.emit("tags", { conversation_ids: Array.from(customers.keys()) }, function (answer) {
      if (!answer || !answer.ok) { return; }
      Object.keys(answer.tags || {}).forEach(function (id) {
        tagsOf.set(Number(id), { customer: customers.get(Number(id)), tags: answer.tags[id] });
      });
      renderQueue();
    });
  }

  function tagsOfConversation(c) {
    const known = tagsOf.get(c.id);
    return known ? known.tags : [];
  }

  function withWantedTag(c) {
    const wanted = ui.tagFilter.value;
    return !wanted || tagsOfConversation(c).indexOf(wanted) >= 0;
  }

  function renderQueue() {
    const all = Array.from(conversations.values()).filter(withWantedTag);
    const queued = all.filter(visibleQueued).sort(function (a, b) {
      return (b.priority || 0) - (a.priority || 0) || waitingSeconds(b) - waitingSeconds(a) || a.id - b.id;
    });
    const mine = all.filter(mineToAct).sort(function (a, b) { return a.id - b.id; });
    const focused = document.activeElement && document.activeElement.dataset
      ? document.activeElement.dataset.conversationId : undefined;

    ui.queued.replaceChildren.apply(ui.queued, queued.map(conversationItem));
    ui.queuedCount.textContent = String(queued.length);
    ui.mine.replaceChildren.apply(ui.mine, mine.map(conversationItem));
    ui.mineCount.textContent = String(mine.length);
    if (!queued.length) { ui.queued.append(el("li", "empty", t("console.empty"))); }
    if (!mine.length) { ui.mine.append(el("li", "empty", t("console.empty"))); }

    ui.supervision.hidden = !me.supervisor;
    if (me.supervisor) { renderSupervision(all); }
    // Re-rendering every second must not take the keyboard focus away.
    if (focused) {
      const again = document.querySelector('.conversation-item[data-conversation-id="' + focused + '"]');
      if (again) { again.focus(); }
    }
  }

  function renderSupervision(all) {
    const groups = new Map();
    all.filter(function (c) { return c.state === "assigned" && c.assigned_agent_id !== null; })
      .forEach(function (c) {
        if (!groups.has(c.assigned_agent_id)) { groups.set(c.assigned_agent_id, []); }
        groups.get(c.assigned_agent_id).push(c);
      });
    const blocks = [];
    groups.forEach(function (list, agentId) {
      const block = el("div", "agent-group");
      const first = list[0];
      block.append(el("h4", null, first.assigned_agent_name || agentName(agentId)));
      const ul = el("ul", "conversation-list");
      list.sort(function (a, b) { return a.id - b.id; }).forEach(function (c) { ul.append(conversationItem(c)); });
      block.append(ul);
      blocks.push(block);
    });
    if (!blocks.length) { blocks.push(el("p", "empty", t("console.empty"))); }
    ui.byAgent.replaceChildren.apply(ui.byAgent, blocks);

    const rows = Array.from(agents.values()).sort(function (a, b) {
      return a.display_name.localeCompare(b.display_name, locale);
    }).map(function (agent) {
      const row = el("li", "agent presence-" + (agent.presence || "offline"));
      const active = groups.has(agent.id) ? groups.get(agent.id).length : agent.active_conversations || 0;
      row.append(
        el("span", "name", agent.display_name),
        el("span", "presence", label("console.presence.", agent.presence || "offline")),
        el("span", "team", teamName(agent.team)),
        el("span", "load", t("console.load", { active: active, capacity: agent.capacity === undefined ? "?" : agent.capacity }))
      );
      return row;
    });
    ui.agents.replaceChildren.apply(ui.agents, rows);
  }

  function loadQueue(done) {
    socket.emit("queue", {}, function (answer) {
      if (!answer || !answer.ok) { failed(answer); return; }
      conversations.forEach(function (c, id) {
        if (id !== currentId) { conversations.delete(id); }
      });
      (answer.conversations || []).forEach(remember);
      (answer.agents || []).forEach(function (a) { agents.set(a.id, a); });
      if (answer.me) {
        agents.set(answer.me.id, answer.me);
        if (answer.me.presence === "online" || answer.me.presence === "away") {
          ui.presence.value = answer.me.presence;
        }
      }
      teams = answer.teams || teams;
      reasons = answer.resolution_reasons || reasons;
      canned = answer.canned || canned;
      fillSelects();
      renderQueue();
      renderConversation();
      askTags();
      if (done) { done(); }
    });
  }

  function setPresence(value) {
    socket.emit("presence", { presence: value }, function (answer) {
      if (!answer || !answer.ok) { failed(answer); return; }
      if (answer.me) { agents.set(answer.me.id, answer.me); renderQueue(); }
    });
  }

  ui.tagFilter.addEventListener("change", renderQueue);
  ui.presence.addEventListener("change", function () {
    chosenPresence = ui.presence.value;
    sessionStorage.setItem("hd.console.presence", chosenPresence);
    setPresence(chosenPresence);
  });

  // ---- the transcript ---------------------------------------------------------------

  function stars(score) {
    return "★".repeat(score) + "☆".repeat(Math.max(0, 5 - score));
  }

  function intentText(intent, confidence) {
    if (typeof confidence === "number") {
      return t("console.intent_confidence", { intent: intent, confidence: Math.round(confidence * 100) });
    }
    return t("console.intent", { intent: intent });
  }

  function setIntent(node, intent, confidence) {
    let badge = node.querySelector(".intent");
    if (!badge) {
      badge = el("span", "intent");
      node.querySelector(".who").append(" ", badge);
    }
    badge.textContent = intentText(intent, confidence);
  }

  /** Insert a transcript entry in time order (messages keep their sequence order). */
  function place(node) {
    const at = Number(node.dataset.at);
    const seq = Number(node.dataset.seq || 0);
    const items = ui.messages.children;
    for (let i = items.length - 1; i >= 0; i -= 1) {
      const other = items[i];
      if (other.classList.contains("pending")) { continue; }
      const otherAt = Number(other.dataset.at);
      const otherSeq = Number(other.dataset.seq || 0);
      const after = seq && otherSeq ? seq > otherSeq : at >= otherAt;
      if (after) { other.after(node); return; }
    }
    ui.messages.prepend(node);
  }

  function pinToBottom(wasAtBottom) {
    if (wasAtBottom) { ui.messages.scrollTop = ui.messages.scrollHeight; }
  }

  function atBottom() {
    const list = ui.messages;
    return list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  }

  // "The bot misunderstood this": the intent it should have been, for the trainers' inbox.
  function flagControl(m) {
    const box = el("span", "flag");
    const open = button(t("console.flag"), function () {
      form.hidden = !form.hidden;
      if (!form.hidden) { input.focus(); }
    }, "flag-open");
    open.title = t("console.flag_title");
    const form = el("form", "flag-form");
    form.hidden = true;
    const input = el("input");
    input.setAttribute("list", "flag-intents");
    input.required = true;
    input.maxLength = 128;
    input.setAttribute("aria-label", t("console.flag_title"));
    const save = el("button", null, t("console.flag_save"));
    save.type = "submit";
    form.append(input, save);
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      const intent = input.value.trim();
      if (!intent) { return; }
      try {
        await api("POST", "/api/v1/conversations/" + m.conversation_id + "/messages/" + m.seq + "/flag", { intent: intent });
        form.hidden = true;
        box.replaceChildren(el("span", "flagged", t("console.flagged", { intent: intent })));
      } catch (problem) { failed({ error: problem }); }
    });
    box.append(open, form);
    return box;
  }

  function renderMessage(m) {
    if (m.conversation_id !== currentId || shownSeqs.has(m.seq)) { return false; }
    shownSeqs.add(m.seq);
    lastSeq = Math.max(lastSeq, m.seq);
    const payload = m.payload || {};
    const bottom = atBottom();
    const item = el("li", "message " + m.sender);
    item.dataset.seq = String(m.seq);
    item.dataset.at = String(parse(m.created_at) ? parse(m.created_at).getTime() : Date.now());
    const who = el("span", "who");
    const name = m.sender === "agent" && payload.agent_name ? payload.agent_name : t("console.sender." + m.sender);
    who.append(el("span", "name", name), " ", el("time", "at", time(m.created_at)));
    if (m.created_at) { who.lastChild.dateTime = m.created_at; }
    item.append(who);
    if (m.sender === "customer" && typeof payload.rating === "number") {
      item.classList.add("rating");
      item.append(el("p", null, t("console.rating", { stars: stars(payload.rating), score: payload.rating })));
    } else if (m.text || !payload.attachment) {
      item.append(el("p", null, m.text || ""));
    }
    if (payload.attachment && typeof payload.attachment === "object") { item.append(attachmentOf(payload.attachment)); }
    if (payload.intent) { setIntent(item, payload.intent, payload.confidence); }
    if (m.sender === "customer" && m.text) { item.append(flagControl(m)); }
    if (Array.isArray(payload.buttons) && payload.buttons.length) {
      const offered = el("div", "offered");
      offered.append(el("span", "offered-title", t("console.offered_buttons")));
      const list = el("ul", "offered-buttons");
      payload.buttons.forEach(function (b) { list.append(el("li", null, b && b.title ? b.title : "")); });
      offered.append(list);
      item.append(offered);
    }
    if (m.client_message_id && pending.has(m.client_message_id)) {
      const waiting = pending.get(m.client_message_id);
      if (waiting.node) { waiting.node.remove(); }
      pending.delete(m.client_message_id);
    }
    place(item);
    pinToBottom(bottom);
    return true;
  }

  // A file or picture the customer sent: our stored documents download with the
  // console's cookie; a provider's picture opens from its own address.
  function attachmentOf(a) {
    const p = el("p", "attachment");
    const name = a.name || t("console.attachment." + (a.type === "image" ? "image" : "file"));
    const url = typeof a.url === "string" ? a.url : "";
    if (/^\/api\/v1\/documents\/\d+$/.test(url) || /^https?:\/\//.test(url)) {
      const link = el("a", null, name);
      link.href = url;
      if (url.charAt(0) === "/") { link.setAttribute("download", ""); } else { link.target = "_blank"; link.rel = "noopener noreferrer"; }
      p.append("📎 ", link);
    } else {
      p.append("📎 " + name);
    }
    if (a.mime || a.size) {
      p.append(" (" + [a.mime, a.size ? Math.max(1, Math.round(a.size / 1024)) + " KB" : ""].filter(Boolean).join(", ") + ")");
    }
    return p;
  }

  function renderNote(n) {
    if (n.conversation_id !== currentId || shownNotes.has(n.id)) { return; }
    shownNotes.add(n.id);
    const bottom = atBottom();
    const item = el("li", "note");
    item.dataset.noteId = String(n.id);
    item.dataset.at = String(parse(n.created_at) ? parse(n.created_at).getTime() : Date.now());
    const who = el("span", "who");
    who.append(el("span", "name", t("console.note_by", { name: n.agent_name || agentName(n.agent_id) })), " ",
      el("time", "at", time(n.created_at)));
    item.append(who, el("p", null, n.text || ""));
    place(item);
    pinToBottom(bottom);
  }

  /** Tell the server everything up to the newest rendered message has been seen. */
  function acknowledge() {
    if (currentId === null || lastSeq <= ackedSeq || !socket.connected) { return; }
    ackedSeq = lastSeq;
    socket.emit("ack", { conversation_id: currentId, seq: lastSeq });
  }

  function renderPending(id, text) {
    const bottom = atBottom();
    const item = el("li", "message agent pending");
    item.dataset.clientMessageId = id;
    item.dataset.at = String(Date.now());
    const who = el("span", "who");
    who.append(el("span", "name", me.name), " ", el("span", "state", t("console.pending")));
    item.append(who, el("p", null, text));
    ui.messages.append(item);
    pinToBottom(bottom);
    return item;
  }

  function sendPending(id) {
    const entry = pending.get(id);
    if (!entry || !socket.connected) { return; }
    socket.emit("send", { conversation_id: entry.conversation_id, text: entry.text, client_message_id: id },
      function (answer) {
        if (answer && answer.ok) {
          if (answer.message && answer.message.conversation_id === currentId) {
            // Something between our last message and this one not yet here: fetch the gap.
            if (answer.message.seq > lastSeq + 1 && lastSeq > 0) { watch(); }
            else { renderMessage(answer.message); acknowledge(); }
          }
          if (pending.has(id)) {
            const still = pending.get(id);
            if (still.node) { still.node.remove(); }
            pending.delete(id);
          }
          return;
        }
        // Refused (not assigned any more, too long): keep the text visible, stop resending.
        pending.delete(id);
        if (entry.node) {
          entry.node.classList.add("failed");
          entry.node.querySelector(".state").textContent =
            t("console.failed", { message: answer && answer.error ? answer.error.message : "?" });
        }
      });
  }

  function renderConversation() {
    const c = current();
    ui.side.hidden = !c;
    if (!c) {
      ui.title.textContent = t("console.select_conversation");
      ui.meta.textContent = "";
      ui.accept.hidden = true;
      ui.reply.hidden = true;
      ui.readOnly.hidden = true;
      return;
    }
    ui.title.textContent = t("console.conversation", { id: c.id });
    const bits = [
      c.state === "resolved" && c.resolution_reason ? "" : label("console.state.", c.state),
      teamName(c.team),
      label("console.language.", c.language),
      label("console.channel.", c.channel),
    ];
    if (c.state === "assigned") {
      bits.push(t("console.assigned_to", { name: c.assigned_agent_name || agentName(c.assigned_agent_id) }));
    }
    if (c.state === "resolved" && c.resolution_reason) {
      bits.push(t("console.resolved_as", { reason: label("console.resolution.", c.resolution_reason) }));
    }
    ui.meta.textContent = bits.filter(Boolean).join(" · ");
    ui.accept.hidden = !(visibleQueued(c) || (me.supervisor && c.state === "assigned" && c.assigned_agent_id !== me.id));
    ui.reply.hidden = !mineToAct(c);
    ui.readOnly.hidden = mineToAct(c) || c.state === "resolved";
    document.querySelectorAll("#side .acting").forEach(function (panel) { panel.hidden = !mayAct(c); });
    ui.handoffReason.textContent = label("console.handoff_reason.", c.handoff_reason) || "—";
    ui.handoffSummary.textContent = c.handoff_summary || "—";
    renderLabels(c);
    fillCanned(c);
    renderCustomer(c);
  }

  function openConversation(id) {
    if (currentId === id) { return; }
    if (currentId !== null) {
      stopTyping();
      socket.emit("unwatch", { conversation_id: currentId });
    }
    currentId = id;
    shownSeqs = new Set();
    shownNotes = new Set();
    lastSeq = 0;
    ackedSeq = 0;
    customerShown = null;
    ui.messages.replaceChildren();
    ui.typing.textContent = "";
    ui.callbackResult.textContent = "";
    flash("");
    prefillCallbackWindow();
    // Replies still waiting for this conversation stay on screen.
    pending.forEach(function (entry, key) {
      if (entry.conversation_id === id) { entry.node = renderPending(key, entry.text); }
    });
    renderQueue();
    renderConversation();
    watch();
  }

  /** Subscribe to the open conversation and fetch what the transcript has not shown. */
  function watch() {
    if (currentId === null || !socket.connected) { return; }
    const id = currentId;
    socket.emit("watch", { conversation_id: id, after: lastSeq }, function (answer) {
      if (id !== currentId) { return; }
      if (!answer || !answer.ok) { failed(answer); return; }
      remember(answer.conversation);
      (answer.messages || []).forEach(renderMessage);
      (answer.notes || []).forEach(renderNote);
      acknowledge();
      renderQueue();
      renderConversation();
    });
  }

  // ---- replying ---------------------------------------------------------------------

  let typingSentAt = 0;
  let typingTimer = null;

  function stopTyping() {
    if (typingTimer) { clearTimeout(typingTimer); typingTimer = null; }
    if (typingSentAt && currentId !== null && socket.connected) {
      socket.emit("typing", { conversation_id: currentId, typing: false });
    }
    typingSentAt = 0;
  }

  function noteTyping() {
    if (!mineToAct(current()) || !socket.connected) { return; }
    const now = Date.now();
    if (now - typingSentAt > TYPING_REPEAT_MS) {
      typingSentAt = now;
      socket.emit("typing", { conversation_id: currentId, typing: true });
    }
    if (typingTimer) { clearTimeout(typingTimer); }
    typingTimer = setTimeout(stopTyping, TYPING_IDLE_MS);
  }

  ui.reply.addEventListener("submit", function (event) {
    event.preventDefault();
    const c = current();
    const text = ui.replyText.value.trim();
    if (!text || !mineToAct(c)) { return; }
    const id = newId();
    const entry = { conversation_id: c.id, text: text };
    pending.set(id, entry);
    entry.node = renderPending(id, text);
    ui.replyText.value = "";
    stopTyping();
    sendPending(id); // if disconnected, it waits for the reconnect
  });

  ui.replyText.addEventListener("input", noteTyping);
  ui.replyText.addEventListener("blur", stopTyping);
  ui.replyText.addEventListener("keydown", function (event) {
    // An input method composing Chinese also uses Enter: leave it alone then.
    const composing = event.isComposing || event.keyCode === 229;
    if (event.key === "Enter" && !event.shiftKey && !composing) {
      event.preventDefault();
      ui.reply.requestSubmit();
      return;
    }
    if (event.key === "Tab" && !event.shiftKey && !composing) {
      const match = /^\/(\S+)$/.exec(ui.replyText.value.trim());
      if (match) {
        event.preventDefault();
        insertCanned(match[1]);
      }
    }
  });

  // ---- side panel -------------------------------------------------------------------

  function act(event, payload, done) {
    if (!socket.connected) { flash(t("console.status.reconnecting")); return; }
    socket.emit(event, payload, function (answer) {
      if (!answer || !answer.ok) { failed(answer); return; }
      if (answer.conversation) { remember(answer.conversation); }
      renderQueue();
      renderConversation();
      if (done) { done(answer); }
    });
  }

  ui.accept.addEventListener("click", function () {
    act("accept", { conversation_id: currentId }, function () {
      watch();
      ui.replyText.focus();
    });
  });

  function renderLabels(c) {
    const chips = (c.labels || []).map(function (name) {
      const chip = el("li", "chip");
      chip.append(el("span", null, name));
      const remove = button("×", function () {
        const rest = (current().labels || []).filter(function (x) { return x !== name; });
        act("labels", { conversation_id: c.id, labels: rest }, function () { ui.labelInput.focus(); });
      }, "remove");
      remove.setAttribute("aria-label", t("console.label_remove", { label: name }));
      chip.append(remove);
      return chip;
    });
    ui.labels.replaceChildren.apply(ui.labels, chips);
  }

  ui.labelForm.addEventListener("submit", function (event) {
    event.preventDefault();
    const c = current();
    const name = ui.labelInput.value.trim();
    if (!c || !name) { return; }
    const labels = (c.labels || []).slice();
    if (labels.indexOf(name) === -1) { labels.push(name); }
    act("labels", { conversation_id: c.id, labels: labels }, function () { ui.labelInput.value = ""; });
  });

  function option(value, text) {
    const node = el("option", null, text);
    node.value = value;
    return node;
  }

  function fillSelects() {
    const chosenReason = ui.resolveReason.value;
    ui.resolveReason.replaceChildren.apply(ui.resolveReason, reasons.map(function (code) {
      return option(code, label("console.resolution.", code));
    }));
    if (chosenReason) { ui.resolveReason.value = chosenReason; }
    const chosenTeam = ui.transferTeam.value;
    ui.transferTeam.replaceChildren.apply(ui.transferTeam, teams.map(function (team) {
      return option(team.code, teamName(team.code));
    }));
    if (chosenTeam) { ui.transferTeam.value = chosenTeam; }
    const chosenAgent = ui.transferAgent.value;
    const people = Array.from(agents.values()).filter(function (a) {
      return a.id !== me.id && a.role !== "trainer";
    }).sort(function (a, b) { return a.display_name.localeCompare(b.display_name, locale); });
    ui.transferAgent.replaceChildren.apply(ui.transferAgent, [option("", t("console.transfer_any_agent"))].concat(
      people.map(function (a) {
        return option(String(a.id), a.display_name + " · " + teamName(a.team) + " · " + label("console.presence.", a.presence || "offline"));
      })));
    ui.transferAgent.value = chosenAgent;
  }

  function cannedFor(c) {
    const language = c && c.language ? c.language : lang;
    const matching = canned.filter(function (x) { return x.language === language; });
    return matching.length ? matching : canned;
  }

  function fillCanned(c) {
    const chosen = ui.canned.value;
    ui.canned.replaceChildren.apply(ui.canned, cannedFor(c).map(function (x) {
      const preview = x.text.length > 40 ? x.text.slice(0, 40) + "…" : x.text;
      return option(x.shortcut, "/" + x.shortcut + " · " + preview);
    }));
    if (chosen) { ui.canned.value = chosen; }
  }

  function insertCanned(shortcut) {
    const c = current();
    if (!c) { return; }
    if (!canned.some(function (x) { return x.shortcut === shortcut; })) {
      flash(t("console.canned_none", { shortcut: shortcut }));
      return;
    }
    act("canned", { conversation_id: c.id, shortcut: shortcut }, function (answer) {
      ui.replyText.value = answer.text || "";
      ui.replyText.focus();
      ui.replyText.setSelectionRange(ui.replyText.value.length, ui.replyText.value.length);
    });
  }

  ui.cannedForm.addEventListener("submit", function (event) {
    event.preventDefault();
    if (ui.canned.value) { insertCanned(ui.canned.value); }
  });

  ui.transferAgent.addEventListener("change", function () {
    // A chosen agent decides the team; the team select is for "anyone in that team".
    ui.transferTeam.disabled = ui.transferAgent.value !== "";
  });

  ui.transferForm.addEventListener("submit", function (event) {
    event.preventDefault();
    const c = current();
    const note = ui.transferNote.value.trim();
    if (!c || !note) { return; }
    const payload = { conversation_id: c.id, note: note };
    if (ui.transferAgent.value) { payload.agent_id = Number(ui.transferAgent.value); }
    else { payload.team = ui.transferTeam.value; }
    act("transfer", payload, function () {
      ui.transferNote.value = "";
      ui.transferAgent.value = "";
      ui.transferTeam.disabled = false;
      flash(t("console.transferred"));
    });
  });

  ui.resolveForm.addEventListener("submit", function (event) {
    event.preventDefault();
    const c = current();
    if (!c || !ui.resolveReason.value) { return; }
    act("resolve", { conversation_id: c.id, reason: ui.resolveReason.value }, function (answer) {
      flash(t("console.resolved_as", { reason: label("console.resolution.", answer.conversation ? answer.conversation.resolution_reason || ui.resolveReason.value : ui.resolveReason.value) }));
      // The agent's wrap-up of it begins: wrap_up.js offers the button that ends it.
      document.dispatchEvent(new CustomEvent("console:resolved", { detail: { conversationId: c.id } }));
    });
  });

  ui.noteForm.addEventListener("submit", function (event) {
    event.preventDefault();
    const c = current();
    const text = ui.noteText.value.trim();
    if (!c || !text) { return; }
    const id = newId();
    act("note", { conversation_id: c.id, text: text, client_note_id: id }, function (answer) {
      if (answer.note) { renderNote(answer.note); }
      ui.noteText.value = "";
    });
  });

  // ---- callbacks and the customer 360 over the API --------------------------------

  async function api(method, path, body) {
    const options = { method: method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    if (method !== "GET") { options.headers["X-CSRF-Token"] = csrf; }
    const response = await fetch(path, options);
    let answer = null;
    try { answer = await response.json(); } catch (error) { answer = null; }
    if (!response.ok) {
      const problem = answer && answer.error ? answer.error : { code: String(response.status), message: response.statusText };
      throw problem;
    }
    return answer;
  }

  function localInputValue(date) {
    const pad = function (n) { return String(n).padStart(2, "0"); };
    return date.getFullYear() + "-" + pad(date.getMonth() + 1) + "-" + pad(date.getDate()) +
      "T" + pad(date.getHours()) + ":" + pad(date.getMinutes());
  }

  function prefillCallbackWindow() {
    // The next full hour, for an hour: a sensible default to adjust.
    const start = new Date();
    start.setMinutes(0, 0, 0);
    start.setHours(start.getHours() + 1);
    ui.callbackStart.value = localInputValue(start);
    ui.callbackEnd.value = localInputValue(new Date(start.getTime() + 3600 * 1000));
  }

  ui.callbackForm.addEventListener("submit", async function (event) {
    event.preventDefault();
    const c = current();
    if (!c) { return; }
    // datetime-local is the agent's wall clock; send it with its offset.
    const start = new Date(ui.callbackStart.value);
    const end = new Date(ui.callbackEnd.value);
    if (isNaN(start.getTime()) || isNaN(end.getTime()) || end <= start) {
      ui.callbackResult.textContent = t("console.callback_bad_window");
      return;
    }
    const body = {
      conversation_id: c.id,
      window_start: start.toISOString(),
      window_end: end.toISOString(),
      reason: ui.callbackReason.value.trim(),
    };
    if (ui.callbackPhone.value.trim()) { body.phone = ui.callbackPhone.value.trim(); }
    try {
      const callback = await api("POST", "/api/v1/callbacks", body);
      ui.callbackResult.textContent = t("console.callback_scheduled", { window: windowText(callback.window_start, callback.window_end) });
      ui.callbackReason.value = "";
      ui.callbackPhone.value = "";
      customerShown = null;
      renderCustomer(current());
    } catch (problem) {
      ui.callbackResult.textContent = t("console.error", { message: problem.message || problem.code || String(problem) });
    }
  });

  function section(titleKey, rows) {
    const block = el("section", "c360-section");
    block.append(el("h4", null, t(titleKey)));
    if (!rows.length) {
      block.append(el("p", "empty", t("console.none")));
      return block;
    }
    const list = el("ul");
    rows.forEach(function (row) { list.append(row); });
    block.append(list);
    return block;
  }

  function fact(list, key, value) {
    list.append(el("dt", null, t(key)), el("dd", null, value === null || value === undefined || value === "" ? "—" : value));
  }

  function statusLabel(status) { return label("console.status.", status); }

  function renderCustomer(c) {
    if (!c) { return; }
    if (!c.verified || !c.customer_id) {
      customerShown = null;
      ui.customer.replaceChildren(el("p", "not-verified", t("console.not_verified")));
      return;
    }
    if (customerShown === c.customer_id) { return; }
    customerShown = c.customer_id;
    ui.customer.replaceChildren(el("p", "loading", t("console.loading")));
    const conversationId = c.id;
    api("GET", "/api/v1/customers/" + encodeURIComponent(c.customer_id)).then(function (view) {
      if (currentId !== conversationId) { return; }
      ui.customer.replaceChildren.apply(ui.customer, customer360(view));
    }).catch(function (problem) {
      if (currentId !== conversationId) { return; }
      customerShown = null;
      ui.customer.replaceChildren(el("p", "error", t("console.error", { message: problem.message || problem.code || String(problem) })));
    });
  }

  function customer360(view) {
    const who = view.customer || {};
    const facts = el("dl", "facts");
    fact(facts, "console.customer.name", who.name);
    fact(facts, "console.customer.gender", label("console.gender.", who.gender));
    fact(facts, "console.customer.birth_date", day(who.birth_date));
    fact(facts, "console.customer.region", [who.province, who.city].filter(Boolean).join(" "));
    fact(facts, "console.customer.mobile", who.mobile);
    fact(facts, "console.customer.id_card", who.id_card_number);
    fact(facts, "console.customer.social_insurance",
      who.has_social_insurance === undefined ? "" : t(who.has_social_insurance ? "console.yes" : "console.no"));
    const tags = el("dd", "chips-line");
    (who.tags || []).forEach(function (tag) { tags.append(el("span", "chip", tag)); });
    if (!(who.tags || []).length) { tags.textContent = "—"; }
    facts.append(el("dt", null, t("console.customer.tags")), tags);
    const behaviour = el("dd", "chips-line behaviour");
    (who.behaviour || []).forEach(function (tag) {
      behaviour.append(el("span", "chip chip-" + tag, label("console.behaviour.", tag)));
    });
    if (!(who.behaviour || []).length) { behaviour.textContent = "—"; }
    facts.append(el("dt", null, t("console.customer.behaviour")), behaviour);

    const policies = (view.policies || []).map(function (p) {
      const row = el("li");
      row.append(el("span", null, t("console.policy_line", {
        number: p.number, product: p.product_name, status: label("console.policy_status.", p.status),
        sum: amount(p.sum_insured), premium: amount(p.premium), start: day(p.effective_date), end: day(p.expiry_date),
      })));
      if (p.members && p.members.length) {
        row.append(el("span", "sub", t("console.members", {
          members: p.members.map(function (m) { return m.name + (m.relation ? "(" + m.relation + ")" : ""); }).join("、"),
        })));
      }
      return row;
    });
    const claims = (view.claims || []).map(function (claim) {
      const row = el("li");
      row.append(el("span", null, t("console.claim_line", {
        number: claim.number, kind: label("console.claim_kind.", claim.kind), stage: label("console.stage.", claim.stage),
        claimed: amount(claim.amount_claimed), approved: amount(claim.amount_approved), paid: amount(claim.amount_paid),
      })));
      if (claim.hospital || claim.incident_date) {
        row.append(el("span", "sub", [day(claim.incident_date), claim.hospital].filter(Boolean).join(" · ")));
      }
      if (claim.missing_documents && claim.missing_documents.length) {
        row.append(el("span", "sub", t("console.claim_missing", { documents: claim.missing_documents.join("、") })));
      }
      if (claim.history && claim.history.length) {
        const stages = el("ol", "stages");
        claim.history.forEach(function (h) {
          stages.append(el("li", null, [dateTime(h.at) || day(h.at), label("console.stage.", h.stage), h.note].filter(Boolean).join(" · ")));
        });
        row.append(stages);
      }
      return row;
    });
    const advances = (view.advance_payments || []).map(function (a) {
      return el("li", null, [a.number, statusLabel(a.status), a.hospital, amount(a.amount || a.estimated_amount)].filter(Boolean).join(" · "));
    });
    const complaints = (view.complaints || []).map(function (x) {
      const row = el("li", x.overdue ? "overdue" : null, [x.number, x.category, statusLabel(x.status),
        x.due_at ? t("console.due", { at: dateTime(x.due_at) }) : ""].filter(Boolean).join(" · "));
      return row;
    });
    const callbacks = (view.callbacks || []).map(function (x) {
      return el("li", x.overdue ? "overdue" : null,
        [windowText(x.window_start, x.window_end), statusLabel(x.status), x.reason, x.phone].filter(Boolean).join(" · "));
    });
    const followUps = (view.follow_ups || []).map(function (x) {
      return el("li", x.overdue ? "overdue" : null, [x.title, statusLabel(x.status),
        x.due_at ? t("console.due", { at: dateTime(x.due_at) }) : "", x.assignee_agent_name].filter(Boolean).join(" · "));
    });
    const channels = (view.channels || []).map(function (x) {
      return el("li", null, [label("console.channel.", x.channel),
        x.verified_at ? t("console.verified_on", { at: dateTime(x.verified_at) }) : "",
        x.last_seen_at ? t("console.last_seen", { at: dateTime(x.last_seen_at) }) : ""].filter(Boolean).join(" · "));
    });
    const earlier = (view.conversations || []).map(function (x) {
      return el("li", x.id === currentId ? "this" : null, ["#" + x.id, label("console.channel.", x.channel), label("console.state.", x.state),
        dateTime(x.created_at), x.resolution_reason ? label("console.resolution.", x.resolution_reason) : "",
        x.assigned_agent_name, (x.labels || []).join(", ")].filter(Boolean).join(" · "));
    });
    return [
      facts,
      section("console.policies", policies),
      section("console.claims", claims),
      section("console.advance_payments", advances),
      section("console.complaints", complaints),
      section("console.callbacks", callbacks),
      section("console.follow_ups", followUps),
      section("console.channels", channels),
      section("console.earlier_conversations", earlier),
    ];
  }

  // ---- reminders --------------------------------------------------------------------

  function showReminder(callback) {
    if (!callback) { return; }
    const id = "reminder-" + callback.id;
    if (document.getElementById(id)) { return; }
    const banner = el("div", "reminder");
    banner.id = id;
    banner.setAttribute("role", "alert");
    banner.append(el("span", null, t("console.reminder", {
      customer: callback.customer_name || t("console.unknown_customer"),
      window: windowText(callback.window_start, callback.window_end),
      reason: callback.reason || "",
    })));
    const link = el("a", null, t("console.reminder_link"));
    link.href = "/console/callbacks";
    banner.append(" ", link, " ", button(t("console.dismiss"), function () { banner.remove(); }, "dismiss"));
    ui.reminders.append(banner);
  }

  // ---- socket events ----------------------------------------------------------------

  socket.on("connect", function () {
    ui.status.textContent = t("console.status.online");
    ui.status.classList.remove("offline");
    if (chosenPresence === "away") { setPresence("away"); }
    loadQueue(function () {
      // Opened from a report's drill-down (/console?conversation=<id>): that transcript.
      const asked = Number(new URLSearchParams(window.location.search).get("conversation"));
      if (currentId === null && Number.isInteger(asked) && asked > 0) { openConversation(asked); }
      watch(); // after a reconnect: what the open transcript missed, by sequence number
      pending.forEach(function (entry, id) { sendPending(id); }); // same ids: no duplicates
    });
  });
  socket.on("connect_error", function (error) {
    // While `active`, the client keeps retrying by itself; otherwise the server refused us.
    ui.status.textContent = socket.active
      ? t("console.status.reconnecting")
      : t("console.status.refused", { message: error && error.message ? error.message : "" });
    ui.status.classList.add("offline");
  });
  socket.on("disconnect", function () {
    ui.status.textContent = t("console.status.reconnecting");
    ui.status.classList.add("offline");
    typingSentAt = 0;
  });

  socket.on("conversation", function (c) {
    const before = conversations.get(c.id);
    remember(c);
    renderQueue();
    askTags();
    if (c.id === currentId) {
      if (before && before.customer_id !== c.customer_id) { customerShown = null; }
      renderConversation();
      watch(); // a change of hands may have closed the room: join again if still allowed
    }
  });
  // Taken by a colleague, moved to another team, resolved, back with the bot: no
  // longer this agent's to see, so it leaves their lists and their screen.
  socket.on("conversation_gone", function (x) {
    conversations.delete(x.conversation_id);
    if (x.conversation_id === currentId) {
      stopTyping();
      currentId = null;
      ui.messages.replaceChildren();
      ui.typing.textContent = "";
      renderConversation();
      flash(t("console.gone", { id: x.conversation_id }));
    }
    renderQueue();
  });
  socket.on("message", function (m) {
    if (m.conversation_id !== currentId) { return; }
    if (m.seq > lastSeq + 1 && lastSeq > 0) {
      watch(); // a gap: fetch from the last one seen, the replay fills it in order
      return;
    }
    if (renderMessage(m)) {
      if (m.sender === "customer") { ui.typing.textContent = ""; }
      acknowledge();
    }
  });
  socket.on("note", renderNote);
  socket.on("intent", function (x) {
    if (x.conversation_id !== currentId) { return; }
    const node = ui.messages.querySelector('li.message[data-seq="' + Number(x.seq) + '"]');
    if (node && x.intent) { setIntent(node, x.intent, x.confidence); }
  });

  let typingHide = null;
  socket.on("typing", function (x) {
    if (x.conversation_id !== currentId) { return; }
    if (x.who === "agent" && (x.agent_id === me.id || x.agent_name === me.name)) { return; }
    if (typingHide) { clearTimeout(typingHide); typingHide = null; }
    if (!x.typing) { ui.typing.textContent = ""; return; }
    ui.typing.textContent = x.who === "customer"
      ? t("console.typing_customer") : t("console.typing_agent", { name: x.agent_name || "" });
    typingHide = setTimeout(function () { ui.typing.textContent = ""; }, TYPING_SHOWN_MS);
  });
  socket.on("reminder", function (x) { showReminder(x && x.callback ? x.callback : x); });
  socket.on("presence", function (x) {
    const agent = agents.get(x.agent_id);
    if (agent) { agent.presence = x.presence; }
    if (x.agent_id === me.id && (x.presence === "online" || x.presence === "away")) {
      ui.presence.value = x.presence;
    }
    renderQueue();
  });

  prefillCallbackWindow();
  renderConversation();
  // Waiting times move every second (in place: a click in progress must not lose its button).
  setInterval(function () {
    document.querySelectorAll(".conversation-item .waiting").forEach(function (span) {
      const c = conversations.get(Number(span.dataset.conversationId));
      if (!c || c.state !== "queued") { return; }
      const seconds = waitingSeconds(c);
      span.textContent = t("console.waiting", { seconds: seconds, target: ANSWER_TARGET_SECONDS });
      if (seconds > ANSWER_TARGET_SECONDS) {
        span.closest(".conversation-item").classList.add("over-target");
        span.title = t("console.over_target");
      }
    });
  }, 1000);
})();
