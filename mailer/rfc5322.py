"""Render an OutgoingEmail as the bytes of one RFC 5322 message (multipart/alternative, no attachment).

The Message-ID and the MIME boundary are built only from the opaque notification id, so nothing in the
message's structure can carry caller data (a random boundary could even contain a caller's digits by
chance). Sensitivity is always Private; urgent notifications get ``Importance: High`` and
``X-Priority: 1``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from mailer.compose import ID_HEADER
from mailer.facts import check_notification_id
from mailer.sanitize import is_plain_address
from voicemail.domain.errors import InvalidInput, PermanentError
from voicemail.domain.models import OutgoingEmail

DEFAULT_MESSAGE_ID_DOMAIN = "voicemail.invalid"
# CRLF line ends (policy SMTP) and 7-bit clean bodies, so any relay can carry the message unchanged.
WIRE_POLICY = SMTP.clone(cte_type="7bit")
_DOMAIN = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z][A-Za-z0-9-]{0,62}")
_HEADER_NAME = re.compile(r"^[A-Za-z0-9-]{1,76}$")
# Headers the renderer owns; an OutgoingEmail may not set or override them.
_RESERVED = frozenset(name.lower() for name in (
    "From", "To", "Cc", "Bcc", "Reply-To", "Sender", "Subject", "Date", "Message-ID", "MIME-Version",
    "Content-Type", "Content-Transfer-Encoding", "Content-Disposition", "Sensitivity", "Importance",
    "X-Priority", "Priority", "Auto-Submitted", "X-Auto-Response-Suppress", "Return-Path", "Received",
))


def is_valid_domain(value: str) -> bool:
    return isinstance(value, str) and len(value) <= 253 and _DOMAIN.fullmatch(value) is not None


def message_id(notification_id: str, domain: str = DEFAULT_MESSAGE_ID_DOMAIN) -> str:
    """``<notification_id@domain>``: nothing else goes into it."""
    return f"<{check_notification_id(notification_id)}@{domain}>"


def _mailbox(value: str, what: str) -> Address:
    """Parse ``addr`` or ``Display Name <addr>``; refuse anything with line breaks or a bad address."""
    if any(char in value for char in "\r\n\0"):
        raise PermanentError(f"{what} contains a line break")
    if is_plain_address(value):
        return Address(addr_spec=value)
    name, sep, rest = value.rpartition(" <")
    addr = rest[:-1] if sep and rest.endswith(">") else ""
    if not is_plain_address(addr):
        raise PermanentError(f"{what} is not a valid e-mail address")
    name = name.strip()
    if len(name) >= 2 and name[0] == name[-1] == '"':
        name = name[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return Address(display_name=name, addr_spec=addr)


def _check_value(name: str, value: str) -> str:
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in value):
        raise PermanentError(f"header {name} contains control characters")
    return value


def render_rfc5322(
    email: OutgoingEmail,
    *,
    message_id_domain: str = DEFAULT_MESSAGE_ID_DOMAIN,
    date: datetime | None = None,
) -> bytes:
    """The message as bytes with CRLF line ends (policy SMTP). Raises PermanentError on unsafe input."""
    try:
        check_notification_id(email.notification_id)
    except InvalidInput as exc:
        raise PermanentError(str(exc)) from None
    if not is_valid_domain(message_id_domain):
        raise PermanentError("the Message-ID domain is not a valid domain name")
    when = date if date is not None else datetime.now(UTC)
    if when.tzinfo is None:
        raise PermanentError("the Date of a message must be timezone-aware")

    msg = EmailMessage(policy=WIRE_POLICY)
    msg["From"] = _mailbox(email.sender, "sender")
    msg["To"] = _mailbox(email.recipient, "recipient")
    msg["Subject"] = _check_value("Subject", email.subject)
    msg["Date"] = format_datetime(when.astimezone(UTC))
    msg["Message-ID"] = message_id(email.notification_id, message_id_domain)
    msg["Sensitivity"] = "Private"
    if email.urgent:
        msg["Importance"] = "High"
        msg["X-Priority"] = "1"
    # An automatic notice: no out-of-office or other automatic replies to it (RFC 3834; Exchange).
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"

    extra = dict[str, str]()
    for name, value in email.headers:
        if not _HEADER_NAME.match(name) or name.lower() in _RESERVED or name.lower() in extra:
            raise PermanentError(f"header {name[:40]!r} may not be set by a notification")
        extra[name.lower()] = value
        msg[name] = _check_value(name, value)
    if extra.get(ID_HEADER.lower(), email.notification_id) != email.notification_id:
        raise PermanentError(f"{ID_HEADER} differs from the notification id")
    if ID_HEADER.lower() not in extra:
        msg[ID_HEADER] = email.notification_id

    msg.set_content(email.text, subtype="plain", charset="utf-8")
    msg.add_alternative(email.html, subtype="html", charset="utf-8")
    msg.set_boundary(f"=_vm_alt_{email.notification_id}")
    for part in msg.iter_parts():
        del part["MIME-Version"]  # belongs on the message only
    try:
        return msg.as_bytes(policy=WIRE_POLICY)
    except (ValueError, TypeError) as exc:  # e.g. a header the email package refuses to fold
        raise PermanentError(f"the notification cannot be rendered: {type(exc).__name__}") from None
