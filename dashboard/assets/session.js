/* Sign out from any page: POST /api/logout with the session's CSRF token (kept by the
   login page in sessionStorage, else asked from /api/me), then back to the login page. */
(function () {
  function token() {
    var kept = window.sessionStorage && sessionStorage.getItem("wfm_csrf");
    if (kept) { return Promise.resolve(kept); }
    return fetch("/api/me", {credentials: "same-origin"})
      .then(function (r) { return r.ok ? r.json() : {}; })
      .then(function (me) { return me.csrf_token || ""; });
  }
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("#nav-signout");
    if (!link) { return; }
    event.preventDefault();
    token().then(function (csrf) {
      return fetch("/api/logout", {method: "POST", credentials: "same-origin", headers: {"X-CSRF-Token": csrf}});
    }).finally(function () {
      if (window.sessionStorage) { sessionStorage.removeItem("wfm_csrf"); }
      window.location.href = "/login";
    });
  });
})();
