"""The inbox rules without a database: which queries are accepted (and the message of each refusal),
who may list a mailbox, and what each viewer sees of a caller (the web's disclosure rule)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from voicemail.domain.errors import InvalidInput, NotFound
from voicemail.domain.mailbox import InboxQuery, InboxRow, Viewer
from voicemail.domain.models import MailboxRef
from voicemail.services.inbox import MAX_LIMIT, check_query, may_list, require_listing, to_item

BOX = MailboxRef("default", "1001")
OTHER = MailboxRef("default", "1002")
OWNER = Viewer("alice", frozenset({"owner"}), (BOX,))
ADMIN = Viewer("root", frozenset({"administrator"}), ())
STRANGER = Viewer("bob", frozenset({"owner"}), (OTHER,))

ROW = InboxRow(id="0b9f6a1e-0000-4000-8000-000000000001", mailbox=BOX, msg_id="1795000000-00000001",
               state="stripped", folder="INBOX", number=0, origtime=1795000000, duration=42, urgent=True,
               caller_kind="external", caller_withheld=False, caller_name=None, caller_number=None,
               callerid_raw='"Mallory" <+12025550123>', formats=("wav",), sealed=True)


@pytest.mark.parametrize("query", [
    InboxQuery(), InboxQuery(offset=0, limit=1), InboxQuery(limit=MAX_LIMIT), InboxQuery(folder="INBOX"),
    InboxQuery(folder="Old"), *(InboxQuery(sort=s) for s in ("newest", "oldest", "longest", "shortest")),
    *(InboxQuery(caller_kind=k) for k in ("internal", "external", "anonymous")),
])
def test_well_formed_inbox_queries_are_accepted(query: InboxQuery) -> None:
    check_query(query)


@pytest.mark.parametrize(("changes", "message"), [
    ({"offset": -1}, "offset must be 0 or more"),
    ({"limit": 0}, f"limit must be 1..{MAX_LIMIT}"),
    ({"limit": MAX_LIMIT + 1}, f"limit must be 1..{MAX_LIMIT}"),
    ({"folder": "Urgent"}, "folder must be INBOX or Old"),
    ({"sort": "loudest"}, "sort must be newest, oldest, longest or shortest"),
    ({"caller_kind": "vip"}, "caller kind must be internal, external or anonymous"),
])
def test_malformed_inbox_query_is_refused_with_its_reason(changes: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_query(replace(InboxQuery(), **changes))  # type: ignore[arg-type]
    assert str(refused.value) == message


def test_owner_and_administrator_may_list_and_anyone_else_gets_not_found() -> None:
    assert may_list(OWNER, BOX) and may_list(ADMIN, BOX) and may_list(ADMIN, OTHER)
    assert not may_list(STRANGER, BOX) and not may_list(OWNER, OTHER)
    require_listing(OWNER, BOX)
    require_listing(ADMIN, OTHER)
    with pytest.raises(NotFound, match="no mailbox 1001@default"):
        require_listing(STRANGER, BOX)


def test_owner_sees_an_outside_caller_and_the_administrator_does_not() -> None:
    mine = to_item(ROW, OWNER)
    assert (mine.caller_kind, mine.caller_name, mine.caller_number) == ("external", "Mallory", "+12025550123")
    theirs = to_item(ROW, ADMIN)
    assert (theirs.caller_kind, theirs.caller_name, theirs.caller_number) == ("external", None, None)
    assert to_item(ROW, STRANGER).caller_number is None
    shown = to_item(ROW, ADMIN, admin_sees_external=True)
    assert (shown.caller_name, shown.caller_number) == ("Mallory", "+12025550123")


def test_an_internal_caller_is_named_to_every_viewer_from_the_directory_fields() -> None:
    row = replace(ROW, caller_kind="internal", caller_name="Bob Internal", caller_number="1002",
                  callerid_raw='"Someone Else" <9999>')
    for viewer in (OWNER, ADMIN):
        item = to_item(row, viewer)
        assert (item.caller_kind, item.caller_name, item.caller_number) == ("internal", "Bob Internal", "1002")


def test_a_withheld_caller_is_anonymous() -> None:
    item = to_item(replace(ROW, caller_withheld=True, callerid_raw="Unknown"), OWNER)
    assert (item.caller_kind, item.caller_name, item.caller_number) == ("anonymous", None, None)


@pytest.mark.parametrize(("folder", "shown"), [("INBOX", "INBOX"), ("Urgent", "INBOX"), ("Old", "Old"),
                                               ("Work", "Old")])
def test_an_item_carries_the_row_and_shows_new_folders_as_inbox(folder: str, shown: str) -> None:
    item = to_item(replace(ROW, folder=folder), OWNER)
    assert (item.id, item.mailbox, item.folder, item.received_at, item.duration, item.urgent) == \
        (ROW.id, BOX, shown, 1795000000, 42, True)
    assert (item.formats, item.playable) == (("wav",), True)
    assert to_item(replace(ROW, sealed=False), OWNER).playable is False
