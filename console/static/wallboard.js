// The supervisors' wallboard, live: drawn from the snapshot the page was served with,
// then from each one the agents' namespace pushes (no polling). Text only
// (textContent): names are never markup. Waits count up between snapshots.
(function () {
  "use strict";
  var main = document.querySelector("main.wallboard");
  if (!main) return;
  var lang = main.getAttribute("data-lang") === "en" ? "en" : "zh";
  var strings = JSON.parse(document.getElementById("strings").textContent || "{}");
  var board = JSON.parse(document.getElementById("wallboard-data").textContent || "{}");
  var received = Date.now();
  var chart = null;

  function say(key, values) {
    var text = strings[key] || key;
    Object.keys(values || {}).forEach(function (name) {
      text = text.split("{" + name + "}").join(String(values[name]));
    });
    return text;
  }
  function set(id, value) {
    var node = document.getElementById(id);
    if (node) node.textContent = value === undefined || value === null ? "" : String(value);
    return node;
  }
  function percent(value) {
    return value === null || value === undefined ? say("wallboard.none") : (value * 100).toFixed(1) + " %";
  }
  function duration(seconds) {
    if (seconds === null || seconds === undefined) return say("wallboard.none");
    var whole = Math.floor(seconds);
    if (whole < 60) return say("wallboard.seconds", { n: whole });
    return say("wallboard.minutes", { m: Math.floor(whole / 60), s: whole % 60 });
  }
  function teamName(team) { return lang === "en" ? team.name_en : team.name_zh; }
  function cell(row, text, className) {
    var td = document.createElement("td");
    td.textContent = text;
    if (className) td.className = className;
    row.appendChild(td);
    return td;
  }
  function elapsed() { return (Date.now() - received) / 1000; }

  function drawQueues() {
    var body = document.querySelector("#queue-table tbody");
    body.textContent = "";
    (board.teams || []).forEach(function (team) {
      var row = document.createElement("tr");
      row.setAttribute("data-team", team.code);
      var name = document.createElement("th");
      name.scope = "row";
      name.textContent = teamName(team);
      row.appendChild(name);
      cell(row, String(team.queued), "queued");
      var wait = cell(row, "", "longest-wait");
      if (team.longest_wait_seconds !== null) wait.setAttribute("data-wait", String(team.longest_wait_seconds));
      body.appendChild(row);
    });
    tickWaits();
    if (typeof echarts === "undefined") return;
    if (!chart) chart = echarts.init(document.getElementById("queue-chart"), null, { locale: lang === "en" ? "EN" : "ZH" });
    chart.setOption({
      animation: false,
      grid: { left: 40, right: 16, top: 24, bottom: 32 },
      xAxis: { type: "category", data: (board.teams || []).map(teamName) },
      yAxis: { type: "value", minInterval: 1 },
      series: [{ type: "bar", name: say("wallboard.queued"), data: (board.teams || []).map(function (t) { return t.queued; }), label: { show: true, position: "top" } }],
      tooltip: { trigger: "axis" }
    });
  }
  function tickWaits() {
    document.querySelectorAll("#queue-table td.longest-wait").forEach(function (td) {
      var wait = td.getAttribute("data-wait");
      td.textContent = wait === null ? say("wallboard.none") : duration(Number(wait) + elapsed());
    });
  }
  function drawAgents() {
    var counts = board.presence || {};
    ["online", "away", "offline"].forEach(function (state) { set("count-" + state, counts[state] || 0); });
    var names = {};
    (board.teams || []).forEach(function (team) { names[team.code] = teamName(team); });
    var body = document.querySelector("#agent-table tbody");
    body.textContent = "";
    (board.agents || []).forEach(function (agent) {
      var row = document.createElement("tr");
      row.setAttribute("data-agent-id", String(agent.id));
      cell(row, agent.display_name);
      cell(row, names[agent.team] || agent.team);
      var presence = cell(row, say("wallboard.presence." + agent.presence));
      presence.className = "presence presence-" + agent.presence;
      cell(row, agent.active_conversations + " / " + agent.capacity, "load");
      body.appendChild(row);
    });
  }
  function drawServiceLevel() {
    var level = board.service_level || {};
    var projection = board.projection || {};
    var value = set("sl-value", percent(level.value));
    if (value) value.classList.toggle("below", level.value !== null && level.value < level.goal);
    set("sl-goal", percent(level.goal));
    var projected = set("sl-projected", percent(projection.service_level));
    if (projected) projected.classList.toggle("below", !!projection.alert);
    set("sl-misses", projection.misses_soon);
    document.getElementById("wallboard-alert").hidden = !projection.alert;
  }
  function draw(snapshot) {
    if (!snapshot) return;
    board = snapshot;
    received = Date.now();
    set("wallboard-at", new Date(board.at).toLocaleTimeString(lang === "en" ? "en-GB" : "zh-CN"));
    drawServiceLevel();
    drawQueues();
    drawAgents();
  }

  draw(board);
  // Not a poll: the waits on screen grow by themselves between snapshots.
  window.setInterval(tickWaits, 1000);
  window.addEventListener("resize", function () { if (chart) chart.resize(); });
  if (typeof io === "undefined") return;
  // A wallboard watches: it does not put its supervisor online.
  var socket = io("/agents", { transports: ["websocket"], auth: { wallboard: true } });
  socket.on("wallboard", draw);
  socket.on("connect", function () {
    document.getElementById("wallboard-lost").hidden = true;
    socket.emit("wallboard", {}, function (answer) { if (answer && answer.ok) draw(answer.wallboard); });
  });
  socket.on("disconnect", function () { document.getElementById("wallboard-lost").hidden = false; });
})();
