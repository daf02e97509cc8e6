/* A page's live socket (the /me and /supervisor pages; the wall has its own, on /ws/wall without login).

   window.wfmLive({root, status, open, message}) follows the page whose root element has id `root`
   (the Dash shell renders pages after the scripts load, and may swap them without a reload): while
   it is shown, it holds a WebSocket on /ws with the session's cookie (the hub, wfm/api/ws.py, pushes
   what the session's role may see: the floor, decisions, a watched agent's budget). `open(ws, root)`
   runs on each (re)connection, `message(msg, root)` on each message but the pong. It sends "ping"
   every second; no message for the root's data-stale-s seconds writes STALE 数据过期 into the element
   with id `status` and puts the class "stale" on the root; a closed socket reconnects with capped,
   jittered backoff. Leaving the page closes the socket. Returns the live state
   ({ws, pushes, lastMessageAt, root}), which the page's script and the browser tests read. */
(function () {
  "use strict";

  window.wfmLive = function (spec) {
    var live = {ws: null, retry: 0, lastMessageAt: 0, pushes: 0, root: null, timer: null, retryTimer: null};

    function $(id) { return document.getElementById(id); }

    function status(text, alarm) {
      var el = $(spec.status);
      if (el && el.textContent !== text) { el.textContent = text; }
      if (el) { el.classList.toggle("level-alarm", !!alarm); }
      if (live.root) { live.root.classList.toggle("stale", !!alarm); }
    }

    function connect() {
      if (!live.root || !document.body.contains(live.root)) { return; }
      var root = live.root;
      var ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws");
      live.ws = ws;
      ws.onopen = function () {
        live.retry = 0;
        if (spec.open) { spec.open(ws, root); }
      };
      ws.onmessage = function (m) {
        live.lastMessageAt = Date.now();
        var msg = JSON.parse(m.data);
        if (msg.type !== "pong" && spec.message) { spec.message(msg, root); }
        var el = $(spec.status);
        if (root.classList.contains("stale") || (el && el.textContent)) { status("", false); }
      };
      ws.onclose = function () {
        if (live.ws !== ws) { return; }  // closed on purpose (the page was left)
        live.ws = null;
        status("disconnected 已断开 — retrying 重连中", true);
        var delay = Math.min(10000, 500 * Math.pow(2, live.retry)) * (0.75 + Math.random() * 0.5);
        live.retry += 1;
        live.retryTimer = setTimeout(connect, delay);
      };
    }

    function watch() {
      var silent = (Date.now() - live.lastMessageAt) / 1000;
      if (live.ws && live.ws.readyState === 1) {
        try { live.ws.send("ping"); } catch (e) { /* the close handler reconnects */ }
      }
      var staleS = parseFloat(live.root.dataset.staleS || "5");
      if (live.lastMessageAt && silent > staleS) {
        status("STALE 数据过期 — no update for " + Math.floor(silent) + " s", true);
      }
      if (spec.tick) { spec.tick(live.root); }
    }

    function stop() {
      var ws = live.ws;
      live.ws = null;
      if (ws) { ws.close(); }
      clearInterval(live.timer);
      clearTimeout(live.retryTimer);
      live.root = null;
    }

    setInterval(function () {
      var root = $(spec.root);
      if (root === live.root) { return; }
      if (live.root) { stop(); }
      if (root) {
        live.root = root;
        live.lastMessageAt = 0;
        live.retry = 0;
        connect();
        live.timer = setInterval(watch, 1000);
      }
    }, 100);
    return live;
  };
})();
