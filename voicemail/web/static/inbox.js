// An open inbox asks every data-poll-seconds whether new messages arrived (GET /api/v1/me/new-messages);
// when one newer than the page's newest did, it says so (a polite live region, with a link that shows
// them) and updates the count in the title and the navigation. The list itself is not rearranged under
// the reader's eyes. Stops when the session has ended.
(function () {
  "use strict";
  var box = document.getElementById("new-messages");
  if (!box || !window.fetch) { return; }
  var seconds = parseInt(box.getAttribute("data-poll-seconds") || "0", 10);
  var newest = parseInt(box.getAttribute("data-newest") || "0", 10);
  if (!(seconds > 0)) { return; }
  var timer = null;

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
    fetch("/api/v1/me/new-messages", { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (response.status === 401 || response.status === 403) { window.clearInterval(timer); return null; }
        return response.ok ? response.json() : null;
      })
      .then(function (data) {
        if (!data) { return; }
        showCount(data["new"] || 0);
        if (data.newest && data.newest > newest) {
          newest = data.newest;
          announce();
        }
      })
      .catch(function () { /* the next check tries again */ });
  }

  timer = window.setInterval(check, seconds * 1000);
}());
