"""How many new (unheard) messages the signed-in person has, and when the newest arrived: for the page
title, the navigation and the open inbox's check for new messages."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from fastapi import Request

from voicemail.domain.errors import VoicemailError
from voicemail.domain.mailbox import InboxQuery
from voicemail.web import authz
from voicemail.web.sessions import web_deps

log = logging.getLogger(__name__)
NEWEST_NEW = InboxQuery(folder="INBOX", sort="newest", limit=1)


@dataclass(frozen=True)
class NewMessages:
    count: int
    newest: int | None  # epoch seconds the newest new message arrived; None: there is none


def new_messages(request: Request) -> NewMessages | None:
    """New messages in the mailboxes the viewer owns; None when they own none or they cannot be counted
    (the page is shown without the count rather than not at all)."""
    viewer = authz.viewer(request)
    if not viewer.mailboxes:
        return None
    service = web_deps(request).mailbox
    count, newest = 0, None
    try:
        for ref in viewer.mailboxes:
            page = service.inbox(viewer, ref, NEWEST_NEW)
            count += page.total
            if page.items:
                newest = max(newest or 0, page.items[0].received_at)
    except VoicemailError as exc:
        log.warning("could not count new messages: %s", type(exc).__name__)
        return None
    return NewMessages(count, newest)


def unread_count(request: Request) -> int | None:
    found = new_messages(request)
    return found.count if found is not None else None
