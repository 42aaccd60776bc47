/* The Health Desk web widget. One tag embeds it in any page:

     <script src="https://desk.example.com/widget.js" data-lang="zh" async></script>

   It adds a launcher button; the chat itself runs in a frame from the desk
   (/widget), so the page shares nothing with it but these messages:
   frame -> page {type: "hd-widget", action: "ready" | "close" | "unread"},
   page -> frame {type: "hd-widget", action: "open" (focus) | "closed"}.
   Optional attributes: data-lang="zh" | "en" (else the browser's language),
   data-position="left" | "right". Plain JavaScript, no framework. */
(function () {
  "use strict";
  if (window.__healthDeskWidget) { return; }
  window.__healthDeskWidget = true;

  const script = document.currentScript || document.querySelector("script[src*='widget.js']");
  if (!script) { return; }
  const desk = new URL(script.src, window.location.href).origin;
  // The launcher's strings, both languages, filled in from console/locales/*/widget.json
  // when the desk serves this file as /widget.js.
  const STRINGS = /*STRINGS*/{};
  const asked = (script.getAttribute("data-lang") || navigator.language || "zh").toLowerCase();
  const lang = asked.indexOf("en") === 0 ? "en" : "zh";
  const strings = STRINGS[lang] || {};
  const FALLBACK = { launcher_open: "在线客服 Online service", launcher_close: "关闭 Close", launcher_text: "在线客服", frame_title: "在线客服 Online service" };
  function t(key, values) {
    let text = strings["widget." + key] || FALLBACK[key] || key;
    Object.keys(values || {}).forEach(function (name) { text = text.split("{" + name + "}").join(String(values[name])); });
    return text;
  }
  const side = script.getAttribute("data-position") === "left" ? "left" : "right";
  const ACTIVE_KEY = "hd.widget.active"; // the visitor has chatted: keep the frame connected
  const OPEN_KEY = "hd.widget.open"; // the panel was open: reopen it on the next page
  const Z = "2147483000";
  const SVG = "http://www.w3.org/2000/svg";

  function store(kind, key, value) {
    try {
      if (value === null) { window[kind].removeItem(key); } else { window[kind].setItem(key, value); }
    } catch (ignored) { /* storage may be blocked; the widget still works for this page */ }
  }
  function stored(kind, key) {
    try { return window[kind].getItem(key); } catch (ignored) { return null; }
  }
  // Styles are set property by property, which a page's CSP allows (style attributes may not be).
  function css(element, styles) {
    Object.keys(styles).forEach(function (name) { element.style[name] = styles[name]; });
  }

  let launcher, badge, panel, frame;
  let open = false;
  let ready = false;
  let unread = 0;

  function build() {
    launcher = document.createElement("button");
    launcher.type = "button";
    launcher.id = "hd-widget-launcher";
    launcher.setAttribute("aria-controls", "hd-widget-panel");
    launcher.setAttribute("aria-expanded", "false");
    const icon = document.createElementNS(SVG, "svg");
    icon.setAttribute("aria-hidden", "true");
    icon.setAttribute("focusable", "false");
    icon.setAttribute("viewBox", "0 0 24 24");
    icon.setAttribute("width", "18");
    icon.setAttribute("height", "18");
    icon.setAttribute("fill", "none");
    icon.setAttribute("stroke", "currentColor");
    icon.setAttribute("stroke-width", "2");
    icon.setAttribute("stroke-linejoin", "round");
    const bubble = document.createElementNS(SVG, "path");
    bubble.setAttribute("d", "M21 11.5a8.38 8.38 0 0 1-.9 3.8 8.5 8.5 0 0 1-7.6 4.7 8.38 8.38 0 0 1-3.8-.9L3 21l1.9-5.7a8.38 8.38 0 0 1-.9-3.8 8.5 8.5 0 0 1 4.7-7.6 8.38 8.38 0 0 1 3.8-.9h.5a8.48 8.48 0 0 1 8 8v.5z");
    icon.append(bubble);
    css(icon, { verticalAlign: "-3px" });
    const text = document.createElement("span");
    text.textContent = " " + t("launcher_text");
    badge = document.createElement("span");
    badge.setAttribute("aria-hidden", "true");
    css(badge, { display: "none", marginLeft: "6px", background: "#fff", color: "#c8102e", borderRadius: "999px", padding: "0 6px", fontSize: "12px", fontWeight: "bold" });
    launcher.append(icon, text, badge);
    css(launcher, {
      position: "fixed", bottom: "20px", [side]: "20px", zIndex: Z, background: "#c8102e", color: "#fff",
      border: "0", borderRadius: "999px", padding: "12px 18px", font: "15px/1.2 system-ui, 'PingFang SC', 'Microsoft YaHei', sans-serif",
      boxShadow: "0 4px 14px rgba(0,0,0,.25)", cursor: "pointer",
    });
    launcher.addEventListener("click", function () { if (open) { close(true); } else { show(true); } });
    label();

    panel = document.createElement("div");
    panel.id = "hd-widget-panel";
    css(panel, {
      position: "fixed", bottom: "80px", [side]: "20px", zIndex: Z, width: "min(380px, calc(100vw - 40px))",
      height: "min(600px, calc(100vh - 110px))", display: "none", borderRadius: "10px", overflow: "hidden",
      boxShadow: "0 8px 28px rgba(0,0,0,.3)", background: "#fff",
    });
    document.body.append(launcher, panel);
  }

  function label() {
    launcher.setAttribute("aria-label", open ? t("launcher_close") : unread ? t("launcher_unread", { count: unread }) : t("launcher_open"));
    badge.textContent = String(unread);
    badge.style.display = unread && !open ? "inline-block" : "none";
  }

  function ensureFrame() {
    if (frame) { return; }
    frame = document.createElement("iframe");
    frame.id = "hd-widget-frame";
    frame.title = t("frame_title");
    frame.src = desk + "/widget?lang=" + lang;
    css(frame, { border: "0", width: "100%", height: "100%", display: "block" });
    panel.append(frame);
  }

  function tell(action, extra) {
    if (frame && frame.contentWindow && ready) {
      frame.contentWindow.postMessage(Object.assign({ type: "hd-widget", action: action }, extra || {}), desk);
    }
  }

  let focusWhenReady = false;
  function show(focus) {
    ensureFrame();
    open = true;
    unread = 0;
    panel.style.display = "block";
    launcher.setAttribute("aria-expanded", "true");
    label();
    store("localStorage", ACTIVE_KEY, "1");
    store("sessionStorage", OPEN_KEY, "1");
    if (focus) { frame.focus(); }
    focusWhenReady = focus && !ready;
    tell("open", { focus: !!focus });
  }

  function close(focusLauncher) {
    open = false;
    panel.style.display = "none";
    launcher.setAttribute("aria-expanded", "false");
    label();
    store("sessionStorage", OPEN_KEY, null);
    tell("closed");
    if (focusLauncher) { launcher.focus(); }
  }

  window.addEventListener("message", function (event) {
    if (!frame || event.origin !== desk || event.source !== frame.contentWindow) { return; }
    const data = event.data;
    if (!data || data.type !== "hd-widget") { return; }
    if (data.action === "ready") {
      ready = true;
      tell(open ? "open" : "closed", { focus: focusWhenReady });
      focusWhenReady = false;
    } else if (data.action === "close") {
      close(true);
    } else if (data.action === "unread" && !open) {
      unread += 1;
      label();
    }
  });
  // Escape closes the panel from the page too (inside the frame, the frame asks for it).
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && open) { close(true); }
  });

  function start() {
    build();
    if (stored("sessionStorage", OPEN_KEY)) {
      show(false); // open on the previous page: reopen, without taking the focus
    } else if (stored("localStorage", ACTIVE_KEY)) {
      ensureFrame(); // connected while closed, so replies raise the unread count
    }
  }
  if (document.body) { start(); } else { document.addEventListener("DOMContentLoaded", start); }
})();
