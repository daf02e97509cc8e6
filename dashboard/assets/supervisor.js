/* The supervisor page (dashboard/pages/supervisor.py): the floor and adherence from the WebSocket push.

   The page's socket (assets/live.js: /ws with the session's cookie, the stale marker, reconnect) gets
   the full floor from the one floor snapshot (wfm/api/snapshot.py) the wall and GET /api/floor serve.
   The newest floor goes to the `sup-push` store, which redraws the page's floor part, when something
   the page shows changed (not the floor's clock, times in state or feed ages) and at most every
   data-floor-ms; it goes as {floor, agents}: the floor with only the people on a break in full, and
   every agent's id. Adherence is computed from the agent_state and shift events in the log: when a
   pushed floor shows an agent's state or shift changed (such an event was logged), the `sup-log` store
   is bumped at most every data-adherence-ms and the page fetches GET /api/adherence again (the day's
   records it reads are kept and topped up, wfm/api/logwindow.py); on a floor where nothing changes it
   is bumped every data-adherence-clock-ms while the socket is live, since adherence so far moves with
   the clock alone. With ?at= (data-at) adherence is of a fixed instant and is fetched once. */
(function () {
  "use strict";

  var IGNORED = {seconds_in_state: true, last_event_age_s: true};  // move with the clock, not shown here
  var BREAKS = {short_break: true, meal: true};

  // what the page draws: the floor with only the people on a break in full (the rest are only ids, for
  // the override's agent list) — a floor of thousands stays small on its way to the page's callback
  function slim(floor) {
    var copy = Object.assign({}, floor);
    copy.agents = (floor.agents || []).filter(function (a) { return BREAKS[a.state]; });
    return {floor: copy, agents: (floor.agents || []).map(function (a) { return a.agent; })};
  }
  // what adherence is computed from, as the floor shows it: each agent's state (since when) and shift
  function adherenceInput(floor) {
    return JSON.stringify((floor.agents || []).map(function (a) {
      return [a.agent, a.state, a.since, a.shift_start, a.shift_end, a.meal_slot_start];
    }));
  }
  function shown(doc) {
    var copy = Object.assign({}, doc.floor);
    delete copy.ts;
    return JSON.stringify([copy, doc.agents], function (key, value) { return IGNORED[key] ? undefined : value; });
  }

  var sup = window.wfmLive({
    root: "sup-root",
    status: "sup-live",
    open: function () {  // the first floor of a socket is always drawn; adherence was fetched with the page
      sup.shownKey = null;
      sup.floorAt = 0;
      sup.adherenceAt = Date.now();
    },
    message: function (msg, root) {
      if (msg.type === "floor") {
        sup.pushes += 1;
        sup.floor = msg.data;
        var input = adherenceInput(msg.data);
        if (sup.adherenceInput !== null && input !== sup.adherenceInput) { sup.logMoved = true; }
        sup.adherenceInput = input;
      }
      hand(root);
    },
    tick: hand
  });
  sup.floor = null;
  sup.shownKey = null;
  sup.floorAt = 0;
  sup.handed = 0;  // floors handed to the page
  sup.logMoved = false;
  sup.adherenceInput = null;  // the first floor is what the adherence fetched with the page was computed from
  sup.adherenceAt = Date.now();  // the page fetched adherence as it was drawn
  sup.adherenceBumps = 0;
  sup.timer = null;
  window.wfmSupervisor = sup;  // read by the browser tests

  function hand(root) {
    if (!root) { return; }
    var now = Date.now();
    var wait = sup.floorAt + parseFloat(root.dataset.floorMs || "1000") - now;
    if (sup.floor && wait > 0 && sup.timer === null) {  // the newest floor goes when the interval is up
      sup.timer = setTimeout(function () { sup.timer = null; hand(sup.root); }, wait);
    } else if (sup.floor && wait <= 0) {
      var doc = slim(sup.floor), key = shown(doc);
      if (key !== sup.shownKey) {
        sup.shownKey = key;
        sup.floorAt = now;
        sup.handed += 1;
        window.dash_clientside.set_props("sup-push", {data: doc});
      }
      sup.floor = null;
    }
    var since = now - sup.adherenceAt, live = sup.ws !== null && sup.ws.readyState === 1 && !root.classList.contains("stale");
    if (!root.dataset.at && ((sup.logMoved && since >= parseFloat(root.dataset.adherenceMs || "5000")) ||
        (live && since >= parseFloat(root.dataset.adherenceClockMs || "60000")))) {
      sup.logMoved = false;
      sup.adherenceAt = now;
      sup.adherenceBumps += 1;
      window.dash_clientside.set_props("sup-log", {data: sup.adherenceBumps});
    }
  }
})();
