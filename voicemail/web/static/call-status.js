// "Play on my phone": asks the call's status URL every 1.5 s and updates the status line (a polite
// live region) until the outcome is final. Without JavaScript the "Check again" link does the same.
(function () {
  "use strict";
  var el = document.querySelector("[data-call-status]");
  if (!el || el.getAttribute("data-final") === "true") { return; }
  var url = el.getAttribute("data-call-status");
  var check = document.getElementById("call-check");
  var tries = 0;
  function poll() {
    tries += 1;
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (data && data.message && el.textContent !== data.message) { el.textContent = data.message; }
        if (data && data.final) {
          el.setAttribute("data-final", "true");
          if (check) { check.hidden = true; }
        } else if (tries < 400) {
          window.setTimeout(poll, 1500);
        }
      })
      .catch(function () { if (tries < 400) { window.setTimeout(poll, 3000); } });
  }
  window.setTimeout(poll, 1500);
}());
