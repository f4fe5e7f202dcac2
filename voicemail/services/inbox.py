"""The inbox as a viewer may see it: who may list what, and the caller disclosure rule of the web.

* The mailbox owner sees who called them, outside callers included (the rule that hides external
  callers is about e-mail, which leaves the agency): the number / name as the caller's phone network
  sent it (caller-controlled text: the web layer escapes it) - or nothing for an anonymous caller.
* An administrator sees the same metadata of every mailbox except the identity of external callers
  (name and number None, kind still "external" / "anonymous"): an administrator has no need to know
  who called a colleague from outside. ``admin_sees_external=True`` turns that off.
* Anyone else: NotFound, whether or not the mailbox exists.
"""

from __future__ import annotations

from typing import Literal

from voicemail.domain.errors import InvalidInput, NotFound
from voicemail.domain.mailbox import InboxItem, InboxQuery, InboxRow, Viewer
from voicemail.domain.models import NEW_FOLDERS, MailboxRef
from voicemail.spool.envelope import parse_callerid

MAX_LIMIT = 200
MAX_CALLER_TEXT = 64


def check_query(query: InboxQuery) -> None:
    if query.offset < 0:
        raise InvalidInput("offset must be 0 or more")
    if not 1 <= query.limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be 1..{MAX_LIMIT}")
    if query.folder not in (None, "INBOX", "Old"):
        raise InvalidInput("folder must be INBOX or Old")
    if query.sort not in ("newest", "oldest", "longest", "shortest"):
        raise InvalidInput("sort must be newest, oldest, longest or shortest")
    if query.caller_kind not in (None, "internal", "external", "anonymous"):
        raise InvalidInput("caller kind must be internal, external or anonymous")
    if len(query.caller_text) > MAX_CALLER_TEXT:
        raise InvalidInput(f"the caller to search for must be at most {MAX_CALLER_TEXT} characters")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in query.caller_text):
        raise InvalidInput("the caller to search for must be plain text")
    if (query.received_from is not None and query.received_before is not None
            and query.received_from >= query.received_before):
        raise InvalidInput("the 'from' date must not be after the 'to' date")


def search_scope(viewer: Viewer, mailbox: MailboxRef, *, admin_sees_external: bool) -> Literal["all", "internal"]:
    """Whose identities a caller search may match: an outside caller's only for who may see them."""
    return "all" if viewer.owns(mailbox) or admin_sees_external else "internal"


def may_list(viewer: Viewer, mailbox: MailboxRef) -> bool:
    return viewer.owns(mailbox) or viewer.is_administrator


def require_listing(viewer: Viewer, mailbox: MailboxRef) -> None:
    if not may_list(viewer, mailbox):
        raise NotFound(f"no mailbox {mailbox}")


def to_item(row: InboxRow, viewer: Viewer, *, admin_sees_external: bool = False) -> InboxItem:
    internal = row.caller_kind == "internal"
    kind = "internal" if internal else ("anonymous" if row.caller_withheld else "external")
    name: str | None
    number: str | None
    if internal:
        name, number = row.caller_name, row.caller_number
    elif viewer.owns(row.mailbox) or admin_sees_external:
        name, number = parse_callerid(row.callerid_raw)
    else:
        name, number = None, None
    return InboxItem(id=row.id, mailbox=row.mailbox, folder="INBOX" if row.folder in NEW_FOLDERS else "Old",
                     received_at=row.origtime, duration=row.duration, urgent=row.urgent, caller_kind=kind,
                     caller_name=name, caller_number=number, formats=row.formats, playable=row.sealed,
                     forwarded=row.forwarded)
