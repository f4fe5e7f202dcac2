"""Microsoft's Office.js test double (office-addin-mock, tests/browser/node_modules) as a browser script.

The task pane loads Office.js from Microsoft's CDN; the tests answer that URL with this script instead:
office-addin-mock's CommonJS files (and the OfficeApp list of office-addin-manifest it imports) wrapped in
a minimal module loader, then ``window.Office = new OfficeMockObject(data)`` with a mailbox item built from
``window.__vmOffice`` (set by the test before the page loads: headers, body, SSO token). The dialog API
opens a real window; ``messageParent`` in that window reaches the pane's handler.
"""

from __future__ import annotations

import json
from pathlib import Path

MOCK = Path(__file__).resolve().parent / "node_modules" / "office-addin-mock" / "lib"
MANIFEST = Path(__file__).resolve().parent / "node_modules" / "office-addin-manifest" / "lib"
OFFICE_JS_URL = "https://appsforoffice.microsoft.com/**"

_MODULES = {
    "./main": MOCK / "main.js",
    "./officeMockObject": MOCK / "officeMockObject.js",
    "./host": MOCK / "host.js",
    "./possibleErrors": MOCK / "possibleErrors.js",
    "office-addin-manifest": MANIFEST / "officeApp.js",
}

_SETUP = r"""
var OfficeMockObject = require("./main").OfficeMockObject;
var cfg = window.__vmOffice || {};
var roaming = {};
window.__vmRoaming = roaming;
var handlers = {};
window.__vmDialogMessage = function (m) { (handlers.dialogMessageReceived || function () {})({ message: m }); };
window.Office = new OfficeMockObject({
  host: "outlook",
  EventType: { DialogMessageReceived: "dialogMessageReceived" },
  AsyncResultStatus: { Succeeded: "succeeded", Failed: "failed" },
  onReady: function (cb) {
    var info = { host: "Outlook", platform: "OfficeOnline" };
    if (cb) { setTimeout(function () { cb(info); }, 0); }
    return Promise.resolve(info);
  },
  auth: {
    getAccessToken: function () {
      return cfg.ssoToken ? Promise.resolve(cfg.ssoToken)
        : Promise.reject({ code: 13012, message: "SSO is not supported in this client" });
    }
  },
  context: {
    roamingSettings: {
      get: function (k) { return roaming[k]; },
      set: function (k, v) { roaming[k] = v; },
      saveAsync: function (cb) { if (cb) { cb({ status: "succeeded" }); } }
    },
    mailbox: {
      item: {
        itemType: "message",
        internetHeaders: {
          getAsync: function (names, cb) {
            var v = {};
            names.forEach(function (n) { if ((cfg.headers || {})[n] !== undefined) { v[n] = cfg.headers[n]; } });
            cb({ status: "succeeded", value: v });
          }
        },
        body: {
          getAsync: function (type, opts, cb) {
            cb = typeof opts === "function" ? opts : cb;
            cb({ status: "succeeded", value: cfg.body || "" });
          }
        }
      }
    },
    ui: {
      displayDialogAsync: function (url, opts, cb) {
        var w = window.open(url, "vm-dialog", "width=420,height=640");
        cb({ status: "succeeded", value: {
          addEventHandler: function (t, h) { handlers[t] = h; },
          close: function () { w.close(); }
        } });
      },
      messageParent: function (m) { window.opener.__vmDialogMessage(m); }
    }
  }
});
"""


def office_js() -> str:
    """The script served in place of Office.js."""
    parts = ["(function () {", "var defs = {}, cache = {};"]
    for name, path in _MODULES.items():
        parts.append(f"defs[{json.dumps(name)}] = function (module, exports, require) {{\n"
                     f"{path.read_text(encoding='utf-8')}\n}};")
    parts.append("function require(name) { if (!cache[name]) { var m = { exports: {} }; cache[name] = m;"
                 " defs[name].call(m.exports, m, m.exports, require); } return cache[name].exports; }")
    parts.append(_SETUP)
    parts.append("}());")
    return "\n".join(parts)


def office_config(*, headers: dict[str, str] | None = None, body: str = "", sso_token: str = "") -> str:
    """An init script giving the double its mailbox item (and an SSO token, none = SSO unavailable)."""
    cfg = {"headers": headers or {}, "body": body, "ssoToken": sso_token or None}
    return f"window.__vmOffice = {json.dumps(cfg)};"
