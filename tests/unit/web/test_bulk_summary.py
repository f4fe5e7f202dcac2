"""What the inbox says after changing several messages."""

from __future__ import annotations

from voicemail.web.routes_bulk import bulk_notice


def test_counts_are_said_in_words() -> None:
    assert bulk_notice("read.3.0") == "3 messages marked as read."
    assert bulk_notice("unread.1.0") == "1 message marked as unread."
    assert bulk_notice("delete.2.1") == "2 messages deleted; 1 could not be changed."
    assert bulk_notice("none") == "Select at least one message first."


def test_anything_else_says_nothing() -> None:
    for code in ("", None, "drop.1.0", "read.x.0", "read.1", "read.1.0.0", "<script>.1.0"):
        assert bulk_notice(code) == ""
