"""The API server's own pages: the login page and a minimal live wall board.

The Dash app (dashboard/) serves the full pages; this minimal wall is used
when the dashboard package is not installed, and /wall/basic always serves
it. No inline scripts or styles (a strict Content-Security-Policy applies).
"""
from __future__ import annotations

from aiohttp import web

from wfm.api.security import Access, requires

_CSS = """
body{font-family:system-ui,"Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:0;background:#10151c;color:#e8eef5}
main{max-width:1200px;margin:0 auto;padding:24px}
h1{font-size:22px;font-weight:600;margin:0 0 16px}
.tiles{display:grid;grid-template-columns:repeat(auto-fit,minmax(200px,1fr));gap:16px}
.tile{background:#1b2330;border-radius:10px;padding:16px}
.tile .label{font-size:15px;color:#9fb0c4}.tile .value{font-size:44px;font-weight:700;margin-top:6px}
.tile.warn .value{color:#ffb020}.tile.bad .value{color:#ff5a5a}
.status{margin-top:12px;color:#9fb0c4;font-size:13px}.stale{color:#ffb020}
table{width:100%;border-collapse:collapse;margin-top:20px;font-size:14px}
td,th{padding:4px 8px;border-bottom:1px solid #263041;text-align:left}
form{max-width:320px;margin:80px auto;background:#1b2330;padding:24px;border-radius:10px}
label{display:block;margin:10px 0 4px}input{width:100%;padding:8px;box-sizing:border-box}
button{margin-top:16px;padding:8px 16px}.error{color:#ff5a5a;min-height:1.2em;margin-top:8px}
"""

_WALL_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Floor wall 大屏</title>
<meta name="viewport" content="width=device-width,initial-scale=1">
<link rel="stylesheet" href="/static/wfm.css"></head>
<body><main>
<h1>Floor wall 大屏</h1>
<div class="tiles">
 <div class="tile" id="t-idle"><div class="label">Idle agents 话务空闲数</div><div class="value" id="idle">–</div></div>
 <div class="tile"><div class="label">Short break 小休</div><div class="value" id="short">–</div></div>
 <div class="tile"><div class="label">Meal 用餐</div><div class="value" id="meal">–</div></div>
 <div class="tile"><div class="label">Occupancy 占用率</div><div class="value" id="occ">–</div></div>
 <div class="tile" id="t-sl"><div class="label">Service level 服务水平</div><div class="value" id="sl">–</div></div>
 <div class="tile"><div class="label">Calls waiting 排队</div><div class="value" id="waiting">–</div></div>
</div>
<div class="status" id="status">connecting…</div>
<table><thead><tr><th>Agent</th><th>State</th><th>Minutes</th></tr></thead><tbody id="agents"></tbody></table>
</main><script src="/static/wall.js"></script></body></html>
"""

_WALL_JS = """
(function(){
  var token = new URLSearchParams(location.search).get('token');
  function pct(v){ return v === null || v === undefined ? '–' : Math.round(v*100) + '%'; }
  function set(id, v){ document.getElementById(id).textContent = v; }
  function render(f){
    set('idle', f.idle_agents); set('short', f.agents_on_short_break); set('meal', f.agents_at_meal);
    set('occ', pct(f.occupancy)); set('sl', pct(f.service_level_today)); set('waiting', f.calls_waiting);
    document.getElementById('t-idle').className = 'tile' + (f.short_break_blocked ? ' bad' : '');
    var below = f.service_level_today !== null && f.service_level_today < f.service_level_target;
    document.getElementById('t-sl').className = 'tile' + (below ? ' warn' : '');
    var stale = (f.feeds || []).filter(function(x){ return x.stale || !x.connected; });
    var st = document.getElementById('status');
    st.textContent = 'updated ' + f.ts + (stale.length ? ' — feed stale: ' + stale.map(function(x){return x.source;}).join(', ') : '');
    st.className = 'status' + (stale.length ? ' stale' : '');
    var body = document.getElementById('agents'); body.textContent = '';
    (f.agents || []).forEach(function(a){
      var tr = document.createElement('tr');
      [a.agent, a.state, Math.floor(a.seconds_in_state/60)].forEach(function(v){
        var td = document.createElement('td'); td.textContent = v; tr.appendChild(td); });
      body.appendChild(tr);
    });
  }
  function connect(){
    var url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws/wall' + (token ? '?token=' + encodeURIComponent(token) : '');
    var ws = new WebSocket(url);
    ws.onmessage = function(m){ var d = JSON.parse(m.data); if (d.type === 'floor') render(d.data); };
    ws.onclose = function(){ set('status', 'disconnected — retrying'); setTimeout(connect, 2000); };
  }
  connect();
})();
"""

_LOGIN_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Log in 登录</title>
<meta name="viewport" content="width=device-width,initial-scale=1">
<link rel="stylesheet" href="/static/wfm.css"></head>
<body><form id="login">
<h1>Log in 登录</h1>
<label for="username">User 用户名</label><input id="username" name="username" autocomplete="username" required>
<label for="password">Password 密码</label><input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Log in</button><div class="error" id="error"></div>
</form><script src="/static/login.js"></script></body></html>
"""

_LOGIN_JS = """
(function(){
  function safeNext(){
    var n = new URLSearchParams(location.search).get('next') || '';
    return (n.charAt(0) === '/' && n.charAt(1) !== '/' && n.indexOf('\\\\') < 0) ? n : null;
  }
  document.getElementById('login').addEventListener('submit', function(e){
    e.preventDefault();
    var body = JSON.stringify({username: document.getElementById('username').value,
                               password: document.getElementById('password').value});
    fetch('/api/login', {method: 'POST', headers: {'Content-Type': 'application/json'}, body: body,
                         credentials: 'same-origin'})
      .then(function(r){ return r.json().then(function(d){ return [r.status, d]; }); })
      .then(function(res){
        if (res[0] !== 200) { document.getElementById('error').textContent = res[1].error; return; }
        sessionStorage.setItem('wfm_csrf', res[1].csrf_token);
        var fallback = res[1].role === 'agent' ? '/me' : '/supervisor';
        location.href = safeNext() || fallback;
      })
      .catch(function(){ document.getElementById('error').textContent = 'network error'; });
  });
})();
"""


def _text(body: str, content_type: str) -> web.Response:
    return web.Response(text=body, content_type=content_type, charset="utf-8",
                        headers={"Cache-Control": "no-cache"})


@requires(Access.KIOSK)
async def wall_page(request: web.Request) -> web.Response:
    """The minimal live wall board (话务空闲数, 小休, 用餐, Occupancy, Service level)."""
    return _text(_WALL_HTML, "text/html")


@requires(Access.PUBLIC)
async def login_page(request: web.Request) -> web.Response:
    """The login form."""
    return _text(_LOGIN_HTML, "text/html")


@requires(Access.PUBLIC)
async def static_asset(request: web.Request) -> web.Response:
    """The pages' script and style files."""
    name = request.match_info["name"]
    asset = _ASSETS.get(name)
    if asset is None:
        raise web.HTTPNotFound()
    return _text(*asset)


@requires(Access.PUBLIC)
async def root(request: web.Request) -> web.Response:
    """The wall board is the front page."""
    raise web.HTTPFound("/wall")


@requires(Access.PUBLIC)
async def favicon(request: web.Request) -> web.Response:
    """Browsers ask for /favicon.ico: Dash's icon when the dashboard is there, else nothing."""
    if request.app.router.get("dash_favicon") is not None:
        raise web.HTTPFound("/_favicon.ico")
    return web.Response(status=204)


_ASSETS = {
    "wfm.css": (_CSS, "text/css"),
    "wall.js": (_WALL_JS, "application/javascript"),
    "login.js": (_LOGIN_JS, "application/javascript"),
}
