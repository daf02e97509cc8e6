/* The wall board's agent grid, drawn in the browser from compact rows
   [agent, state, label, since_ms, level] (dashboard/pages/wall.py sends them only
   when a state changes). Cards are kept by agent id and only changed cards are
   touched; the time in state ticks from `since` and the floor clock (wall-now),
   so nothing flickers and 500 agents cost a few kilobytes. */
(function () {
  function mmss(ms) {
    var total = Math.max(0, Math.floor(ms / 1000));
    var h = Math.floor(total / 3600), m = Math.floor((total % 3600) / 60), s = total % 60;
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    return h ? h + ":" + pad(m) + ":" + pad(s) : m + ":" + pad(s);
  }

  function card(row) {
    var el = document.createElement("div");
    var id = document.createElement("b");
    var state = document.createElement("span");
    var age = document.createElement("span");
    age.className = "age";
    el.appendChild(id); el.appendChild(state); el.appendChild(age);
    el.dataset.agent = row[0];
    id.textContent = row[0];
    return el;
  }

  function drawGrid(rows, now) {
    var root = document.getElementById("wall-agents");
    if (!root || !rows) { return window.dash_clientside.no_update; }
    // a big floor still fits one 1080p screen: smaller cards, then colour and id only
    var size = rows.length > 260 ? "dense" : (rows.length > 90 ? "compact" : "normal");
    if (root.dataset.size !== size) { root.dataset.size = size; }
    var existing = {};
    Array.prototype.forEach.call(root.children, function (el) { existing[el.dataset.agent] = el; });
    var wanted = {};
    rows.forEach(function (row, index) {
      var agent = row[0];
      wanted[agent] = true;
      var el = existing[agent] || card(row);
      var cls = "agent s-" + row[1] + " level-" + row[4];
      if (el.className !== cls) { el.className = cls; }
      if (el.children[1].textContent !== row[2]) { el.children[1].textContent = row[2]; }
      el.dataset.since = row[3];
      var age = mmss((now || Date.now()) - row[3]);
      if (el.children[2].textContent !== age) { el.children[2].textContent = age; }
      if (root.children[index] !== el) { root.insertBefore(el, root.children[index] || null); }
    });
    Object.keys(existing).forEach(function (agent) {
      if (!wanted[agent]) { root.removeChild(existing[agent]); }
    });
    return rows.length;
  }

  window.dash_clientside = Object.assign({}, window.dash_clientside, {wall: {drawGrid: drawGrid}});
})();
