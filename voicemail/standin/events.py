"""Builders for the manager events of a call, with the header order of the Asterisk 22 captures."""

from __future__ import annotations

import json
import time as _time
from urllib.parse import quote

from voicemail.standin.channel import Channel, Party
from voicemail.standin.config import SYSTEM_NAME
from voicemail.standin.wire import Event, Headers, make_event

CAUSE_TEXT = {0: "Unknown", 16: "Normal Clearing", 17: "User busy", 19: "User alerting, no answer",
              21: "Call Rejected", 34: "Circuit/channel congestion"}


def _ev(name: str, category: str, body: Headers) -> Event:
    return make_event(name, category, body, SYSTEM_NAME)


def cel_time(ts: float) -> str:
    return _time.strftime("%Y-%m-%d %H:%M:%S", _time.gmtime(ts))


def event_tv(ts: float) -> str:
    """``EventTV``/``SessionTV`` of security events: ``2026-11-29T18:55:38.007+0000``."""
    return _time.strftime("%Y-%m-%dT%H:%M:%S", _time.gmtime(ts)) + f".{int(ts * 1000) % 1000:03d}+0000"


def uri_encode(text: str) -> str:
    """``ast_uri_encode`` with ``ast_uri_http``: everything but RFC 2396 unreserved characters."""
    return quote(text, safe="-_.!~*'()")


# --- channel events ------------------------------------------------------------------------------

def newchannel(ch: Channel) -> Event:
    return _ev("Newchannel", "call", ch.snapshot())


def newexten(ch: Channel, app: str, data: str) -> Event:
    return _ev("Newexten", "dialplan", [*ch.snapshot(), ("Extension", ch.exten), ("Application", app),
                                       ("AppData", data)])


def newcallerid(ch: Channel) -> Event:
    return _ev("NewCallerid", "call", [*ch.snapshot(), ("CID-CallingPres", "0 (Presentation Allowed, Not Screened)")])


def newconnectedline(ch: Channel) -> Event:
    return _ev("NewConnectedLine", "call", ch.snapshot())


def newstate(ch: Channel) -> Event:
    return _ev("Newstate", "call", ch.snapshot())


def local_bridge(one: Channel, two: Channel, context: str, exten: str, optimize: bool) -> Event:
    return _ev("LocalBridge", "call", [*one.snapshot("LocalOne"), *two.snapshot("LocalTwo"), ("Context", context),
                                      ("Exten", exten), ("LocalOptimization", "Yes" if optimize else "No")])


def dial_begin(dest: Channel, dialstring: str) -> Event:
    return _ev("DialBegin", "call", [*dest.snapshot("Dest"), ("DialString", dialstring)])


def dial_end(dest: Channel, status: str = "ANSWER") -> Event:
    return _ev("DialEnd", "call", [*dest.snapshot("Dest"), ("DialStatus", status)])


def dial_state(dest: Channel, status: str) -> Event:
    return _ev("DialState", "call", [*dest.snapshot("Dest"), ("DialStatus", status)])


def dtmf_begin(ch: Channel, digit: str) -> Event:
    return _ev("DTMFBegin", "dtmf", [*ch.snapshot(), ("Digit", digit), ("Direction", "Received")])


def dtmf_end(ch: Channel, digit: str, duration_ms: int) -> Event:
    return _ev("DTMFEnd", "dtmf", [*ch.snapshot(), ("Digit", digit), ("DurationMs", str(duration_ms)),
                                  ("Direction", "Received")])


def cel_dtmf_extra(digit: str, duration_ms: int) -> str:
    return json.dumps({"digit": digit, "duration_ms": duration_ms}, separators=(",", ":"))


def varset(ch: Channel | None, variable: str, value: str) -> Event:
    """VarSet; ``ch`` None is app_voicemail's dummy channel (``Channel: none``). Quotes in the value
    come out backslash-escaped (capture q1: ``Value: \\"Alice Internal\\" <1001>``)."""
    shown = value.replace("\\", "\\\\").replace('"', '\\"')
    where: Headers = ch.snapshot() if ch is not None else [("Channel", "none"), ("Uniqueid", "none")]
    return _ev("VarSet", "dialplan", [*where, ("Variable", variable), ("Value", shown)])


def soft_hangup_request(ch: Channel, cause: int) -> Event:
    return _ev("SoftHangupRequest", "call", [*ch.snapshot(), ("Cause", str(cause))])


def hangup_request(ch: Channel, cause: int) -> Event:
    return _ev("HangupRequest", "call", [*ch.snapshot(), ("Cause", str(cause))])


def hangup(ch: Channel, cause: int) -> Event:
    return _ev("Hangup", "call", [*ch.snapshot(), ("Cause", str(cause)),
                                 ("Cause-txt", CAUSE_TEXT.get(cause, "Unknown"))])


def device_state(device: str, state: str) -> Event:
    return _ev("DeviceStateChange", "call", [("Device", device), ("State", state)])


def cel(ch: Channel, name: str, ts: float, *, app: tuple[str, str] | None = None, extra: str = "",
        ani: bool = True, caller: Party | None = None) -> Event:
    """A CEL event. ``app`` defaults to what the channel runs now; ``caller`` to its caller id."""
    appl, data = app if app is not None else (ch.app, ch.appdata)
    who = caller if caller is not None else ch.caller
    return _ev("CEL", "call", [
        ("EventName", name), ("AccountCode", ""), ("CallerIDnum", who.num or ""),
        ("CallerIDname", who.name or ""), ("CallerIDani", ch.ani if ani else ""), ("CallerIDrdnis", ""),
        ("CallerIDdnid", ""), ("Exten", ch.exten), ("Context", ch.context), ("Channel", ch.name),
        ("Application", appl), ("AppData", data), ("EventTime", cel_time(ts)), ("AMAFlags", "DOCUMENTATION"),
        ("UniqueID", ch.uniqueid), ("LinkedID", ch.linkedid), ("Userfield", ""), ("Peer", ""),
        ("PeerAccount", ""), ("Extra", extra),
    ])


def cel_stream_extra(sound: str) -> str:
    return json.dumps({"sound": sound, "format": "slin", "language": "en"}, separators=(",", ":"))


def cel_hangup_extra(cause: int, source: str) -> str:
    return json.dumps({"hangupcause": cause, "hangupsource": source, "dialstatus": ""}, separators=(",", ":"))


def cdr(ch: Channel, end: float, disposition: str = "ANSWERED") -> Event:
    """A CDR; a call that was never answered has an empty AnswerTime and 0 billable seconds."""
    start = ch.created
    answer = ch.answered if ch.answered is not None else start
    duration = int(max(0.0, end - start))
    billsec = int(max(0.0, end - answer))
    answer_time = cel_time(answer)
    if disposition != "ANSWERED":
        answer_time, billsec = "", 0
    caller_id = f'"{ch.caller.name or ""}" <{ch.caller.num or ""}>'
    lastapp, lastdata = ch.cdr_app
    return _ev("Cdr", "cdr", [
        ("AccountCode", ""), ("Source", ch.caller.num or ""), ("Destination", ch.exten),
        ("DestinationContext", ch.context), ("CallerID", caller_id), ("Channel", ch.name),
        ("DestinationChannel", ""), ("LastApplication", lastapp), ("LastData", lastdata),
        ("StartTime", cel_time(start)), ("AnswerTime", answer_time), ("EndTime", cel_time(end)),
        ("Duration", str(duration)), ("BillableSeconds", str(billsec)), ("Disposition", disposition),
        ("AMAFlags", "DOCUMENTATION"), ("UniqueID", ch.uniqueid), ("UserField", ""),
    ])


def originate_response(action_id: str | None, ok: bool, channel: str, target: list[tuple[str, str]],
                       reason: int, uniqueid: str, caller: Party) -> Event:
    body: Headers = [("ActionID", action_id)] if action_id else []
    body += [("Response", "Success" if ok else "Failure"), ("Channel", channel), *target,
             ("Reason", str(reason)), ("Uniqueid", uniqueid), ("CallerIDNum", caller.num or "<unknown>"),
             ("CallerIDName", caller.name or "<unknown>")]
    return _ev("OriginateResponse", "call", body)


def message_waiting(ch: Channel | None, mailbox: str, new: int, old: int) -> Event:
    where: Headers = ch.snapshot() if ch is not None else []
    return _ev("MessageWaiting", "call", [*where, ("Mailbox", mailbox), ("Waiting", "1" if new > 0 else "0"),
                                         ("New", str(new)), ("Old", str(old))])


# --- Async AGI -----------------------------------------------------------------------------------

def async_agi_start(ch: Channel, env: str) -> Event:
    return _ev("AsyncAGIStart", "agi", [*ch.snapshot(), ("Env", uri_encode(env))])


def agi_exec_start(ch: Channel, command_id: str, command: str) -> Event:
    return _ev("AGIExecStart", "agi", [*ch.snapshot(), ("CommandId", command_id), ("Command", command)])


def agi_exec_end(ch: Channel, command_id: str, command: str, code: int, result: str) -> Event:
    return _ev("AGIExecEnd", "agi", [*ch.snapshot(), ("CommandId", command_id), ("Command", command),
                                    ("ResultCode", str(code)), ("Result", result)])


def async_agi_exec(ch: Channel, result: str, command_id: str) -> Event:
    return _ev("AsyncAGIExec", "agi", [*ch.snapshot(), ("Result", uri_encode(result)), ("CommandId", command_id)])


def async_agi_end(ch: Channel) -> Event:
    return _ev("AsyncAGIEnd", "agi", ch.snapshot())


# --- system / security ---------------------------------------------------------------------------

def fully_booted(uptime: int) -> Event:
    return make_event("FullyBooted", "system", [("Uptime", str(uptime)), ("LastReload", str(uptime)),
                                                ("Status", "Fully Booted")], None)


def security(name: str, severity: str, ts: float, body: Headers) -> Event:
    return _ev(name, "security", [("EventTV", event_tv(ts)), ("Severity", severity), ("Service", "AMI"),
                                  ("EventVersion", "1"), *body])
