// The ViewMail task pane. Runs inside Outlook (an iframe on Outlook's page): it authenticates every REST
// call with a short-lived bearer token held in memory only (Office SSO, else the sign-in dialog), finds
// the message from the e-mail's X-Voicemail-Id header (or the player link in its body), and calls the
// same /api/v1 endpoints as the web inbox. The only thing kept in roaming settings is the playback speed.
"use strict";
(function () {
  var ID_HEADER = "X-Voicemail-Id";
  var UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";
  var token = null;
  var message = null;
  var audioUrl = null;
  var deleteArmed = false;
  var me = null;  // GET /api/v1/me: the signed-in person's roles and mailboxes
  var sites = [];  // GET /api/v1/session: the configured sites (the pane names a site only with several)
  var $ = function (id) { return document.getElementById(id); };

  function status(text, isError) {
    $("status").textContent = text;
    $("status").className = isError ? "error" : "";
  }

  function api(method, path, body) {
    var headers = { "Accept": "application/json" };
    if (token) { headers["Authorization"] = "Bearer " + token; }
    var init = { method: method, headers: headers, credentials: "omit" };
    if (body !== undefined) { headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
    return fetch(path, init).then(function (r) {
      if (r.status === 401) { token = null; showSignin(); throw new Error("Your sign-in has ended. Sign in again."); }
      if (!r.ok) {
        return r.json().catch(function () { return {}; }).then(function (b) {
          throw new Error(b.detail || ("The server answered " + r.status + "."));
        });
      }
      return r;
    });
  }

  function callerText(m) {
    if (m.caller_kind === "internal") {
      var t = m.caller_name && m.caller_number ? m.caller_name + " (" + m.caller_number + ")"
        : (m.caller_name || m.caller_number || "Unknown internal caller");
      return [t, "Internal · verified by the directory"];
    }
    if (m.caller_kind === "anonymous") { return ["Anonymous caller", "Outside · number withheld"]; }
    var said = m.caller_name && m.caller_number ? "“" + m.caller_name + "” (" + m.caller_number + ")"
      : (m.caller_name ? "“" + m.caller_name + "”" : (m.caller_number || ""));
    return [said ? "Caller says " + said : "Outside caller", "Outside · not verified"];
  }

  function render(m) {
    message = m;
    var c = callerText(m);
    $("caller").textContent = c[0];
    $("badge").textContent = c[1];
    $("received").textContent = new Date(m.received_at * 1000).toLocaleString();
    $("length").textContent = m.duration + " seconds";
    var read = m.folder !== "INBOX";
    $("state").textContent = read ? "Read" : "New (unread)";
    $("mark").textContent = read ? "Mark as unread" : "Mark as read";
    $("open").href = "/messages/" + encodeURIComponent(m.id);
    // several sites: the message's site, as the web inbox's message page shows it
    $("site").textContent = m.mailbox.site;
    $("site").hidden = $("site-label").hidden = sites.length < 2;
    // only the mailbox's owner may play or act (the server refuses anyone else too): others see the facts.
    // /api/v1/me names a mailbox of another site than the default one with its site, as "qualified" does.
    var owner = me && me.roles.indexOf("owner") >= 0 && me.mailboxes.indexOf(m.mailbox.qualified) >= 0;
    $("player").hidden = !owner;
    $("actions").hidden = !owner;
    $("fwd").hidden = !owner;
    $("signin").hidden = true;
    $("message").hidden = false;
  }

  function loadAudio() {
    if (audioUrl || !message) { return Promise.resolve(); }
    return api("GET", "/api/v1/messages/" + message.id + "/audio").then(function (r) { return r.blob(); })
      .then(function (blob) {
        audioUrl = URL.createObjectURL(blob);
        $("audio").src = audioUrl;
        $("audio").playbackRate = Number($("speed").value);
      });
  }

  function seek(delta) {
    var a = $("audio");
    loadAudio().then(function () {
      var end = isFinite(a.duration) ? a.duration : message.duration;
      a.currentTime = Math.max(0, Math.min(end, a.currentTime + delta));
    }).catch(function (e) { status(e.message, true); });
  }

  function mark() {
    var read = message.folder !== "INBOX";
    api("POST", "/api/v1/messages/" + message.id + (read ? "/unread" : "/read"))
      .then(function (r) { return r.json(); })
      .then(function (m) { render(m); status(read ? "Marked as unread." : "Marked as read."); })
      .catch(function (e) { status(e.message, true); });
  }

  function del() {
    if (!deleteArmed) {
      deleteArmed = true;
      $("delete").textContent = "Delete: press again to confirm";
      status("Press Delete again to delete this voicemail for good.");
      return;
    }
    api("DELETE", "/api/v1/messages/" + message.id).then(function () {
      $("message").hidden = true;
      status("The voicemail was deleted.");
    }).catch(function (e) { status(e.message, true); });
  }

  function playOnPhone() {
    api("POST", "/api/v1/messages/" + message.id + "/play-on-phone").then(function (r) { return r.json(); })
      .then(function (call) { $("call-status").textContent = call.message; })
      .catch(function (e) { status(e.message, true); });
  }

  function forwardMessage(event) {
    event.preventDefault();
    var to = $("fwd-to").value.trim();
    api("POST", "/api/v1/messages/" + message.id + "/forward", { to: to, comment: $("fwd-comment").value })
      .then(function (r) { return r.json(); })
      .then(function (done) {
        $("fwd-form").reset();
        $("fwd").open = false;
        // a message is forwarded within its own site: with several, the status names it
        var where = sites.length > 1 ? " on site " + message.mailbox.site : "";
        status("Forwarded to mailbox " + done.to.split("@")[0] + where + ".");
      })
      .catch(function (e) { status(e.message, true); $("fwd-to").focus(); });
  }

  function savedSpeed() {
    var rs = Office.context.roamingSettings;
    var v = rs && rs.get ? rs.get("playbackSpeed") : null;
    return v ? String(v) : null;
  }

  function setSpeed() {
    var v = $("speed").value;
    $("audio").playbackRate = Number(v);
    var rs = Office.context.roamingSettings;
    if (rs && rs.set) {
      rs.set("playbackSpeed", v);  // a preference: the only thing kept in roaming settings
      if (rs.saveAsync) { rs.saveAsync(function () {}); }
    }
  }

  function messageRef() {
    var item = Office.context.mailbox.item;
    return new Promise(function (resolve) {
      var fromBody = function () {
        if (!item.body || !item.body.getAsync) { resolve(null); return; }
        item.body.getAsync("text", function (res) {
          var found = res && res.value ? new RegExp("/messages/(" + UUID + ")").exec(res.value) : null;
          resolve(found ? { kind: "message", id: found[1] } : null);
        });
      };
      if (item.internetHeaders && item.internetHeaders.getAsync) {
        item.internetHeaders.getAsync([ID_HEADER], function (res) {
          var v = res && res.value ? (res.value[ID_HEADER] || res.value[ID_HEADER.toLowerCase()]) : null;
          if (v && new RegExp("^" + UUID + "$").test(String(v).trim().toLowerCase())) {
            resolve({ kind: "notification", id: String(v).trim().toLowerCase() });
          } else { fromBody(); }
        });
      } else { fromBody(); }
    });
  }

  function loadMessage() {
    return messageRef().then(function (ref) {
      if (!ref) { status("This e-mail is not a voicemail notification from this site."); return null; }
      var path = ref.kind === "notification" ? "/api/v1/notifications/" + ref.id + "/message"
        : "/api/v1/messages/" + ref.id;
      return api("GET", "/api/v1/session").then(function (r) { return r.json(); }).then(function (s) {
        $("phone").hidden = !s.plays_on_phones;
        sites = s.sites || [];
        return api("GET", "/api/v1/me");
      }).then(function (r) { return r.json(); }).then(function (who) {
        me = who;
        return api("GET", path);
      }).then(function (r) { return r.json(); }).then(function (m) { render(m); status("Signed in."); });
    }).catch(function (e) { status(e.message, true); });
  }

  function exchangeSso(accessToken) {
    return fetch("/api/v1/outlook/sso", { method: "POST", credentials: "omit",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify({ access_token: accessToken }) }).then(function (r) {
      if (!r.ok) { throw new Error("single sign-on refused"); }
      return r.json();
    }).then(function (b) { token = b.token; });
  }

  function showSignin() {
    $("message").hidden = true;
    $("signin").hidden = false;
    status("Sign in to continue.");
  }

  function dialogSignin() {
    var url = window.location.origin + "/outlook/dialog";
    Office.context.ui.displayDialogAsync(url, { height: 60, width: 30 }, function (res) {
      if (res.status !== "succeeded" && res.status !== Office.AsyncResultStatus.Succeeded) {
        status("The sign-in window could not open. Allow pop-ups for Outlook and try again.", true);
        return;
      }
      var dialog = res.value;
      dialog.addEventHandler(Office.EventType.DialogMessageReceived, function (arg) {
        dialog.close();
        try { token = JSON.parse(arg.message).token; } catch (e) { token = null; }
        if (token) { loadMessage(); } else { status("The sign-in did not finish.", true); }
      });
    });
  }

  function start() {
    $("signin-button").addEventListener("click", dialogSignin);
    $("back").addEventListener("click", function () { seek(-5); });
    $("forward").addEventListener("click", function () { seek(5); });
    $("speed").addEventListener("change", setSpeed);
    $("mark").addEventListener("click", mark);
    $("delete").addEventListener("click", del);
    $("phone").addEventListener("click", playOnPhone);
    $("fwd-form").addEventListener("submit", forwardMessage);
    $("audio").addEventListener("play", function () {
      if (!audioUrl) { $("audio").pause(); loadAudio().then(function () { return $("audio").play(); })
        .catch(function (e) { status(e.message, true); }); }
    });
    var speed = savedSpeed();
    if (speed && $("speed").querySelector("option[value='" + speed + "']")) { $("speed").value = speed; }
    var sso = Office.auth && Office.auth.getAccessToken
      ? Promise.resolve(Office.auth.getAccessToken({ allowSignInPrompt: false })).then(exchangeSso)
      : Promise.reject(new Error("no SSO"));
    sso.then(loadMessage, showSignin);
  }

  Office.onReady(start);
}());
