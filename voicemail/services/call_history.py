"""The signed-in user's own calls (placed / received / missed) from the stored CDRs (AMI ``Cdr`` events).

Caller ID is never trusted: a CDR's Source and CallerID are whatever the caller presented, and an
outside caller can present an internal number. So a call counts as *placed* by a user only when
Asterisk reports it on a channel of one of their own devices: the CDR's ``Channel`` (e.g.
``PJSIP/1001-0000002a``) without its unique suffix equals a device named by the device template for one
of their numbers (``calls_device_template``, e.g. ``PJSIP/{number}``; SIP endpoints authenticate, so the
device is not the caller's to choose). A call whose ``Destination`` (the extension dialled in our
dialplan) is theirs is *received* when the Disposition is ANSWERED, else *missed*; its other party is the
number the caller presented. A CDR that merely carries their number as Source is not theirs.
Newest first (by Asterisk's StartTime, PBX local time).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, Literal, Protocol

from voicemail.domain.errors import InvalidInput
from voicemail.domain.mailbox import CallHistoryPage, CallRecord
from voicemail.domain.models import MailboxRef
from voicemail.phone.hotdesk_store import DeskSession

_ANGLE = re.compile(r'^\s*"?(?P<name>[^"<]*)"?\s*<(?P<number>[^<>]*)>\s*$')

# (numbers, devices, offset, limit) -> (rows with start_time, source, destination, caller_id, channel, ...; total)
CallQuery = Callable[[Sequence[str], Sequence[str], int, int], tuple[list[dict[str, Any]], int]]


def device_of(channel: str) -> str:
    """``PJSIP/1001-0000002a`` -> ``PJSIP/1001`` (Asterisk appends ``-<sequence>`` to a device's name)."""
    return channel.rsplit("-", 1)[0] if "-" in channel else channel


def devices_for(numbers: Sequence[str], template: str) -> list[str]:
    """The device channel names of a user's numbers (none when the template is empty)."""
    if not template:
        return []
    return sorted({template.format(number=n) for n in numbers if n})


def _name_of(caller_id: str) -> str:
    match = _ANGLE.match(caller_id or "")
    return match.group("name").strip() if match else ""


_NUMBER = re.compile(r"^\+?[0-9*#]+$")
# what a dialplan application did, in words: for a call whose other end is no telephone number but an
# extension name of the dialplan (a test or service extension such as "play" or "s")
_SERVICES = {"voicemail": "Voicemail (leaving a message)", "voicemailmain": "Voicemail (listening)",
             "agi": "Voicemail menu", "playback": "Recorded announcement", "background": "Recorded announcement",
             "meetme": "Conference", "confbridge": "Conference", "queue": "Call queue"}
SERVICE = "Phone system service"


def readable_party(party: str, last_application: str) -> str:
    """A number as the phone system saw it; a dialplan's own extension name (never meant for people) is
    replaced by what the call reached there, in words."""
    party = (party or "").strip()
    if not party or _NUMBER.match(party):
        return party
    return _SERVICES.get(last_application.strip().lower(), SERVICE)


def to_record(row: dict[str, Any], devices: frozenset[str]) -> CallRecord:
    placed = device_of(row.get("channel") or "") in devices
    answered = (row["disposition"] or "").upper() == "ANSWERED"
    direction: Literal["placed", "received", "missed"] = (
        "placed" if placed else ("received" if answered else "missed"))
    other = readable_party(row["destination"] if placed else row["source"], row.get("last_application") or "")
    other_name = "" if placed else _name_of(row["caller_id"])
    return CallRecord(at=row["start_time"], direction=direction, other_party=other or "", other_name=other_name,
                      duration=int(row["duration"] or 0), billable_seconds=int(row["billable_seconds"] or 0),
                      disposition=row["disposition"] or "")


def call_history(query: CallQuery, numbers: Sequence[str], offset: int, limit: int,
                 device_template: str) -> CallHistoryPage:
    if offset < 0 or not 1 <= limit <= 200:
        raise InvalidInput("offset must be >= 0 and limit 1..200")
    mine = sorted({n for n in numbers if n})
    devices = devices_for(mine, device_template)
    rows, total = query(mine, devices, offset, limit)
    return CallHistoryPage(tuple(to_record(r, frozenset(devices)) for r in rows), total, offset, limit)


class DeskSignIns(Protocol):
    """Extension-mobility sign-ins (``voicemail.phone.hotdesk_store.SqlHotdeskStore``)."""

    def history(self, refs: tuple[MailboxRef, ...], limit: int = 50) -> list[DeskSession]: ...


def desk_history(store: DeskSignIns, mailboxes: Sequence[MailboxRef], limit: int = 20) -> list[DeskSession]:
    """The desk phones the viewer's extensions were signed in on (newest first): only their own."""
    if not 1 <= limit <= 200:
        raise InvalidInput("limit 1..200")
    return store.history(tuple(mailboxes), limit)
