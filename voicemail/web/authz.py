"""Who may do what, as the web layer enforces it before asking the mailbox service (which checks again).

owner: their own mailboxes only (metadata, audio, actions) · administrator: metadata of every mailbox,
never audio nor actions · anyone else: nothing. Every refusal is NotFound (-> 404), so that a denied
request cannot tell whether the mailbox or message exists, and every refusal of a signed-in person is
audited (who, what, from where, outcome "denied") before the answer goes out.
"""

from __future__ import annotations

import re

from fastapi import Request

from voicemail.audit.chain import AuditEvent
from voicemail.domain.errors import InvalidInput, NotFound
from voicemail.domain.mailbox import Viewer
from voicemail.domain.models import MailboxRef
from voicemail.web.sessions import Authed, client_address, require, web_deps

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")


def message_id(raw: str) -> str:
    """A message id is a canonical UUID; anything else (``../``, ``%2e%2e``, numbers) is refused."""
    value = (raw or "").lower()
    if not _UUID.match(value):
        raise InvalidInput("invalid message id")
    return value


def call_id(raw: str) -> str:
    """A play-on-phone call id (``secrets.token_urlsafe(12)``: 16 URL-safe characters)."""
    value = raw or ""
    if not 8 <= len(value) <= 32 or not value.replace("-", "").replace("_", "").isalnum() or not value.isascii():
        raise InvalidInput("invalid call id")
    return value


def mailbox_ref(context: str, mailbox: str, site: str = "") -> MailboxRef:
    """``site``: as WebSettings.site_of_request gives it ("" = the default site)."""
    return MailboxRef(context=context, mailbox=mailbox, site=site)  # validates the names (InvalidMailbox)


def viewer_of(authed: Authed, source: str) -> Viewer:
    account = authed.account
    owned = account.mailboxes if "owner" in account.roles else ()
    return Viewer(account=account.username, roles=account.roles, mailboxes=owned, source=source,
                  numbers=account.numbers)


def viewer(request: Request) -> Viewer:
    return viewer_of(require(request), client_address(request))


def may_list(v: Viewer, mailbox: MailboxRef) -> bool:
    return v.owns(mailbox) or v.is_administrator


def refuse(request: Request, v: Viewer, action: str, reason: str, *, message_id: str | None = None,
           **details: object) -> NotFound:
    """Audit a refusal (outcome "denied") and return the NotFound to raise."""
    web_deps(request).audit.append(AuditEvent(actor=v.account, action=action, outcome="denied", source=v.source,
                                              reason=reason, message_id=message_id, details=details))
    return NotFound("not found")


def require_listing(request: Request, v: Viewer, mailbox: MailboxRef) -> None:
    if not may_list(v, mailbox):
        raise refuse(request, v, "mailbox.list", "not the owner of this mailbox",
                     mailbox=mailbox.qualified)


def owner_viewer(request: Request, action: str, message_id: str | None, **details: object) -> Viewer:
    """For audio and actions: only an owner gets past (the service then checks it is their message).
    ``message_id`` is the canonical id already checked by ``message_id()`` (None for other things)."""
    v = viewer(request)
    if "owner" not in v.roles or not v.mailboxes:
        raise refuse(request, v, action, "not a mailbox owner", message_id=message_id, **details)
    return v


def require_administrator(request: Request, action: str) -> Viewer:
    v = viewer(request)
    if not v.is_administrator:
        raise refuse(request, v, action, "not an administrator")
    return v
