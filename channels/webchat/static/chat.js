// The customer chat, at / and (embedded, in the widget's frame) at /widget: Rasa's
// web chat protocol over socket.io, plus history by sequence number and client
// message ids so nothing is lost or sent twice, and claim-document uploads.
(function () {
  "use strict";
  const config = JSON.parse(document.getElementById("chat-config").textContent);
  const strings = config.strings || {};
  const SESSION_KEY = "hd.chat.session";
  const SEQ_KEY = "hd.chat.lastSeq";
  const list = document.getElementById("messages");
  const form = document.getElementById("composer");
  const input = document.getElementById("text");
  const status = document.getElementById("status");
  const typingLine = document.getElementById("typing");
  const attach = document.getElementById("attach");
  const upload = document.getElementById("upload");
  const uploadForm = document.getElementById("upload-form");
  const fileInput = document.getElementById("file");
  const claimSelect = document.getElementById("claim");
  const claimsNote = document.getElementById("claims-note");
  const progress = document.getElementById("upload-progress");
  const uploadStatus = document.getElementById("upload-status");
  const uploadError = document.getElementById("upload-error");
  const uploadSubmit = document.getElementById("upload-submit");
  const seen = new Set(); // sequence numbers shown
  const titles = new Map(); // quick-reply payload -> title, to show a chosen reply as its title
  const pending = new Map(); // client_message_id -> {message, item}, resent after a reconnect
  let lastSeq = Number(localStorage.getItem(SEQ_KEY) || 0);
  let sessionId = localStorage.getItem(SESSION_KEY);
  let historyShown = false;
  let visible = !config.embed; // the widget's frame is hidden until its launcher opens it
  let botTypingTimer = null;

  function t(key, values) {
    let text = strings["widget." + key] || key;
    Object.keys(values || {}).forEach(function (name) {
      text = text.split("{" + name + "}").join(String(values[name]));
    });
    return text;
  }

  function toParent(action) {
    if (config.embed && window.parent !== window) {
      // Only says what happened (no data), so any embedding page may hear it.
      window.parent.postMessage({ type: "hd-widget", action: action }, "*");
    }
  }

  const socket = io("/", { transports: ["websocket", "polling"] });

  // ---- rendering ----------------------------------------------------------------------

  function place(item, seq) {
    // In sequence order: history and live messages can cross on a reconnect.
    if (typeof seq === "number") {
      item.dataset.seq = String(seq);
      const later = Array.prototype.find.call(list.children, function (other) {
        return other.dataset.seq && Number(other.dataset.seq) > seq;
      });
      if (later) { list.insertBefore(item, later); return; }
    }
    list.appendChild(item);
    list.scrollTop = list.scrollHeight;
  }

  function answered(item) {
    // Buttons offered before a customer's message have been answered.
    let previous = item.previousElementSibling;
    while (previous) {
      previous.querySelectorAll(".quick-replies button").forEach(function (button) { button.disabled = true; });
      previous = previous.previousElementSibling;
    }
  }

  function render(kind, text, data, seq) {
    const item = document.createElement("li");
    item.className = "message " + kind;
    if (data && data.agent_name && kind === "agent") {
      const who = document.createElement("span");
      who.className = "who";
      who.textContent = data.agent_name;
      item.appendChild(who);
    }
    const body = document.createElement("p");
    body.textContent = text; // never innerHTML: customer and agent text is untrusted
    item.appendChild(body);
    if (data && Array.isArray(data.quick_replies) && data.quick_replies.length) {
      const buttons = document.createElement("div");
      buttons.className = "quick-replies";
      data.quick_replies.forEach(function (reply) {
        titles.set(reply.payload, reply.title);
        const button = document.createElement("button");
        button.type = "button";
        button.textContent = reply.title;
        button.addEventListener("click", function () {
          button.classList.add("chosen");
          send(reply.payload, reply.title);
        });
        buttons.appendChild(button);
      });
      item.appendChild(buttons);
    }
    place(item, seq);
    if (kind === "customer") { answered(item); }
    return item;
  }

  function sizeText(size) {
    if (typeof size !== "number") { return ""; }
    if (size < 1024) { return size + " B"; }
    return size >= 1024 * 1024 ? (size / 1048576).toFixed(1) + " MB" : Math.round(size / 1024) + " KB";
  }

  function renderFile(attachment, seq, kind) {
    const item = render(kind || "customer", attachment.name || t("you_sent_file"), null, seq);
    item.classList.add("file");
    if (attachment.size) {
      const size = document.createElement("span");
      size.className = "size";
      size.textContent = " " + sizeText(attachment.size);
      item.querySelector("p").appendChild(size);
    }
    return item;
  }

  // ---- sending --------------------------------------------------------------------------

  function newId() {
    return (crypto.randomUUID && crypto.randomUUID()) || String(Date.now()) + Math.random();
  }

  function send(message, shown) {
    const id = newId();
    const item = render("customer", shown || message);
    pending.set(id, { message: message, item: item });
    emitPending(id);
    botTyping(true);
  }

  function emitPending(id) {
    const entry = pending.get(id);
    if (!entry || !socket.connected || !sessionId) { return; } // resent once confirmed
    socket.emit("user_uttered", { message: entry.message, session_id: sessionId, client_message_id: id },
      function (answer) {
        if (!pending.has(id)) { return; }
        if (answer && answer.ok) {
          pending.delete(id);
          if (typeof answer.seq === "number") {
            seen.add(answer.seq);
            entry.item.dataset.seq = String(answer.seq);
          }
        } else if (answer && answer.error) {
          pending.delete(id);
          botTyping(false);
          const code = answer.error.code;
          const known = { too_long: "error.too_long", empty: "error.empty", rate_limited: "error.rate_limited" };
          render("system error", known[code] ? t(known[code]) : t("error.send", { message: answer.error.message }));
        }
      });
  }

  function botTyping(on) {
    clearTimeout(botTypingTimer);
    if (on) {
      typingLine.textContent = t("bot_typing");
      botTypingTimer = setTimeout(function () { typingLine.textContent = ""; }, 15000);
    } else {
      typingLine.textContent = "";
    }
  }

  // ---- the socket -----------------------------------------------------------------------

  socket.on("connect", function () {
    status.textContent = t("online");
    // The first time, the conversation so far (a reloaded page shows it); after a
    // dropped connection, what was missed since the last message seen.
    const request = { session_id: sessionId, last_seq: lastSeq };
    if (!historyShown) { request.history = true; }
    socket.emit("session_request", request);
  });
  socket.on("disconnect", function () { status.textContent = t("reconnecting"); });
  socket.on("session_confirm", function (data) {
    const id = data && data.session_id ? data.session_id : data;
    if (id !== sessionId) { lastSeq = 0; localStorage.setItem(SEQ_KEY, "0"); }
    sessionId = id;
    localStorage.setItem(SESSION_KEY, id);
    historyShown = true;
    pending.forEach(function (entry, key) { emitPending(key); });
  });
  socket.on("agent_typing", function (data) {
    clearTimeout(botTypingTimer);
    typingLine.textContent = data && data.typing ? t("agent_typing", { name: data.agent_name || t("agent") }) : "";
  });
  socket.on("bot_uttered", function (data) {
    if (!data) { return; }
    if (typeof data.seq === "number") {
      if (seen.has(data.seq)) { return; }
      seen.add(data.seq);
      lastSeq = Math.max(lastSeq, data.seq);
      localStorage.setItem(SEQ_KEY, String(lastSeq));
      socket.emit("ack", { seq: lastSeq });
    }
    if (data.sender === "customer") {
      // History: the customer's own messages, a chosen reply shown by its title.
      if (data.attachment) { renderFile(data.attachment, data.seq); }
      else if (data.text) { render("customer", titles.get(data.text) || data.text, null, data.seq); }
      return;
    }
    botTyping(false);
    const kind = data.sender === "agent" ? "agent" : data.sender === "system" ? "system" : "bot";
    if (data.text) { render(kind, data.text, data, data.seq); }
    else if (data.attachment) { renderFile(data.attachment, data.seq, kind); }
    if (!visible) { toParent("unread"); }
  });

  // ---- the composer ---------------------------------------------------------------------

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) { return; }
    input.value = "";
    send(text);
    stopTyping();
  });
  // Tell the agent the customer is typing: once when it starts, once when it stops.
  let typing = false;
  let typingTimer = null;
  function stopTyping() {
    clearTimeout(typingTimer);
    if (typing) { typing = false; socket.emit("typing", { typing: false }); }
  }
  input.addEventListener("input", function () {
    if (!typing) { typing = true; socket.emit("typing", { typing: true }); }
    clearTimeout(typingTimer);
    typingTimer = setTimeout(stopTyping, 3000);
  });
  let composing = false;
  input.addEventListener("compositionstart", function () { composing = true; });
  input.addEventListener("compositionend", function () { setTimeout(function () { composing = false; }, 0); });
  input.addEventListener("keydown", function (event) {
    // Enter sends, but not while an input method (pinyin) is composing.
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && !composing && event.keyCode !== 229) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  // ---- claim documents ------------------------------------------------------------------

  function openUpload() {
    upload.hidden = false;
    attach.setAttribute("aria-expanded", "true");
    uploadError.textContent = "";
    uploadStatus.textContent = "";
    loadClaims();
    fileInput.focus();
  }

  function closeUpload(focusAttach) {
    upload.hidden = true;
    attach.setAttribute("aria-expanded", "false");
    if (focusAttach) { attach.focus(); }
  }

  attach.addEventListener("click", function () {
    if (upload.hidden) { openUpload(); } else { closeUpload(true); }
  });
  document.getElementById("upload-cancel").addEventListener("click", function () { closeUpload(true); });

  function loadClaims() {
    if (!sessionId) { return; }
    claimsNote.textContent = t("claims_loading");
    fetch("/channels/web/claims", { headers: { "X-Session-Id": sessionId }, credentials: "omit" })
      .then(function (response) {
        return response.json().then(function (body) { return { status: response.status, body: body }; });
      })
      .then(function (answer) {
        while (claimSelect.options.length > 1) { claimSelect.remove(1); }
        if (answer.status !== 200) {
          claimSelect.disabled = true;
          claimsNote.textContent = t("claims_unverified");
          return;
        }
        const claims = answer.body.claims || [];
        claims.forEach(function (claim) {
          const option = document.createElement("option");
          option.value = claim.number;
          option.textContent = claim.number + " · " + t("stage." + claim.stage);
          claimSelect.appendChild(option);
        });
        claimSelect.disabled = claims.length === 0;
        claimsNote.textContent = claims.length ? "" : t("claims_empty");
      })
      .catch(function () { claimsNote.textContent = ""; });
  }

  function uploadFailed(code) {
    const messages = {
      too_large: function () { return t("error.too_large", { max: config.upload_max_label }); },
      unsupported_type: function () { return t("error.unsupported_type", { types: config.upload_type_names }); },
    };
    const known = ["claim_forbidden", "not_verified", "rate_limited", "upload_quota", "unknown_session", "network", "no_file"];
    uploadError.textContent = messages[code] ? messages[code]() : known.indexOf(code) >= 0 ? t("error." + code) : t("error.generic");
    uploadStatus.textContent = "";
    progress.hidden = true;
    uploadSubmit.disabled = false;
  }

  uploadForm.addEventListener("submit", function (event) {
    event.preventDefault();
    uploadError.textContent = "";
    const file = fileInput.files && fileInput.files[0];
    if (!file) { uploadFailed("no_file"); fileInput.focus(); return; }
    if (file.size > config.upload_max_bytes) { uploadFailed("too_large"); return; }
    if (!sessionId) { uploadFailed("network"); return; }
    const data = new FormData();
    if (claimSelect.value) { data.append("claim_number", claimSelect.value); }
    data.append("file", file, file.name);
    const request = new XMLHttpRequest();
    request.open("POST", "/channels/web/uploads");
    request.setRequestHeader("X-Session-Id", sessionId);
    request.upload.addEventListener("progress", function (progressEvent) {
      if (!progressEvent.lengthComputable) { return; }
      const percent = Math.round((progressEvent.loaded / progressEvent.total) * 100);
      progress.value = percent;
      uploadStatus.textContent = t("uploading", { percent: percent });
    });
    request.addEventListener("load", function () {
      let body = {};
      try { body = JSON.parse(request.responseText); } catch (ignored) { body = {}; }
      if (request.status === 201) {
        progress.hidden = true;
        uploadSubmit.disabled = false;
        if (typeof body.seq === "number") { seen.add(body.seq); }
        renderFile({ name: body.name, size: body.size }, body.seq);
        uploadStatus.textContent = body.claim_number
          ? t("uploaded_claim", { name: body.name, claim: body.claim_number })
          : t("uploaded", { name: body.name });
        uploadForm.reset();
        return;
      }
      uploadFailed(body.error && body.error.code ? body.error.code : request.status === 413 ? "too_large" : "generic");
    });
    request.addEventListener("error", function () { uploadFailed("network"); });
    progress.hidden = false;
    progress.value = 0;
    uploadSubmit.disabled = true;
    uploadStatus.textContent = t("uploading", { percent: 0 });
    request.send(data);
  });

  // ---- the widget's frame ---------------------------------------------------------------

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape" || event.isComposing) { return; }
    if (!upload.hidden) { event.preventDefault(); closeUpload(true); return; }
    if (config.embed) { event.preventDefault(); toParent("close"); }
  });
  if (config.embed) {
    document.getElementById("close").addEventListener("click", function () { toParent("close"); });
    window.addEventListener("message", function (event) {
      if (event.source !== window.parent || !event.data || event.data.type !== "hd-widget") { return; }
      if (event.data.action === "open") {
        visible = true;
        if (event.data.focus) { input.focus(); }
      } else if (event.data.action === "closed") {
        visible = false;
      }
    });
    toParent("ready");
  }
})();
