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

Sites: a CDR belongs to the Asterisk that reported it, and extension 1001 on two sites is two phones. A
user's number counts on the site of their mailbox of that number (1001@default@branch: the branch's
1001); a number none of their mailboxes bears (a DID, say) on the sites of all their mailboxes; without
mailboxes on the default site (whose directory the numbers come from).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, Protocol

from voicemail.domain.errors import InvalidInput
from voicemail.domain.mailbox import CallHistoryPage, CallRecord, CallScope
from voicemail.domain.models import MailboxRef
from voicemail.phone.hotdesk_store import DeskSession

_ANGLE = re.compile(r'^\s*"?(?P<name>[^"<]*)"?\s*<(?P<number>[^<>]*)>\s*$')

# (scopes, offset, limit) -> (rows with site, start_time, source, destination, caller_id, channel, ...; total)
CallQuery = Callable[[Sequence[CallScope], int, int], tuple[list[dict[str, Any]], int]]


def device_of(channel: str) -> str:
    """``PJSIP/1001-0000002a`` -> ``PJSIP/1001`` (Asterisk appends ``-<sequence>`` to a device's name)."""
    return channel.rsplit("-", 1)[0] if "-" in channel else channel


def devices_for(numbers: Sequence[str], template: str) -> list[str]:
    """The device channel names of a user's numbers (none when the template is empty)."""
    if not template:
        return []
    return sorted({template.format(number=n) for n in numbers if n})


def scopes_for(numbers: Sequence[str], mailboxes: Sequence[MailboxRef], device_template: str,
               default_site: str) -> tuple[CallScope, ...]:
    """The user's numbers and devices grouped by the site where they are theirs (see the module text)."""
    owned = {box.site or default_site for box in mailboxes} or {default_site}
    by_site: dict[str, set[str]] = {}
    for number in {n for n in numbers if n}:
        sites = {box.site or default_site for box in mailboxes if box.mailbox == number} or owned
        for site in sites:
            by_site.setdefault(site, set()).add(number)
    return tuple(CallScope(site, tuple(sorted(mine)), tuple(devices_for(sorted(mine), device_template)))
                 for site, mine in sorted(by_site.items()))


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


def to_record(row: dict[str, Any], devices: Mapping[str, frozenset[str]]) -> CallRecord:
    """``devices``: the user's devices by site (a call is placed from one of them on the CDR's own site)."""
    site = row.get("site") or ""
    placed = device_of(row.get("channel") or "") in devices.get(site, frozenset())
    answered = (row["disposition"] or "").upper() == "ANSWERED"
    direction: Literal["placed", "received", "missed"] = (
        "placed" if placed else ("received" if answered else "missed"))
    other = readable_party(row["destination"] if placed else row["source"], row.get("last_application") or "")
    other_name = "" if placed else _name_of(row["caller_id"])
    return CallRecord(at=row["start_time"], direction=direction, other_party=other or "", other_name=other_name,
                      duration=int(row["duration"] or 0), billable_seconds=int(row["billable_seconds"] or 0),
                      disposition=row["disposition"] or "", site=site)


def call_history(query: CallQuery, scopes: Sequence[CallScope], offset: int, limit: int) -> CallHistoryPage:
    if offset < 0 or not 1 <= limit <= 200:
        raise InvalidInput("offset must be >= 0 and limit 1..200")
    mine = [scope for scope in scopes if scope.numbers or scope.devices]
    rows, total = query(mine, offset, limit) if mine else ([], 0)
    devices: dict[str, frozenset[str]] = {}
    for scope in mine:
        devices[scope.site] = devices.get(scope.site, frozenset()) | frozenset(scope.devices)
    return CallHistoryPage(tuple(to_record(r, devices) for r in rows), total, offset, limit)


class DeskSignIns(Protocol):
    """Extension-mobility sign-ins (``voicemail.phone.hotdesk_store.SqlHotdeskStore``)."""

    def history(self, refs: tuple[MailboxRef, ...], limit: int = 50) -> list[DeskSession]: ...


def desk_history(store: DeskSignIns, mailboxes: Sequence[MailboxRef], limit: int = 20) -> list[DeskSession]:
    """The desk phones the viewer's extensions were signed in on (newest first): only their own."""
    if not 1 <= limit <= 200:
        raise InvalidInput("limit 1..200")
    return store.history(tuple(mailboxes), limit)
