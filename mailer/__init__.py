"""Notification mail: the disclosure policy, composition, RFC 5322 rendering and the senders.

Public API:
    NotificationFacts, MailSettings   what composition may use, and the site's wording
    compose(facts, settings)          -> OutgoingEmail (safe to put on the wire)
    render_rfc5322(email, ...)        -> bytes of one .eml
    OutboxMailer(directory)           the embedded sender: one ``<notification_id>.eml`` per notification
    build_mailer(kind, **settings)    the sender registry (VOICEMAIL_MAILER)
"""

from __future__ import annotations

from mailer.compose import compose
from mailer.facts import NotificationFacts
from mailer.outbox import OutboxMailer
from mailer.registry import MAILER_KINDS, build_mailer
from mailer.rfc5322 import render_rfc5322
from mailer.settings import MailSettings

__all__ = [
    "MAILER_KINDS",
    "MailSettings",
    "NotificationFacts",
    "OutboxMailer",
    "build_mailer",
    "compose",
    "render_rfc5322",
]
