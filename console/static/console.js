// The agent console: live queue and transcripts over the /agents namespace.
(function () {
  "use strict";
  const me = Number(document.getElementById("me").dataset.agentId);
  const status = document.getElementById("status");
  const queued = document.getElementById("queued");
  const assigned = document.getElementById("assigned");
  const queuedCount = document.getElementById("queued-count");
  const title = document.getElementById("conversation-title");
  const summary = document.getElementById("summary");
  const list = document.getElementById("messages");
  const acceptButton = document.getElementById("accept");
  const resolveButton = document.getElementById("resolve");
  const reply = document.getElementById("reply");
  const replyText = document.getElementById("reply-text");
  const conversations = new Map();
  let current = null;
  let lastSeq = 0;

  const socket = io("/agents", { transports: ["websocket", "polling"] });

  function label(c) {
    const waited = c.queued_at ? Math.round((Date.now() - Date.parse(c.queued_at)) / 1000) : 0;
    return "#" + c.id + " · " + c.channel + " · " + c.language + " · " + c.team +
      (c.state === "queued" ? " · " + waited + "s" : "");
  }

  function renderQueue() {
    queued.replaceChildren();
    assigned.replaceChildren();
    let count = 0;
    Array.from(conversations.values())
      .sort(function (a, b) { return (a.queued_at || "").localeCompare(b.queued_at || ""); })
      .forEach(function (c) {
        if (c.state !== "queued" && c.state !== "assigned") { return; }
        const item = document.createElement("li");
        const button = document.createElement("button");
        button.type = "button";
        button.textContent = label(c);
        button.dataset.conversationId = c.id;
        if (c.state === "queued" && c.queued_at && Date.now() - Date.parse(c.queued_at) > 20000) {
          button.classList.add("over-target"); // the 20-second answer target
        }
        if (current === c.id) { button.classList.add("current"); }
        button.addEventListener("click", function () { open(c.id); });
        item.appendChild(button);
        if (c.state === "queued") { queued.appendChild(item); count += 1; } else { assigned.appendChild(item); }
      });
    queuedCount.textContent = String(count);
  }

  function renderMessage(m) {
    if (m.seq <= lastSeq) { return; }
    lastSeq = m.seq;
    const item = document.createElement("li");
    item.className = "message " + m.sender;
    const who = document.createElement("span");
    who.className = "who";
    const intent = m.payload && m.payload.intent ? " (" + m.payload.intent + ")" : "";
    who.textContent = "#" + m.seq + " " + (m.payload && m.payload.agent_name ? m.payload.agent_name : m.sender) + intent;
    const body = document.createElement("p");
    body.textContent = m.text || "";
    item.append(who, body);
    list.appendChild(item);
    list.scrollTop = list.scrollHeight;
  }

  function renderHeader() {
    const c = conversations.get(current);
    if (!c) { return; }
    title.textContent = label(c) + " · " + c.state;
    summary.textContent = c.handoff_summary ? "摘要 Summary: " + c.handoff_summary : "";
    acceptButton.hidden = c.state !== "queued";
    const mine = c.state === "assigned" && c.assigned_agent_id === me;
    resolveButton.hidden = !mine;
    reply.hidden = !mine;
  }

  function open(id) {
    if (current !== null) { socket.emit("unwatch", { conversation_id: current }); }
    current = id;
    lastSeq = 0;
    list.replaceChildren();
    watch();
  }

  function watch() {
    if (current === null) { return; }
    socket.emit("watch", { conversation_id: current, after: lastSeq }, function (answer) {
      if (!answer.ok) { title.textContent = answer.error.message; return; }
      conversations.set(answer.conversation.id, answer.conversation);
      answer.messages.forEach(renderMessage);
      renderHeader();
      renderQueue();
    });
  }

  function act(event, data, done) {
    socket.emit(event, data, function (answer) {
      if (!answer.ok) { alert(answer.error.message); return; }
      if (answer.conversation) { conversations.set(answer.conversation.id, answer.conversation); }
      renderHeader();
      renderQueue();
      if (done) { done(answer); }
    });
  }

  acceptButton.addEventListener("click", function () { act("accept", { conversation_id: current }); });
  resolveButton.addEventListener("click", function () { act("resolve", { conversation_id: current }); });
  reply.addEventListener("submit", function (event) {
    event.preventDefault();
    const text = replyText.value.trim();
    if (!text) { return; }
    const id = (crypto.randomUUID && crypto.randomUUID()) || String(Date.now()) + Math.random();
    act("send", { conversation_id: current, text: text, client_message_id: id }, function () {
      replyText.value = "";
    });
  });
  replyText.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
      event.preventDefault();
      reply.requestSubmit();
    }
  });

  socket.on("connect", function () {
    status.textContent = "在线 Online";
    socket.emit("queue", {}, function (answer) {
      if (!answer.ok) { return; }
      answer.conversations.forEach(function (c) { conversations.set(c.id, c); });
      renderQueue();
      watch(); // after a reconnect: fetch what this transcript missed
    });
  });
  socket.on("connect_error", function () { status.textContent = "未连接 Not connected"; });
  socket.on("disconnect", function () { status.textContent = "重新连接中… Reconnecting…"; });
  socket.on("conversation", function (c) {
    conversations.set(c.id, c);
    renderQueue();
    if (c.id === current) { renderHeader(); }
  });
  socket.on("message", function (m) { if (m.conversation_id === current) { renderMessage(m); } });
  setInterval(renderQueue, 5000); // waiting times keep moving
})();
