// The add-in's sign-in dialog (opened by the task pane with Office.context.ui.displayDialogAsync): the
// normal password sign-in (POST /api/v1/session, audited as every sign-in), then a bearer token for the
// pane (POST /api/v1/outlook/token, audited as token.issue), handed over with messageParent.
"use strict";
(function () {
  var csrf = null;
  var $ = function (id) { return document.getElementById(id); };

  function json(method, path, body) {
    var headers = { "Accept": "application/json", "Content-Type": "application/json" };
    if (csrf) { headers["X-CSRF-Token"] = csrf; }
    return fetch(path, { method: method, headers: headers, credentials: "same-origin",
      body: body ? JSON.stringify(body) : undefined }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (b) { b._status = r.status; return b; });
    });
  }

  function signedIn(who) {
    $("signin-form").hidden = true;
    $("who").textContent = who;
    $("connect").hidden = false;
    $("status").textContent = "";
  }

  function connect() {
    json("POST", "/api/v1/outlook/token").then(function (b) {
      if (!b.token) { $("status").textContent = b.detail || "No token was issued."; return; }
      Office.context.ui.messageParent(JSON.stringify({ token: b.token, expires_in: b.expires_in }));
      $("status").textContent = "Signed in. You can close this window.";
    });
  }

  function submit(ev) {
    ev.preventDefault();
    json("POST", "/api/v1/session", { username: $("username").value, password: $("password").value,
      totp: $("totp").value }).then(function (b) {
      if (!b.signed_in) { $("status").textContent = b.detail || "Sign-in failed."; return; }
      csrf = b.csrf_token;
      signedIn(b.username);
      connect();
    });
  }

  function start() {
    $("signin-form").addEventListener("submit", submit);
    $("connect-button").addEventListener("click", connect);
    json("GET", "/api/v1/session").then(function (b) {
      csrf = b.csrf_token;
      if (b.signed_in) { signedIn(b.username); } else { $("signin-form").hidden = false; }
    });
  }

  Office.onReady(start);
}());
