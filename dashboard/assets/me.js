/* The agent page (dashboard/pages/me.py): its live budget over the WebSocket, and the alert when a
   queued break is granted.

   /ws with the session's cookie: an agent's socket gets their own budget with the floor pushes
   (wfm/api/ws.py); a reader looking at an agent's page sends "watch:<agent>". Each budget goes to the
   `me-push` store, which redraws the page. No message (pushes, or the pong to the ping sent every
   second) for data-stale-s seconds marks the page STALE 数据过期; a closed socket reconnects with
   capped, jittered backoff. Leaving the page closes the socket.

   Granted: a banner (the page shows it), a short beep, and a system notification when the agent
   allowed them. */
(function () {
  "use strict";

  var me = {ws: null, retry: 0, lastMessageAt: 0, pushes: 0, root: null, timer: null, retryTimer: null};
  window.wfmMe = me;  // read by the browser tests

  function $(id) { return document.getElementById(id); }

  function status(text, alarm) {
    var live = $("me-live");
    if (live && live.textContent !== text) { live.textContent = text; }
    if (live) { live.className = "me-live" + (alarm ? " level-alarm" : ""); }
    if (me.root) { me.root.classList.toggle("stale", !!alarm); }
  }

  function connect() {
    if (!me.root || !document.body.contains(me.root)) { return; }
    var root = me.root;
    var ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws");
    me.ws = ws;
    ws.onopen = function () {
      me.retry = 0;
      if (!root.dataset.own) { ws.send("watch:" + root.dataset.agent); }
    };
    ws.onmessage = function (m) {
      me.lastMessageAt = Date.now();
      var msg = JSON.parse(m.data);
      if (msg.type === "budget" && msg.agent === root.dataset.agent) {
        me.pushes += 1;
        window.dash_clientside.set_props("me-push", {data: {agent: msg.agent, budget: msg.data}});
      }
      if (root.classList.contains("stale") || ($("me-live") && $("me-live").textContent)) { status("", false); }
    };
    ws.onclose = function () {
      if (me.ws !== ws) { return; }  // closed on purpose (the page was left)
      me.ws = null;
      status("disconnected 已断开 — retrying 重连中", true);
      var delay = Math.min(10000, 500 * Math.pow(2, me.retry)) * (0.75 + Math.random() * 0.5);
      me.retry += 1;
      me.retryTimer = setTimeout(connect, delay);
    };
  }

  function watch() {
    var silent = (Date.now() - me.lastMessageAt) / 1000;
    if (me.ws && me.ws.readyState === 1) {
      try { me.ws.send("ping"); } catch (e) { /* the close handler reconnects */ }
    }
    var staleS = parseFloat(me.root.dataset.staleS || "5");
    if (me.lastMessageAt && silent > staleS) {
      status("STALE 数据过期 — no update for " + Math.floor(silent) + " s", true);
    }
  }

  function stop() {
    var ws = me.ws;
    me.ws = null;
    if (ws) { ws.close(); }
    clearInterval(me.timer);
    clearTimeout(me.retryTimer);
    me.root = null;
  }

  // the Dash shell renders pages after this script loads, and may swap them without a reload
  setInterval(function () {
    var root = $("me-root");
    if (root === me.root) { return; }
    if (me.root) { stop(); }
    if (root) {
      me.root = root;
      me.lastMessageAt = 0;
      me.retry = 0;
      connect();
      me.timer = setInterval(watch, 1000);
    }
  }, 100);

  function beep() {
    try {
      var Ctx = window.AudioContext || window.webkitAudioContext;
      var ctx = new Ctx(), osc = ctx.createOscillator(), gain = ctx.createGain();
      osc.frequency.value = 880; gain.gain.value = 0.2;
      osc.connect(gain); gain.connect(ctx.destination);
      osc.start(); osc.stop(ctx.currentTime + 0.4);
    } catch (e) { /* no audio on this device: the banner still shows */ }
  }
  function notify(text) {
    if (!("Notification" in window)) { return; }
    if (Notification.permission === "granted") { new Notification(text); }
  }
  document.addEventListener("click", function (event) {
    // ask for notifications once, on the agent's own click (browsers refuse it otherwise)
    var button = event.target.closest && event.target.closest("#me-request-short, #me-request-meal");
    if (button && "Notification" in window && Notification.permission === "default") { Notification.requestPermission(); }
  });
  window.dash_clientside = Object.assign({}, window.dash_clientside, {me: {
    granted: function (at) {
      if (!at) { return window.dash_clientside.no_update; }
      var banner = document.getElementById("me-granted-banner");
      beep();
      notify(banner ? banner.textContent : "Break granted 休息已批准");
      window.wfmGrantedAt = at;
      return false;
    }
  }});
})();
