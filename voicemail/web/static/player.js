// Listening to a message to the end marks it read (as on the phone): POST the page's own
// "Mark as read" action with the session's CSRF token, then show the new status.
(function () {
  "use strict";
  var player = document.getElementById("player");
  if (!player) { return; }
  var done = false;
  player.addEventListener("ended", function () {
    var url = player.getAttribute("data-mark-read");
    if (done || !url) { return; }
    done = true;
    var body = new URLSearchParams();
    body.set("csrf_token", player.getAttribute("data-csrf") || "");
    fetch(url, { method: "POST", body: body, credentials: "same-origin", redirect: "follow" })
      .then(function (response) {
        if (!response.ok) { throw new Error(String(response.status)); }
        var status = document.getElementById("message-status");
        if (status) { status.textContent = "Old"; }
        var live = document.getElementById("player-status");
        if (live) { live.textContent = "Listened to the end: marked as read."; }
        player.setAttribute("data-marked-read", "true");
        var form = document.querySelector("form[action='" + url + "']");
        if (form) {  // the page now offers what it would after a reload: Mark as unread
          form.setAttribute("action", url.replace(/\/read$/, "/unread"));
          var button = form.querySelector("button");
          if (button) { button.textContent = "Mark as unread"; }
        }
        var badge = document.querySelector("[data-testid=nav-inbox] .count");
        var left = badge ? parseInt(badge.textContent, 10) - 1 : 0;
        if (badge) { if (left > 0) { badge.textContent = left + " new"; } else { badge.remove(); } }
        document.title = (left > 0 ? "(" + left + " new) " : "") + document.title.replace(/^\(\d+ new\) /, "");
      })
      .catch(function () {
        done = false;
        var live = document.getElementById("player-status");
        if (live) { live.textContent = "Could not mark the message as read."; }
      });
  });
}());
