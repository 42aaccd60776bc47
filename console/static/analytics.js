// The supervisors' analytics page: the figures of a range as tiles (each drills down
// to its conversations), a trend beside the period before, the bot funnel and the
// day's staffing, each chart beside a table of the same numbers. It reads the
// analytics API with the console's session. Text only (textContent).
(function () {
  "use strict";
  var main = document.querySelector("main.analytics");
  if (!main) return;
  var strings = JSON.parse(document.getElementById("strings").textContent || "{}");
  var form = document.getElementById("analytics-filters");
  var charts = {};

  function say(key, values) {
    var text = Object.prototype.hasOwnProperty.call(strings, key) ? strings[key] : key;
    Object.keys(values || {}).forEach(function (name) {
      text = text.split("{" + name + "}").join(String(values[name]));
    });
    return text;
  }
  function el(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }
  function percent(value) { return value === null || value === undefined ? "—" : (value * 100).toFixed(1) + " %"; }
  function seconds(value) {
    if (value === null || value === undefined) return "—";
    if (value < 120) return say("analytics.seconds", { n: value.toFixed(1) });
    if (value < 7200) return say("analytics.minutes", { n: (value / 60).toFixed(1) });
    return say("analytics.hours", { n: (value / 3600).toFixed(1) });
  }
  function count(value) { return value === null || value === undefined ? "—" : String(value); }

  // Each tile: the API it comes from, where its value is, how it reads, and where it drills.
  var TILES = [
    ["service_level", "queue", ["service_level"], percent, ["queue", "within_target"]],
    ["handoffs", "queue", ["handoffs"], count, ["queue", "handoffs"]],
    ["asa_p50", "queue", ["asa", "p50"], seconds, ["queue", "answered"]],
    ["asa_p90", "queue", ["asa", "p90"], seconds, ["queue", "missed_target"]],
    ["abandon_rate", "queue", ["abandon_rate"], percent, ["queue", "abandoned"]],
    ["containment", "bot", ["containment"], percent, ["bot", "contained"]],
    ["durable_containment", "bot", ["durable_containment"], percent, ["bot", "durably_contained"]],
    ["fallback_rate", "bot", ["fallback_rate"], percent, null],
    ["fcr", "resolution", ["fcr"], percent, null],
    ["csat", "outcome", ["csat"], percent, null],
    ["claims_self_service", "claims", ["self_service_share"], percent, null],
    ["claims_first_time", "claims", ["first_time_success"], percent, null],
    ["claims_cycle_p50", "claims", ["cycle_seconds", "p50"], seconds, null]
  ];
  // The filters each API takes, and each trend's metric (from the page: the desk's
  // families of figures); a figure is never sent a filter it would refuse.
  var FILTER_NAMES = ["channel", "team", "agent", "language", "intent", "tag"];
  var families = JSON.parse(document.getElementById("filter-families").textContent || "{}");

  function taken(api) { return (families.apis || {})[api] || []; }
  function filters() {
    var data = new FormData(form);
    var chosen = { start: data.get("start"), end: data.get("end") };
    FILTER_NAMES.forEach(function (name) {
      chosen[name] = data.getAll(name).filter(function (value) { return value; });
    });
    return chosen;
  }
  // Several values of a filter are sent as the parameter repeated.
  function query(api, extra, names) {
    var chosen = filters();
    var params = new URLSearchParams({ start: chosen.start, end: chosen.end });
    (names || taken(api)).forEach(function (name) {
      chosen[name].forEach(function (value) { params.append(name, value); });
    });
    Object.keys(extra || {}).forEach(function (name) { params.set(name, extra[name]); });
    return params;
  }
  // The filters chosen that a figure cannot split by, said on its tile.
  function ignored(api, names) {
    var chosen = filters();
    names = names || taken(api);
    return FILTER_NAMES.filter(function (name) { return chosen[name].length && names.indexOf(name) < 0; })
      .map(function (name) { return say("analytics." + name); });
  }
  async function get(path, params) {
    var response = await fetch(path + "?" + params.toString(), { credentials: "same-origin" });
    var body = await response.json().catch(function () { return {}; });
    if (!response.ok) throw body.error || { message: String(response.status) };
    return body;
  }
  function fail(problem) {
    var box = document.getElementById("analytics-error");
    box.textContent = say("analytics.failed", { message: problem.message || problem.code || "?" });
    box.hidden = false;
  }
  function pick(figures, path) {
    return path.reduce(function (value, key) { return value && value[key]; }, figures);
  }
  function chart(id) {
    if (typeof echarts === "undefined") return null;
    if (!charts[id]) {
      charts[id] = echarts.init(document.getElementById(id), null, {
        renderer: "svg", locale: main.getAttribute("data-lang") === "en" ? "EN" : "ZH"
      });
    }
    return charts[id];
  }

  async function tiles() {
    var apis = {};
    TILES.forEach(function (tile) { apis[tile[1]] = true; });
    var answers = {};
    await Promise.all(Object.keys(apis).map(async function (api) {
      answers[api] = await get("/api/v1/analytics/" + api, query(api)).catch(function () { return null; });
    }));
    var list = document.getElementById("tile-list");
    list.replaceChildren();
    TILES.forEach(function (tile) {
      var box = el("div", null, "tile");
      box.dataset.figure = tile[0];
      box.append(el("dt", say("analytics.metric." + tile[0])));
      var value = answers[tile[1]] ? tile[3](pick(answers[tile[1]], tile[2])) : "—";
      var dd = el("dd");
      if (tile[4] && answers[tile[1]]) {
        var link = el("button", value, "linkish");
        link.type = "button";
        link.addEventListener("click", function () { drill(tile[4][0], tile[4][1], tile[0]); });
        dd.append(link);
      } else {
        dd.textContent = value;
      }
      box.append(dd);
      var unsplit = ignored(tile[1]);
      if (unsplit.length) {
        box.append(el("dd", say("analytics.unfiltered", { names: unsplit.join(", ") }), "unfiltered"));
      }
      list.append(box);
    });
  }

  async function drill(of, part, figure) {
    var found = await get("/api/v1/analytics/drilldown", query(of === "bot" ? "bot" : "queue", { of: of, part: part })).catch(fail);
    if (!found) return;
    var section = document.getElementById("drilldown");
    section.hidden = false;
    document.getElementById("drilldown-what").textContent =
      say("analytics.metric." + figure) + " · " + say("analytics.count", { n: found.count });
    var body = document.querySelector("#drilldown-table tbody");
    body.replaceChildren();
    found.conversations.forEach(function (row) {
      var tr = el("tr");
      tr.dataset.conversationId = row.conversation_id;
      [row.conversation_id, (row.at || "").slice(0, 16).replace("T", " "), row.channel, row.team,
        say("analytics.outcome." + row.outcome)].forEach(function (text) { tr.append(el("td", text)); });
      var open = el("td");
      var link = el("a", say("analytics.open"));
      link.href = row.link;
      open.append(link);
      tr.append(open);
      body.append(tr);
    });
  }

  async function trend() {
    var metric = document.getElementById("trend-metric").value;
    var names = (families.metrics || {})[metric];
    var unsplit = ignored("trends", names);
    var note = document.getElementById("trend-unfiltered");
    note.textContent = unsplit.length ? say("analytics.unfiltered", { names: unsplit.join(", ") }) : "";
    var figures = await get("/api/v1/analytics/trends", query("trends", { metric: metric }, names)).catch(fail);
    if (!figures) return;
    var body = document.querySelector("#trend-table tbody");
    body.replaceChildren();
    figures.points.forEach(function (point, index) {
      var before = figures.previous[index] || {};
      var tr = el("tr");
      [point.day, count(point.value), before.day, count(before.value)].forEach(function (text) { tr.append(el("td", text)); });
      body.append(tr);
    });
    var drawn = chart("trend-chart");
    if (drawn) {
      drawn.setOption({
        animation: false,
        tooltip: { trigger: "axis" },
        legend: { data: [say("analytics.value"), say("analytics.previous_value")] },
        xAxis: { type: "category", data: figures.points.map(function (p) { return p.day.slice(5); }) },
        yAxis: { type: "value" },
        series: [
          { name: say("analytics.value"), type: "line", data: figures.points.map(function (p) { return p.value; }) },
          { name: say("analytics.previous_value"), type: "line", lineStyle: { type: "dashed" },
            data: figures.previous.map(function (p) { return p.value; }) }
        ]
      }, true);
    }
  }

  async function funnel() {
    var figures = await get("/api/v1/analytics/funnel", query("funnel")).catch(fail);
    if (!figures) return;
    var body = document.querySelector("#funnel-table tbody");
    body.replaceChildren();
    figures.topics.concat([Object.assign({ topic: say("analytics.total") }, figures.total)]).forEach(function (row) {
      var tr = el("tr");
      tr.append(el("th", row.topic));
      ["sessions", "handed_over", "queued", "answered", "resolved", "callback", "follow_up", "complaint"]
        .forEach(function (step) { tr.append(el("td", count(row[step]))); });
      body.append(tr);
    });
  }

  async function forms() {
    var figures = await get("/api/v1/analytics/forms", query("forms")).catch(fail);
    if (!figures) return;
    var body = document.querySelector("#forms-table tbody");
    body.replaceChildren();
    figures.forms.forEach(function (row) {
      var tr = el("tr");
      tr.dataset.form = row.form;
      tr.append(el("th", say("analytics.form." + row.form)));
      [count(row.started), count(row.completed), count(row.cancelled), count(row.left),
        percent(row.completion_rate), percent(row.cancel_rate)].forEach(function (text) { tr.append(el("td", text)); });
      body.append(tr);
    });
  }

  async function staffing() {
    var params = new URLSearchParams({
      day: document.getElementById("staffing-day").value,
      preset: document.getElementById("staffing-preset").value
    });
    var plan = await get("/api/v1/analytics/staffing", params).catch(fail);
    if (!plan) return;
    var shown = plan.slots.filter(function (slot) { return slot.arrivals > 0 || slot.agents_online > 0; });
    var body = document.querySelector("#staffing-table tbody");
    body.replaceChildren();
    shown.forEach(function (slot) {
      var tr = el("tr");
      [slot.slot, slot.arrivals, slot.agents_needed, slot.agents_online].forEach(function (text) { tr.append(el("td", count(text))); });
      body.append(tr);
    });
    var drawn = chart("staffing-chart");
    if (drawn) {
      drawn.setOption({
        animation: false,
        tooltip: { trigger: "axis" },
        legend: { data: [say("analytics.needed"), say("analytics.online")] },
        xAxis: { type: "category", data: plan.slots.map(function (s) { return s.slot; }) },
        yAxis: { type: "value", minInterval: 1 },
        series: [
          { name: say("analytics.needed"), type: "bar", data: plan.slots.map(function (s) { return s.agents_needed; }) },
          { name: say("analytics.online"), type: "line", step: "middle", data: plan.slots.map(function (s) { return s.agents_online; }) }
        ]
      }, true);
    }
  }

  function refresh() {
    document.getElementById("analytics-error").hidden = true;
    document.getElementById("drilldown").hidden = true;
    document.getElementById("analytics-export").href =
      "/api/v1/analytics/conversations.csv?" + query("export").toString();
    tiles().catch(fail);
    trend();
    funnel();
    forms();
    staffing();
  }

  form.addEventListener("submit", function (event) { event.preventDefault(); refresh(); });
  document.getElementById("trend-metric").addEventListener("change", trend);
  document.getElementById("staffing-day").addEventListener("change", staffing);
  document.getElementById("staffing-preset").addEventListener("change", staffing);
  window.addEventListener("resize", function () { Object.keys(charts).forEach(function (id) { charts[id].resize(); }); });
  refresh();
})();
