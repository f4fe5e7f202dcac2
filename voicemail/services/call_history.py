"""The signed-in user's own calls (placed / received / missed) from the stored CDRs (AMI ``Cdr`` events).

Matched on the viewer's numbers: a CDR whose Source is theirs is a call they placed; one whose
Destination is theirs is received when the Disposition is ANSWERED, else missed. Newest first (by
Asterisk's StartTime, PBX local time).
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

CallQuery = Callable[[Sequence[str], int, int], tuple[list[dict[str, Any]], int]]


def _name_of(caller_id: str) -> str:
    match = _ANGLE.match(caller_id or "")
    return match.group("name").strip() if match else ""


def to_record(row: dict[str, Any], numbers: frozenset[str]) -> CallRecord:
    placed = row["source"] in numbers
    answered = (row["disposition"] or "").upper() == "ANSWERED"
    direction: Literal["placed", "received", "missed"] = (
        "placed" if placed else ("received" if answered else "missed"))
    other = row["destination"] if placed else row["source"]
    other_name = "" if placed else _name_of(row["caller_id"])
    return CallRecord(at=row["start_time"], direction=direction, other_party=other or "", other_name=other_name,
                      duration=int(row["duration"] or 0), billable_seconds=int(row["billable_seconds"] or 0),
                      disposition=row["disposition"] or "")


def call_history(query: CallQuery, numbers: Sequence[str], offset: int, limit: int) -> CallHistoryPage:
    if offset < 0 or not 1 <= limit <= 200:
        raise InvalidInput("offset must be >= 0 and limit 1..200")
    mine = frozenset(n for n in numbers if n)
    rows, total = query(sorted(mine), offset, limit)
    return CallHistoryPage(tuple(to_record(r, mine) for r in rows), total, offset, limit)


class DeskSignIns(Protocol):
    """Extension-mobility sign-ins (``voicemail.phone.hotdesk_store.SqlHotdeskStore``)."""

    def history(self, refs: tuple[MailboxRef, ...], limit: int = 50) -> list[DeskSession]: ...


def desk_history(store: DeskSignIns, mailboxes: Sequence[MailboxRef], limit: int = 20) -> list[DeskSession]:
    """The desk phones the viewer's extensions were signed in on (newest first): only their own."""
    if not 1 <= limit <= 200:
        raise InvalidInput("limit 1..200")
    return store.history(tuple(mailboxes), limit)
