// The models page, live: a training job's progress and log as the trainers'
// namespace pushes them. Text only (textContent): a log line is never markup.
(function () {
  "use strict";
  var box = document.getElementById("job");
  if (!box || typeof io === "undefined") return;
  var strings = JSON.parse(document.getElementById("strings").textContent || "{}");
  function say(key, fallback) { return strings[key] || fallback; }
  function set(id, value) {
    var node = document.getElementById(id);
    if (node) node.textContent = value === undefined || value === null ? "" : String(value);
  }
  function show(job) {
    if (!job) return;
    if (!box.hasAttribute("data-job-id")) {
      if (job.active) window.location.reload();
      return;
    }
    if (String(job.id) !== box.getAttribute("data-job-id")) {
      // Another job than the page shows: the page with its forms is the truth.
      window.location.reload();
      return;
    }
    var progress = job.progress || {};
    set("job-status", say("models.live.status." + job.status, job.status));
    set("job-stage", progress.stage);
    set("job-component", progress.component);
    set("job-epoch", progress.epoch);
    set("job-epochs", progress.epochs);
    set("job-loss", progress.loss);
    if (job.log_tail !== undefined) set("job-log", job.log_tail);
    var error = document.getElementById("job-error");
    if (error) { error.hidden = !job.error; error.textContent = job.error || ""; }
    if (!job.active) {
      var cancel = document.getElementById("job-cancel");
      if (cancel) cancel.hidden = true;
      if (job.status === "succeeded") window.setTimeout(function () { window.location.reload(); }, 500);
    }
  }
  var socket = io("/trainers", { transports: ["websocket"] });
  socket.on("job", show);
  socket.on("connect", function () {
    socket.emit("job", {}, function (answer) { if (answer && answer.ok) show(answer.job); });
  });
})();
