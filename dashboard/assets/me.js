/* The agent page (dashboard/pages/me.py): its live budget over the WebSocket, and the alert when a
   queued break is granted.

   The page's socket (assets/live.js: /ws with the session's cookie, the stale marker, reconnect): an
   agent's socket gets their own budget with the floor pushes (wfm/api/ws.py); a reader looking at an
   agent's page sends "watch:<agent>". Each budget goes to the `me-push` store, which redraws the page.

   Granted: a banner (the page shows it), a short beep, and a system notification when the agent
   allowed them. */
(function () {
  "use strict";

  var me = window.wfmLive({
    root: "me-root",
    status: "me-live",
    open: function (ws, root) { if (!root.dataset.own) { ws.send("watch:" + root.dataset.agent); } },
    message: function (msg, root) {
      if (msg.type === "budget" && msg.agent === root.dataset.agent) {
        me.pushes += 1;
        window.dash_clientside.set_props("me-push", {data: {agent: msg.agent, budget: msg.data}});
      }
    }
  });
  window.wfmMe = me;  // read by the browser tests

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
