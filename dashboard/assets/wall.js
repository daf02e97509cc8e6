/* The wall board (dashboard/pages/wall.py is its empty shell), drawn from WebSocket pushes.

   GET /api/wall/settings once per connection (names, colour thresholds, timings), then the
   floor as /ws/wall pushes it (the same snapshot GET /api/wall serves). Each push changes only
   the text and classes that differ; times in state tick between pushes at the floor clock's
   measured rate; no message for settings.stale_s marks the board STALE; the socket reconnects
   with capped, jittered backoff. Agents beyond one screen and people on break beyond the list
   rotate through pages every settings.rotate_s (the page says "1/3", the list "+N"). */
(function () {
  "use strict";

  var STATES = {
    logged_out: ["Logged out", "签出"], ready: ["Ready", "空闲"], ringing: ["Ringing", "振铃"],
    on_call: ["On call", "通话"], wrap_up: ["Wrap-up", "话后"], short_break: ["Short break", "小休"],
    meal: ["Meal", "用餐"], not_ready: ["Not ready", "未就绪"]
  };
  var RULES_ZH = {
    QUEUE_NEAR_FULL: "话务空闲数过低", SHORT_BREAK_TOO_LONG: "小休超时", SHORT_BREAK_BUDGET: "小休时长用完",
    MEAL_TOO_LONG: "用餐超时", MEAL_NOT_IN_SLOT: "未在时段用餐", MEAL_STATE_MISSING: "用餐未置状态",
    LATE_SIGN_IN: "签入迟到", SERIOUS_LATE: "严重迟到/离岗", POST_EMPTY: "岗位无人", LUNCH_COVER: "午餐值班不足",
    NOT_ON_SHIFT: "不在班", TEAM_BREAK_CAP: "班组休息已满", PBX_ACTION_FAILED: "电话系统未执行"
  };

  var wall = {
    settings: null, floor: null, receivedAt: 0, lastMessageAt: 0, rate: 1, ws: null, retry: 0,
    agentPage: 0, showQueues: false, breakPage: 0, pushes: 0
  };
  window.wfmWall = wall;  // read by the browser tests and the push benchmark

  function $(id) { return document.getElementById(id); }
  function setText(el, text) { if (el && el.textContent !== text) { el.textContent = text; } }
  function setClass(el, cls) { if (el && el.className !== cls) { el.className = cls; } }
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function mmss(seconds) {
    if (seconds === null || seconds === undefined) { return "—"; }
    var total = Math.max(0, Math.floor(seconds));
    var h = Math.floor(total / 3600), m = Math.floor((total % 3600) / 60), s = total % 60;
    return h ? h + ":" + pad(m) + ":" + pad(s) : m + ":" + pad(s);
  }
  function pct(v) { return v === null || v === undefined ? "—" : Math.round(v * 100) + "%"; }
  function nameOf(agent) { return (wall.settings && wall.settings.names[agent]) || ""; }
  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  // floor seconds elapsed since the last push, at the floor clock's measured rate (a simulated floor runs faster)
  function sincePush() { return wall.receivedAt ? (Date.now() - wall.receivedAt) / 1000 * wall.rate : 0; }

  function level(state, seconds, overrun) {
    if (overrun) { return "alarm"; }
    var limits = wall.settings && wall.settings.thresholds[state];
    if (!limits) { return "neutral"; }
    if (seconds >= limits[1]) { return "alarm"; }
    if (seconds >= limits[0]) { return "warn"; }
    return "neutral";
  }

  // ── tiles ────────────────────────────────────────────────────────────────
  function tile(key, value, detail, lvl) {
    setClass($("tile-" + key), "tile level-" + lvl);
    setText($("tile-" + key + "-value"), String(value));
    setText($("tile-" + key + "-detail"), detail);
  }

  function drawTiles(f) {
    var s = wall.settings;
    var answerS = s ? s.service_level_answer_s : 20;
    var waitLevel = !f.calls_waiting ? "ok" : (f.longest_wait_s > answerS ? "alarm" : "warn");
    tile("calls_waiting", f.calls_waiting, (f.queues || []).length + " queues 队列", waitLevel);
    tile("longest_wait", mmss(f.calls_waiting ? f.longest_wait_s : 0), "目标 " + Math.round(answerS) + " s", waitLevel);
    // F3 counts the idle agents minus the places held by breaks allowed but not yet taken (docs/break-holds.md)
    var held = f.held_places || 0;
    var counted = f.idle_for_rules === undefined || f.idle_for_rules === null ? f.idle_agents : f.idle_for_rules;
    var idleLevel = counted <= f.idle_threshold ? "alarm" : (counted <= f.idle_threshold + 2 ? "warn" : "ok");
    tile("idle_agents", f.idle_agents, held ? "held 保留 " + held + " → " + counted :
      (f.short_break_blocked ? "小休 blocked" : "小休 open") + " ≤" + f.idle_threshold, idleLevel);
    tile("short_break", f.agents_on_short_break, "queue 排队 " + (f.break_queue || []).length, "neutral");
    tile("meal", f.agents_at_meal, "on post 在岗 " + f.agents_on_post, "neutral");
    var n = 0, abandoned = 0;
    (f.queues || []).forEach(function (q) { n += q.answered + q.abandoned; abandoned += q.abandoned; });
    // a ratio over a handful of calls is shown with its sample size, and judged only from 20 calls
    var slLevel = f.service_level_today === null || n < 20 ? "neutral" : (f.service_level_today >= f.service_level_target ? "ok" : "alarm");
    tile("service_level", pct(f.service_level_today), "n=" + n + " · 目标 " + pct(f.service_level_target), slLevel);
    tile("occupancy", pct(f.occupancy), "SL 15 min " + pct(f.service_level_15m), "neutral");
    tile("abandon_rate", pct(f.abandon_rate), abandoned + " / n=" + n, "neutral");
  }

  // ── agents (paged when they do not fit) ───────────────────────────────────
  function visibleAgents(f) {
    var team = $("wall-root").dataset.team;
    var list = (f.agents || []).filter(function (a) { return !team || a.team === team; });
    return list.sort(function (a, b) { return a.agent.length - b.agent.length || (a.agent < b.agent ? -1 : 1); });
  }

  function agentCard(a) {
    var card = el("div", "agent");
    var top = el("div", "agent-top");
    top.appendChild(el("b", "agent-name"));
    top.appendChild(el("span", "age"));
    card.appendChild(top);
    card.appendChild(el("div", "agent-state"));
    card.dataset.agent = a.agent;
    return card;
  }

  function capacity(grid) {
    // tiles per page: as many rows of cards as the panel holds (measured, so CSS decides the size)
    var probe = grid.firstElementChild;
    if (!probe) { return 1000; }
    var style = getComputedStyle(grid);
    var cols = style.gridTemplateColumns.split(" ").length;
    var rowH = probe.getBoundingClientRect().height + parseFloat(style.rowGap || 0);
    var rows = Math.max(1, Math.floor((grid.clientHeight + parseFloat(style.rowGap || 0)) / rowH));
    return cols * rows;
  }

  function drawAgents(f) {
    var grid = $("wall-agents");
    var agents = visibleAgents(f);
    var extra = sincePush();
    var per = capacity(grid);
    var pages = Math.max(1, Math.ceil(agents.length / per));
    if (wall.agentPage >= pages) { wall.agentPage = 0; }
    var shown = agents.slice(wall.agentPage * per, (wall.agentPage + 1) * per);
    var existing = {};
    Array.prototype.forEach.call(grid.children, function (c) { existing[c.dataset.agent] = c; });
    var wanted = {};
    shown.forEach(function (a, index) {
      wanted[a.agent] = true;
      var card = existing[a.agent] || agentCard(a);
      var seconds = a.seconds_in_state + extra;
      var out = a.state === "logged_out";
      setClass(card, "agent s-" + a.state + " level-" + (out ? "neutral" : level(a.state, seconds, a.overrun)));
      var name = nameOf(a.agent);
      setText(card.children[0].children[0], name ? name + " " + a.agent : a.agent);
      // a logged-out agent has no running timer (never signed in, or gone for the day)
      setText(card.children[0].children[1], out ? "" : mmss(seconds));
      var label = STATES[a.state] || [a.state, ""];
      setText(card.children[1], label[0] + " " + label[1]);
      if (grid.children[index] !== card) { grid.insertBefore(card, grid.children[index] || null); }
    });
    Object.keys(existing).forEach(function (k) { if (!wanted[k]) { grid.removeChild(existing[k]); } });
    setText($("wall-page"), pages > 1 ? (wall.agentPage + 1) + "/" + pages + " 页 · " + agents.length : String(agents.length));
    wall.agentPages = pages;
  }

  // ── queues page (in the rotation) ─────────────────────────────────────────
  function drawQueues(f) {
    var board = $("wall-queues");
    var names = (wall.settings && wall.settings.queues) || {};
    var head = ["Queue 队列", "Waiting 排队", "Offered 来电", "Answered 接听", "Abandoned 放弃", "SL 服务水平", "ASA 应答", "Longest 最长"];
    var table = el("table", "queue-table");
    var tr = el("tr");
    head.forEach(function (h) { tr.appendChild(el("th", "", h)); });
    table.appendChild(tr);
    (f.queues || []).forEach(function (q) {
      var row = el("tr");
      var n = q.answered + q.abandoned;
      [names[q.queue] || q.queue, q.waiting, q.offered, q.answered, q.abandoned,
        pct(q.service_level) + " (n=" + n + ")", mmss(q.asa_s), mmss(q.longest_wait_s)].forEach(function (v) {
        row.appendChild(el("td", "", String(v)));
      });
      table.appendChild(row);
    });
    board.textContent = "";
    board.appendChild(table);
    drawTrend(board);
  }

  // today's SL per interval against the target, and required vs staffed now (GET /api/wall/trend)
  function drawTrend(board) {
    var t = wall.trend;
    if (!t) { return; }
    var need = t.required_roster !== null && t.required_roster !== undefined ? t.required_roster : t.required_model;
    var staffed = el("div", "staffing" + (t.staffed_now < need ? " level-alarm" : " level-ok"));
    staffed.id = "wall-staffing";
    staffed.textContent = "Required 需要 " + need + (t.required_roster !== null && t.required_roster !== undefined ?
      " (roster 排班; model 模型 " + t.required_model + ")" : " (model 模型, " + t.offered_last_interval + " calls/" + t.interval_min + " min)") +
      " · Staffed 在岗 " + t.staffed_now;
    board.appendChild(staffed);
    var rows = t.intervals.filter(function (r) { return r.n > 0; });
    var first = rows.length ? t.intervals.indexOf(rows[0]) : t.intervals.length;
    var shown = t.intervals.slice(first);
    var head = el("div", "trend-head", "SL per " + t.interval_min + " min 各时段服务水平 · target 目标 " + pct(t.target));
    board.appendChild(head);
    var chart = el("div", "trend");
    chart.id = "wall-trend";
    var target = el("div", "trend-target");
    target.style.bottom = (t.target * 100) + "%";
    chart.appendChild(target);
    shown.forEach(function (r, i) {
      var col = el("div", "trend-col");
      var bar = el("div", "trend-bar " + (r.service_level === null || r.n < 5 ? "thin" : (r.service_level >= t.target ? "ok" : "alarm")));
      bar.style.height = ((r.service_level || 0) * 100) + "%";
      bar.title = r.start + " " + pct(r.service_level) + " n=" + r.n;
      col.appendChild(bar);
      var label = el("span", "trend-label", i % 4 === 0 ? r.start : "");
      col.appendChild(label);
      chart.appendChild(col);
    });
    board.appendChild(chart);
  }

  function fetchTrend() {
    var root = $("wall-root");
    if (!root) { return; }
    fetch("/api/wall/trend" + query(root.dataset.token), {credentials: "same-origin"})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (t) { if (t) { wall.trend = t; } })
      .catch(function () { /* the next minute tries again */ });
  }

  // ── people on break (never hidden: pages, and "+N" says how many are not on this page) ──
  function drawBreaks(f) {
    var list = $("wall-breaks");
    var team = $("wall-root").dataset.team;
    var extra = sincePush();
    var rows = (f.agents || []).filter(function (a) {
      return (a.state === "short_break" || a.state === "meal") && (!team || a.team === team);
    }).map(function (a) {
      var seconds = a.seconds_in_state + extra;
      return {a: a, seconds: seconds, level: level(a.state, seconds, a.overrun)};
    }).sort(function (x, y) { return y.seconds - x.seconds; });
    var per = Math.max(1, Math.floor(list.clientHeight / 40));
    var pages = Math.max(1, Math.ceil(rows.length / per));
    if (wall.breakPage >= pages) { wall.breakPage = 0; }
    var shown = rows.slice(wall.breakPage * per, (wall.breakPage + 1) * per);
    list.textContent = "";
    if (!rows.length) { list.appendChild(el("div", "muted", "Nobody 无人休息")); }
    shown.forEach(function (r) {
      var row = el("div", "break-row level-" + r.level);
      row.dataset.agent = r.a.agent;
      var name = nameOf(r.a.agent);
      row.appendChild(el("b", "", name ? name + " " + r.a.agent : r.a.agent));
      row.appendChild(el("span", "", STATES[r.a.state][1]));
      var limit = r.a.break_limit_s || (wall.settings.thresholds[r.a.state] || [0, 0])[1];
      row.appendChild(el("span", "countdown", r.seconds > limit ? "+" + mmss(r.seconds - limit) + " 超时" : mmss(limit - r.seconds) + " 剩余"));
      list.appendChild(row);
    });
    var hidden = rows.length - shown.length;
    setText($("wall-breaks-more"), hidden > 0 ? "+" + hidden + " · " + (wall.breakPage + 1) + "/" + pages + " 页" : (rows.length ? String(rows.length) : ""));
    wall.breakPages = pages;
    wall.onBreak = rows.length;
  }

  function drawAlerts(f) {
    var list = $("wall-alerts");
    var shown = (f.alerts || []).slice(0, 6);
    var key = JSON.stringify(shown);
    if (list.dataset.key === key) { return; }
    list.dataset.key = key;
    list.textContent = "";
    if (!shown.length) { list.appendChild(el("div", "muted", "None 无告警")); }
    shown.forEach(function (a) {
      var row = el("div", "alert-row");
      row.appendChild(el("span", "alert-time", clock(a.ts, true)));
      row.appendChild(el("b", "", RULES_ZH[a.rule] || a.rule));
      var name = a.agent ? nameOf(a.agent) : "";
      row.appendChild(el("span", "", a.agent ? (name ? name + " " + a.agent : a.agent) : ""));
      list.appendChild(row);
    });
  }

  function drawFeeds(f) {
    var feeds = f.feeds || [];
    var sim = feeds.some(function (x) { return x.source.indexOf("simulator") >= 0; });
    $("wall-sim").hidden = !sim;
    var text = feeds.map(function (x) {
      return x.source + " " + (!x.connected ? "DISCONNECTED 已断开" : (x.stale ? "STALE 数据过期" : "live 正常"));
    }).join(" · ");
    setText($("wall-feeds"), "Feeds 数据源: " + (text || "—"));
    setClass($("wall-feeds"), "wall-feeds" + (feeds.some(function (x) { return x.stale || !x.connected; }) ? " level-alarm" : ""));
  }

  function clock(iso, short) {
    var tz = (wall.settings && wall.settings.timezone) || undefined;
    var d = new Date(iso);
    var opts = {timeZone: tz, hour12: false, hour: "2-digit", minute: "2-digit", second: "2-digit"};
    if (!short) { opts.year = "numeric"; opts.month = "2-digit"; opts.day = "2-digit"; }
    try { return new Intl.DateTimeFormat("sv-SE", opts).format(d); } catch (e) { return iso; }
  }

  function drawAll() {
    var f = wall.floor;
    if (!f || !wall.settings) { return; }
    drawTiles(f);
    if (wall.showQueues) { drawQueues(f); } else { drawAgents(f); }
    drawBreaks(f);
    drawAlerts(f);
    drawFeeds(f);
    var floorNow = new Date(new Date(f.ts).getTime() + sincePush() * 1000).toISOString();
    setText($("wall-clock"), "Floor time 现场时间 " + clock(floorNow, false));
    $("wall-root").dataset.drawnTs = f.ts;
  }

  function rotate() {
    if (!wall.floor) { return; }
    wall.breakPage = wall.breakPages > 1 ? (wall.breakPage + 1) % wall.breakPages : 0;
    if (wall.showQueues) {
      wall.showQueues = false;
      wall.agentPage = 0;
    } else if (wall.agentPage + 1 < (wall.agentPages || 1)) {
      wall.agentPage += 1;
    } else {
      wall.showQueues = true;
    }
    $("wall-agents").hidden = wall.showQueues;
    $("wall-queues").hidden = !wall.showQueues;
    $("wall-legend").hidden = wall.showQueues;
    setText($("wall-main-title"), wall.showQueues ? "Queues today 今日队列" : "Agents 座席");
    if (wall.showQueues) { setText($("wall-page"), ""); }
    drawAll();
  }

  // ── the socket ────────────────────────────────────────────────────────────
  function status(text, alarm) {
    setText($("wall-status"), text);
    setClass($("wall-status"), "wall-status" + (alarm ? " level-alarm" : ""));
    $("wall-root").classList.toggle("stale", !!alarm);
  }

  function onFloor(data) {
    var now = Date.now();
    if (wall.floor && wall.receivedAt) {
      var floorDelta = (new Date(data.ts) - new Date(wall.floor.ts)) / 1000;
      var wallDelta = (now - wall.receivedAt) / 1000;
      if (wallDelta > 0.2 && floorDelta >= 0) { wall.rate = Math.min(100, Math.max(0.1, floorDelta / wallDelta)); }
    }
    wall.floor = data;
    wall.receivedAt = now;
    wall.pushes += 1;
    drawAll();
    wall.drawnAt = performance.now();
  }

  function query(token) { return token ? "?token=" + encodeURIComponent(token) : ""; }

  function connect() {
    var root = $("wall-root");
    if (!root) { return; }
    var token = root.dataset.token;
    fetch("/api/wall/settings" + query(token), {credentials: "same-origin"})
      .then(function (r) {
        if (r.status === 401) { throw new Error("Kiosk token required 需要大屏令牌"); }
        if (!r.ok) { throw new Error("settings " + r.status); }
        return r.json();
      })
      .then(function (settings) {
        wall.settings = settings;
        var ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/wall" + query(token));
        wall.ws = ws;
        ws.onopen = function () { wall.retry = 0; };
        ws.onmessage = function (m) {
          wall.lastMessageAt = Date.now();
          var msg = JSON.parse(m.data);
          if (msg.type === "floor") { onFloor(msg.data); }
          if (!$("wall-root").classList.contains("stale")) { status("", false); }
        };
        ws.onclose = function () { wall.ws = null; retryLater("disconnected 已断开"); };
      })
      .catch(function (err) { retryLater(String(err.message || err)); });
  }

  function retryLater(why) {
    status(why + " — retrying 重连中", true);
    var delay = Math.min(10000, 500 * Math.pow(2, wall.retry)) * (0.75 + Math.random() * 0.5);
    wall.retry += 1;
    setTimeout(connect, delay);
  }

  function watch() {
    if (!wall.settings) { return; }
    var silent = (Date.now() - wall.lastMessageAt) / 1000;
    if (wall.ws && wall.ws.readyState === 1) {
      try { wall.ws.send("ping"); } catch (e) { /* the close handler reconnects */ }
    }
    if (wall.lastMessageAt && silent > wall.settings.stale_s) {
      status("STALE 数据过期 — no update for " + Math.floor(silent) + " s", true);
    } else if (wall.lastMessageAt) {
      $("wall-root").classList.remove("stale");
      if (wall.ws) { status("", false); }
    }
    drawAll();  // the times in state tick between pushes
  }

  function start() {
    if (!$("wall-root") || wall.started) { return false; }
    wall.started = true;
    connect();
    fetchTrend();
    setInterval(fetchTrend, 60000);
    setInterval(watch, 1000);
    (function turn() {  // the rotation period comes with the settings
      setTimeout(function () { rotate(); turn(); }, 1000 * ((wall.settings && wall.settings.rotate_s) || 12));
    })();
    return true;
  }

  // the Dash shell renders the page after this script loads: start once #wall-root exists
  var waiter = setInterval(function () { if (start()) { clearInterval(waiter); } }, 100);
})();
