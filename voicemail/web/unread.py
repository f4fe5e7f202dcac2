"""How many new (unheard) messages the signed-in person has, for the page title and the navigation."""

from __future__ import annotations

import logging

from fastapi import Request

from voicemail.domain.errors import VoicemailError
from voicemail.domain.mailbox import InboxQuery
from voicemail.web import authz
from voicemail.web.sessions import web_deps

log = logging.getLogger(__name__)
NEW_ONLY = InboxQuery(folder="INBOX", limit=1)


def unread_count(request: Request) -> int | None:
    """New messages in the mailboxes the viewer owns; None when they own none or it cannot be counted
    (the page is shown without the count rather than not at all)."""
    viewer = authz.viewer(request)
    if not viewer.mailboxes:
        return None
    service = web_deps(request).mailbox
    try:
        return sum(service.inbox(viewer, ref, NEW_ONLY).total for ref in viewer.mailboxes)
    except VoicemailError as exc:
        log.warning("could not count new messages: %s", type(exc).__name__)
        return None
