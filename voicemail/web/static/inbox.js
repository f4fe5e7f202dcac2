// An open inbox keeps one request open asking whether new messages arrived
// (GET /api/v1/me/new-messages?after=<newest shown>&wait=<data-poll-seconds>): the server answers as soon
// as something changed in the owner's mailboxes, or when the wait is over, and the page asks again at once
// (after an error, 5 s later). When a message newer than the page's newest arrived, it says so (a polite live region, with a link that shows
// them) and updates the count in the title and the navigation. The list itself is not rearranged under
// the reader's eyes. Stops when the session has ended.
(function () {
  "use strict";
  var box = document.getElementById("new-messages");
  if (!box || !window.fetch) { return; }
  var seconds = parseInt(box.getAttribute("data-poll-seconds") || "0", 10);
  var newest = parseInt(box.getAttribute("data-newest") || "0", 10);
  if (!(seconds > 0)) { return; }

  function showCount(count) {
    var base = document.title.replace(/^\(\d+ new\) /, "");
    document.title = (count > 0 ? "(" + count + " new) " : "") + base;
    var link = document.querySelector("[data-testid=nav-inbox]");
    if (!link) { return; }
    var badge = link.querySelector(".count");
    if (count > 0 && !badge) {
      badge = document.createElement("span");
      badge.className = "count";
      link.appendChild(document.createTextNode(" "));
      link.appendChild(badge);
    }
    if (badge) {
      if (count > 0) { badge.textContent = count + " new"; } else { badge.remove(); }
    }
  }

  function announce() {
    box.textContent = "";
    var text = document.createElement("span");
    text.textContent = "New messages arrived. ";
    var show = document.createElement("a");
    show.href = window.location.pathname + window.location.search;
    show.textContent = "Show them";
    show.setAttribute("data-testid", "show-new");
    box.className = "notice";
    box.appendChild(text);
    box.appendChild(show);
  }

  function check() {
    var url = "/api/v1/me/new-messages?after=" + newest + "&wait=" + seconds;
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (response.status === 401 || response.status === 403) { return "stop"; }
        return response.ok ? response.json() : null;
      })
      .then(function (data) {
        if (data === "stop") { return; }
        if (!data) { window.setTimeout(check, 5000); return; }
        showCount(data["new"] || 0);
        if (data.newest && data.newest > newest) {
          newest = data.newest;
          announce();
        }
        window.setTimeout(check, 100);
      })
      .catch(function () { window.setTimeout(check, 5000); });
  }

  check();
}());
