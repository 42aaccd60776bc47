// The customer chat: Rasa's web chat protocol over socket.io, plus replay by
// sequence number and client message ids so nothing is lost or sent twice.
(function () {
  "use strict";
  const SESSION_KEY = "hd.chat.session";
  const SEQ_KEY = "hd.chat.lastSeq";
  const list = document.getElementById("messages");
  const form = document.getElementById("composer");
  const input = document.getElementById("text");
  const status = document.getElementById("status");
  const typingLine = document.getElementById("typing");
  const seen = new Set();
  let lastSeq = Number(localStorage.getItem(SEQ_KEY) || 0);
  let sessionId = localStorage.getItem(SESSION_KEY);
  const pending = new Map(); // client_message_id -> text, resent after a reconnect

  const socket = io("/", { transports: ["websocket", "polling"] });

  function render(kind, text, extra) {
    const item = document.createElement("li");
    item.className = "message " + kind;
    if (extra && extra.agent_name && kind === "agent") {
      const who = document.createElement("span");
      who.className = "who";
      who.textContent = extra.agent_name;
      item.appendChild(who);
    }
    const body = document.createElement("p");
    body.textContent = text; // never innerHTML: customer and agent text is untrusted
    item.appendChild(body);
    if (extra && extra.quick_replies) {
      const buttons = document.createElement("div");
      buttons.className = "quick-replies";
      extra.quick_replies.forEach(function (reply) {
        const button = document.createElement("button");
        button.type = "button";
        button.textContent = reply.title;
        button.addEventListener("click", function () { send(reply.payload, reply.title); });
        buttons.appendChild(button);
      });
      item.appendChild(buttons);
    }
    list.appendChild(item);
    list.scrollTop = list.scrollHeight;
  }

  function send(message, shown) {
    const id = (crypto.randomUUID && crypto.randomUUID()) || String(Date.now()) + Math.random();
    pending.set(id, message);
    render("customer", shown || message);
    emitPending(id, message);
  }

  function emitPending(id, message) {
    socket.emit("user_uttered", { message: message, session_id: sessionId, client_message_id: id },
      function (answer) {
        if (answer && answer.ok) { pending.delete(id); }
        else if (answer && answer.error) { pending.delete(id); render("system error", answer.error.message); }
      });
  }

  socket.on("connect", function () {
    status.textContent = "在线 Online";
    socket.emit("session_request", { session_id: sessionId, last_seq: lastSeq });
  });
  socket.on("disconnect", function () { status.textContent = "重新连接中… Reconnecting…"; });
  socket.on("session_confirm", function (data) {
    const id = data && data.session_id ? data.session_id : data;
    if (id !== sessionId) { lastSeq = 0; localStorage.setItem(SEQ_KEY, "0"); }
    sessionId = id;
    localStorage.setItem(SESSION_KEY, id);
    pending.forEach(function (message, key) { emitPending(key, message); });
  });
  socket.on("agent_typing", function (data) {
    typingLine.textContent = data && data.typing ? (data.agent_name || "") + " 正在输入… is typing…" : "";
  });
  socket.on("bot_uttered", function (data) {
    typingLine.textContent = "";
    if (typeof data.seq === "number") {
      if (seen.has(data.seq)) { return; }
      seen.add(data.seq);
      lastSeq = Math.max(lastSeq, data.seq);
      localStorage.setItem(SEQ_KEY, String(lastSeq));
      socket.emit("ack", { seq: lastSeq });
    }
    const kind = data.sender === "agent" ? "agent" : data.sender === "system" ? "system" : "bot";
    if (data.text) { render(kind, data.text, data); }
    else if (data.attachment) { render(kind, "[附件 attachment]", data); }
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) { return; }
    input.value = "";
    send(text);
  });
  // Tell the agent the customer is typing: once when it starts, once when it stops.
  let typing = false;
  let typingTimer = null;
  input.addEventListener("input", function () {
    if (!typing) { typing = true; socket.emit("typing", { typing: true }); }
    clearTimeout(typingTimer);
    typingTimer = setTimeout(function () { typing = false; socket.emit("typing", { typing: false }); }, 3000);
  });
  input.addEventListener("keydown", function (event) {
    // Enter sends, but not while an input method (pinyin) is composing.
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
})();
