"""Render an OutgoingEmail as the bytes of one RFC 5322 message (multipart/alternative, no attachment).

The Message-ID and the MIME boundary are built only from the opaque notification id, so nothing in the
message's structure can carry caller data (a random boundary could even contain a caller's digits by
chance). Sensitivity is always Private; urgent notifications get ``Importance: High`` and
``X-Priority: 1``.

The message is written here directly, not through ``email.message.EmailMessage``: the email package costs
about 6 ms per notification on the CI machine (twice a whole SMTP send over a kept-open connection), and it
decodes anything that looks like an RFC 2047 encoded word in a header value it is handed, so a caller
named ``=?utf-8?b?RXZl?=`` would reach the reader as "Eve". Here every header value is either plain
printable ASCII folded at spaces, or, when it holds non-ASCII or ``=?``, UTF-8 encoded words as a whole;
bodies are 7bit when they are ASCII with short lines, else quoted-printable. CRLF line ends throughout, so
any relay carries the message unchanged.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, datetime
from email.headerregistry import Address
from email.utils import format_datetime, formataddr
from functools import lru_cache

from mailer.compose import ID_HEADER
from mailer.facts import check_notification_id
from mailer.sanitize import is_plain_address
from voicemail.domain.errors import InvalidInput, PermanentError
from voicemail.domain.models import OutgoingEmail

DEFAULT_MESSAGE_ID_DOMAIN = "voicemail.invalid"
_DOMAIN = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z][A-Za-z0-9-]{0,62}")
_HEADER_NAME = re.compile(r"^[A-Za-z0-9-]{1,76}$")
# Headers the renderer owns; an OutgoingEmail may not set or override them.
_RESERVED = frozenset(name.lower() for name in (
    "From", "To", "Cc", "Bcc", "Reply-To", "Sender", "Subject", "Date", "Message-ID", "MIME-Version",
    "Content-Type", "Content-Transfer-Encoding", "Content-Disposition", "Sensitivity", "Importance",
    "X-Priority", "Priority", "Auto-Submitted", "X-Auto-Response-Suppress", "Return-Path", "Received",
))
_LINE = 78  # recommended maximum line length (RFC 5322 section 2.1.1); the hard limit is 998
_MAX_7BIT_LINE = 998
_EW_PREFIX, _EW_SUFFIX = "=?utf-8?b?", "?="
_EW_BYTES = 45  # UTF-8 bytes per encoded word: 60 base64 characters, 72 with the markers
_BOUNDARY_PREFIX = "=_vm_alt_"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


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


def parse_mailbox(value: str, what: str) -> Address:
    """``addr`` or ``Display Name <addr>`` as an Address (the senders' envelope and JSON / SOAP forms)."""
    return _mailbox(value, what)


def address_of(value: str, what: str) -> str:
    """The bare address of ``addr`` or ``Display Name <addr>`` (fast for the usual plain address)."""
    if is_plain_address(value):
        return value
    addr: str = _mailbox(value, what).addr_spec
    return addr


def _encoded_words(value: str) -> list[str]:
    """``value`` as UTF-8 base64 encoded words of at most 72 characters, never splitting a character."""
    words: list[str] = []
    chunk = bytearray()
    for char in value:
        data = char.encode("utf-8", "surrogatepass")
        if len(chunk) + len(data) > _EW_BYTES:
            words.append(_EW_PREFIX + base64.b64encode(bytes(chunk)).decode("ascii") + _EW_SUFFIX)
            chunk.clear()
        chunk += data
    if chunk:
        words.append(_EW_PREFIX + base64.b64encode(bytes(chunk)).decode("ascii") + _EW_SUFFIX)
    return words


def _fold(name: str, words: list[str]) -> str:
    """``Name: word word ...`` folded before a word whenever the line would pass 78 characters."""
    lines: list[str] = []
    line = f"{name}:"
    for word in words:
        if len(line) + 1 + len(word) > _LINE and line != f"{name}:":
            lines.append(line)
            line = ""
        line = f"{line} {word}"
    lines.append(line)
    return "\r\n".join(lines)


def _unstructured(name: str, value: str) -> str:
    """One unstructured header (RFC 5322 section 3.2.5 / RFC 2047) that decodes back to ``value``."""
    if _CONTROL.search(value):
        raise PermanentError(f"header {name} contains control characters")
    if value.isascii() and "=?" not in value and "  " not in value and value == value.strip():
        return _fold(name, value.split(" ") if value else [])
    return _fold(name, _encoded_words(value))


@lru_cache(maxsize=64)
def _address_header(name: str, value: str) -> str:
    """``From`` / ``To``: a plain address as it is; a display name quoted or encoded (cached: the From of a
    site never changes)."""
    if is_plain_address(value):
        return f"{name}: {value}"
    mailbox = _mailbox(value, name.lower())
    display = mailbox.display_name
    if display and (not display.isascii() or "=?" in display):  # formataddr would leave "=?" as it is
        return _fold(name, [*_encoded_words(display), f"<{mailbox.addr_spec}>"])
    return f"{name}: {formataddr((display, mailbox.addr_spec))}"


def _body_part(subtype: str, text: str, boundary: str) -> str:
    """One ``text/<subtype>`` part: 7bit if it can be, else quoted-printable (never a bare CR or LF)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    crlf = "\r\n".join(lines)
    plain = (crlf.isascii() and max(map(len, lines)) <= _MAX_7BIT_LINE
             and boundary not in crlf and "\0" not in crlf)
    if plain:
        encoding, body = "7bit", crlf
    else:
        encoding = "quoted-printable"
        body = binascii.b2a_qp(crlf.encode("utf-8", "surrogatepass"), istext=True).decode("ascii")
    return (f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
            f"Content-Transfer-Encoding: {encoding}\r\n\r\n{body}\r\n")


def render_rfc5322(
    email: OutgoingEmail,
    *,
    message_id_domain: str = DEFAULT_MESSAGE_ID_DOMAIN,
    date: datetime | None = None,
) -> bytes:
    """The message as bytes with CRLF line ends. Raises PermanentError on unsafe input."""
    try:
        check_notification_id(email.notification_id)
    except InvalidInput as exc:
        raise PermanentError(str(exc)) from None
    if not is_valid_domain(message_id_domain):
        raise PermanentError("the Message-ID domain is not a valid domain name")
    when = date if date is not None else datetime.now(UTC)
    if when.tzinfo is None:
        raise PermanentError("the Date of a message must be timezone-aware")
    for what, value in (("sender", email.sender), ("recipient", email.recipient)):
        if any(char in value for char in "\r\n\0"):
            raise PermanentError(f"{what} contains a line break")

    headers = [
        _address_header("From", email.sender),
        _address_header("To", email.recipient),
        _unstructured("Subject", email.subject),
        f"Date: {format_datetime(when.astimezone(UTC))}",
        f"Message-ID: {message_id(email.notification_id, message_id_domain)}",
        "Sensitivity: Private",
    ]
    if email.urgent:
        headers += ["Importance: High", "X-Priority: 1"]
    # An automatic notice: no out-of-office or other automatic replies to it (RFC 3834; Exchange).
    headers += ["Auto-Submitted: auto-generated", "X-Auto-Response-Suppress: All"]

    extra = dict[str, str]()
    for name, value in email.headers:
        if not _HEADER_NAME.match(name) or name.lower() in _RESERVED or name.lower() in extra:
            raise PermanentError(f"header {name[:40]!r} may not be set by a notification")
        extra[name.lower()] = value
        headers.append(_unstructured(name, value))
    if extra.get(ID_HEADER.lower(), email.notification_id) != email.notification_id:
        raise PermanentError(f"{ID_HEADER} differs from the notification id")
    if ID_HEADER.lower() not in extra:
        headers.append(f"{ID_HEADER}: {email.notification_id}")

    boundary = _BOUNDARY_PREFIX + email.notification_id
    headers += ["MIME-Version: 1.0", f'Content-Type: multipart/alternative; boundary="{boundary}"']
    message = (
        "\r\n".join(headers) + "\r\n\r\n"
        f"--{boundary}\r\n" + _body_part("plain", email.text, boundary)
        + f"--{boundary}\r\n" + _body_part("html", email.html, boundary)
        + f"--{boundary}--\r\n"
    )
    return message.encode("ascii")
