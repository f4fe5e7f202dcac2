"""app_voicemail's message information file (``msgNNNN.txt``) and its date formats.

Layout, key order and date format as in ``asterisk-captures/msg0000.txt`` (Asterisk 22 dropped
``macrocontext``). Dates are written in UTC, as on the lab host.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December")


def _parts(ts: float) -> tuple[time.struct_time, str]:
    tm = time.gmtime(ts)
    hour12 = tm.tm_hour % 12 or 12
    ampm = "AM" if tm.tm_hour < 12 else "PM"
    return tm, f"{hour12:02d}:{tm.tm_min:02d}:{tm.tm_sec:02d} {ampm}"


def origdate(ts: float) -> str:
    """``%a %b %d %r %Z %Y``: ``Sun Nov 29 06:55:45 PM UTC 2026``."""
    tm, clock = _parts(ts)
    return (f"{_DAYS[tm.tm_wday][:3]} {_MONTHS[tm.tm_mon - 1][:3]} {tm.tm_mday:02d} {clock} UTC "
            f"{tm.tm_year}")


def email_date(ts: float) -> str:
    """voicemail.conf ``emaildateformat`` default ``%A, %B %d, %Y at %r``."""
    tm, clock = _parts(ts)
    return f"{_DAYS[tm.tm_wday]}, {_MONTHS[tm.tm_mon - 1]} {tm.tm_mday:02d}, {tm.tm_year} at {clock}"


@dataclass(frozen=True)
class MessageInfo:
    origmailbox: str
    context: str
    exten: str
    priority: int
    callerchan: str
    callerid: str
    origtime: int
    msg_id: str
    flag: str
    duration: int
    rdnis: str = "unknown"
    category: str = ""

    def render(self) -> str:
        return (
            ";\n; Message Information file\n;\n[message]\n"
            f"origmailbox={self.origmailbox}\n"
            f"context={self.context}\n"
            f"exten={self.exten}\n"
            f"rdnis={self.rdnis}\n"
            f"priority={self.priority}\n"
            f"callerchan={self.callerchan}\n"
            f"callerid={self.callerid}\n"
            f"origdate={origdate(self.origtime)}\n"
            f"origtime={self.origtime}\n"
            f"category={self.category}\n"
            f"msg_id={self.msg_id}\n"
            f"flag={self.flag}\n"
            f"duration={self.duration}\n"
        )


def parse_config(text: str) -> dict[str, dict[str, str]] | None:
    """A tolerant reading of an Asterisk config file (as ``ast_config_load`` sees a message file):
    ``[category]`` lines, ``key=value`` / ``key => value`` lines, ``;`` comments. None if unusable."""
    out: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for raw in text.splitlines():
        line = raw
        cut = _comment_start(line)
        if cut >= 0:
            line = line[:cut]
        line = line.replace("\\;", ";").strip()
        if not line:
            continue
        if line.startswith("["):
            end = line.find("]")
            if end < 0:
                return None
            current = out.setdefault(line[1:end], {})
            continue
        key, sep, value = line.partition("=")
        if not sep or current is None:
            continue
        key = key.strip()
        value = value.lstrip(">").strip()
        current.setdefault(key, value)
    return out


def _comment_start(line: str) -> int:
    i = 0
    while True:
        i = line.find(";", i)
        if i < 0:
            return -1
        if i > 0 and line[i - 1] == "\\":
            i += 1
            continue
        return i


def read_message(path_text: str | None) -> dict[str, str] | None:
    """The ``[message]`` section of a message file's text, or None if missing / unparsable."""
    if path_text is None:
        return None
    parsed = parse_config(path_text)
    if parsed is None:
        return None
    return parsed.get("message", {})
