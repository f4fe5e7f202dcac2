"""Compose one notification from its facts, applying the disclosure policy.

The policy (DESIGN.md, "What a notification may show"):
- internal caller: the subject and body name the caller (directory name and number);
- external caller: nothing about the caller anywhere. This module never reads ``caller.name`` or
  ``caller.number`` of an EXTERNAL caller, even when they are filled in.
Everything a caller controls is made one safe line (``mailer.sanitize``) and HTML-escaped in the HTML.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from functools import cache, lru_cache
from importlib import resources
from string import Template
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mailer.facts import NotificationFacts
from mailer.sanitize import one_line, phone_number
from mailer.settings import MAX_SUBJECT, MailSettings
from voicemail.domain.models import CallerKind, OutgoingEmail

CALLER_NAME_LIMIT = 64  # characters of a caller's name that reach the subject and body
CALLER_NUMBER_LIMIT = 32
OWNER_NAME_LIMIT = 64
FORWARDER_LIMIT = 100
COMMENT_LIMIT = 500  # characters of a forwarding comment that reach the e-mail
SITE_LIMIT = 64  # a site name (several sites: the mailbox's site is named after the mailbox)
FORWARD_SUBJECT_PREFIX = "Fwd: "
EXTERNAL_CALLER_LABEL = "An outside caller"  # fixed text: never derived from caller data
ID_HEADER = "X-Voicemail-Id"

_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")


@dataclass(frozen=True)
class _Shown:
    """What the notification says about the caller, already one safe line each."""

    internal: bool
    name: str = ""
    number: str = ""

    @property
    def label(self) -> str:
        if not self.internal:
            return EXTERNAL_CALLER_LABEL
        return f"{self.name} ({self.number})" if self.number and self.number != self.name else self.name


def _shown_caller(facts: NotificationFacts) -> _Shown:
    caller = facts.caller
    if caller.kind is not CallerKind.INTERNAL:
        return _Shown(internal=False)  # never look at name/number of anyone not internal
    number = phone_number(caller.number, CALLER_NUMBER_LIMIT)
    name = one_line(caller.name, CALLER_NAME_LIMIT) or number
    if not name:  # an "internal" caller we cannot name is shown like an outside caller
        return _Shown(internal=False)
    return _Shown(internal=True, name=name, number=number)


def _owner_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder name such as "America"
        return ZoneInfo("UTC")  # the rendered time names its zone, so this is never misleading


def format_received(moment: datetime, zone_name: str) -> str:
    """E.g. ``Sunday, 29 November 2026, 19:55 CET (Europe/Berlin)``; English, locale-independent."""
    zone = _owner_zone(zone_name)
    local = moment.astimezone(zone)
    abbreviation = local.tzname() or ""
    where = f" ({zone.key})" if zone.key not in ("UTC", abbreviation) else ""
    return (f"{_DAYS[local.weekday()]}, {local.day} {_MONTHS[local.month - 1]} {local.year}, "
            f"{local:%H:%M} {abbreviation}{where}").rstrip()


def format_duration(seconds: int) -> str:
    """``0:03``, ``2:05``, ``1:02:03`` (like Asterisk's own mail)."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def new_messages_line(count: int) -> str:
    """``You have 1 new message.`` / ``You have 3 new messages.`` (this one included, never below one)."""
    count = max(1, count)
    return f"You have {count} new message{'' if count == 1 else 's'}."


def callback_uri(shown: _Shown) -> str:
    """``tel:`` link to an internal caller's number; empty for anyone else (an outside caller's number never
    reaches an e-mail). The number is already reduced to digits, ``+``, ``*`` and ``#``."""
    if not shown.internal or not shown.number:
        return ""
    return "tel:" + shown.number.replace("#", "%23")


def _subject(shown: _Shown, facts: NotificationFacts, settings: MailSettings) -> str:
    if shown.internal:
        # The template is checked to hold only {name} and {number}; the values are safe single lines.
        core = settings.internal_subject_template.format(name=shown.name, number=shown.number)
    else:
        core = settings.external_subject
    prefix = settings.urgent_subject_prefix if facts.urgent else ""
    return one_line(prefix + core, MAX_SUBJECT)


def comment_lines(comment: str) -> list[str]:
    """A forwarding comment as safe single lines (at most COMMENT_LIMIT characters in all)."""
    lines = (one_line(line, COMMENT_LIMIT) for line in comment[:COMMENT_LIMIT].splitlines())
    return [line for line in lines if line]


def _forward_parts(facts: NotificationFacts) -> tuple[str, str]:
    """(text, HTML) of the "forwarded by" paragraph; both empty for a message that was not forwarded."""
    who = one_line(facts.forwarded_by, FORWARDER_LIMIT)
    if not who:
        return "", ""
    lines = comment_lines(facts.forward_comment)
    text = f"Forwarded to you by {who} (internal).\n"
    markup = f"<p>Forwarded to you by <strong>{html.escape(who, quote=True)}</strong> (internal).</p>\n"
    if lines:
        text += "Their comment:\n" + "".join(f"  | {line}\n" for line in lines)
        markup += ('<p>Their comment:</p>\n<blockquote style="margin: 0 0 0 8px; padding-left: 8px; '
                   'border-left: 3px solid #999999;">'
                   + "<br>\n".join(html.escape(line, quote=True) for line in lines) + "</blockquote>\n")
    return text + "\n", markup


@lru_cache(maxsize=64)
def _from_address(site: str, sender: str) -> str:
    """``Site Name <sender>`` (quoted as needed); the same for every notification of a site."""
    return str(Address(display_name=site, addr_spec=sender)) if site else sender


@cache
def _template(name: str) -> tuple[tuple[str, bool], ...]:
    """A template (``string.Template`` syntax) parsed once into (literal, False) / (field, True) pieces."""
    source = resources.files("mailer").joinpath("templates", name).read_text(encoding="utf-8")
    pieces: list[tuple[str, bool]] = []
    position = 0
    for match in Template.pattern.finditer(source):
        pieces.append((source[position:match.start()], False))
        field = match.group("named") or match.group("braced")
        if match.group("escaped") is not None:
            pieces.append(("$", False))
        elif field:
            pieces.append((field, True))
        else:
            raise ValueError(f"template {name} has an invalid placeholder at offset {match.start()}")
        position = match.end()
    pieces.append((source[position:], False))
    return tuple(pieces)


def _fill(name: str, values: dict[str, str]) -> str:
    return "".join(values[piece] if field else piece for piece, field in _template(name))


def compose(facts: NotificationFacts, settings: MailSettings) -> OutgoingEmail:
    """Build the backend-neutral notification. Every field of the result is safe to put on the wire."""
    shown = _shown_caller(facts)
    subject = _subject(shown, facts, settings)
    forward_text, forward_html = _forward_parts(facts)
    if forward_text:
        subject = one_line(FORWARD_SUBJECT_PREFIX + subject, MAX_SUBJECT)
    owner = one_line(facts.recipient_name, OWNER_NAME_LIMIT)
    site = one_line(settings.site_name, MAX_SUBJECT)
    callback = callback_uri(shown)
    phone_text = "From the web player you can also have it played on your phone.\n" if facts.play_on_phone else ""
    values = {
        "greeting": f"Hello {owner}," if owner else "Hello,",
        "new_messages": new_messages_line(facts.new_count),
        "urgent_word": "urgent " if facts.urgent else "",
        "mailbox": one_line(facts.mailbox, 80),
        "on_site": f" on site {one_line(facts.site, SITE_LIMIT)}" if one_line(facts.site, SITE_LIMIT) else "",
        "caller": shown.label,
        "received": format_received(facts.received_at, facts.owner_timezone),
        "duration": format_duration(facts.duration_seconds),
        "player_url": facts.player_url,
        "site_name": site,
    }
    text = _fill("notification.txt", {
        **values,
        "priority_line": "  Priority:  Urgent\n" if facts.urgent else "",
        "phone_line": phone_text,
        "callback_line": f"Call back: {callback}\n\n" if callback else "",
        "forward_block": forward_text,
    })
    escaped = {key: html.escape(value, quote=True) for key, value in values.items()}
    markup = _fill("notification.html", {
        **escaped,
        "priority_row": ('<tr><th align="left" scope="row">Priority</th><td>Urgent</td></tr>'
                         if facts.urgent else ""),
        "phone_line": "<p>From the web player you can also have it played on your phone.</p>\n"
                      if facts.play_on_phone else "",
        "callback_line": (f'<p><a href="{html.escape(callback, quote=True)}">Call back</a></p>\n'
                          if callback else ""),
        "forward_block": forward_html,
    })
    sender = _from_address(site, settings.sender)
    return OutgoingEmail(
        notification_id=facts.notification_id,
        recipient=facts.recipient,
        sender=sender,
        subject=subject,
        text=text,
        html=markup,
        urgent=facts.urgent,
        headers=((ID_HEADER, facts.notification_id),),
    )
