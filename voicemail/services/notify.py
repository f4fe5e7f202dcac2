"""Notification: compose the ViewMail e-mail for one sealed message and hand it to the mailer.

The notification row moves pending -> sending -> sent | failed in the database, so a crash shows
which state a notification was in, and a re-delivery sends at most once more.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from mailer.compose import compose
from mailer.facts import NotificationFacts
from mailer.settings import MailSettings
from voicemail.domain.errors import InvalidInput, PermanentError
from voicemail.domain.ports import Directory, Mailer, MessageStore, OwnerPreferences
from voicemail.domain.records import MessageRecord
from voicemail.failpoints import Failpoints

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NotifySettings:
    web_base_url: str
    default_timezone: str = "UTC"


class Notifier:
    def __init__(self, store: MessageStore, mailer: Mailer, mail_settings: MailSettings,
                 settings: NotifySettings, directory: Directory | None = None,
                 failpoints: Failpoints | None = None, preferences: OwnerPreferences | None = None) -> None:
        self._store = store
        self._mailer = mailer
        self._mail = mail_settings
        self._settings = settings
        self._directory = directory
        self._fail = failpoints or Failpoints()
        self._preferences = preferences

    def _recipient(self, record: MessageRecord) -> tuple[str, str, str]:
        """(address, display name, time zone): the owner's own choice on the web settings page first,
        then the directory, else Asterisk's mailbox e-mail."""
        owner = self._store.owner(record.mailbox)
        name = owner.fullname if owner else ""
        chosen_address, chosen_zone = self._preferences.for_mailbox(record.mailbox) if self._preferences else ("", "")
        zone = chosen_zone or (owner.timezone if owner else "") or self._settings.default_timezone
        if chosen_address:
            entry = self._directory.lookup(record.mailbox.mailbox) if self._directory is not None else None
            return chosen_address, (entry.name if entry and entry.name else name), zone
        if self._directory is not None:
            entry = self._directory.lookup(record.mailbox.mailbox)
            if entry is not None and entry.email:
                return entry.email, entry.name or name, zone
        if owner is not None and owner.email:
            return owner.email, name, zone
        raise PermanentError(f"mailbox {record.mailbox} has no e-mail address (directory or voicemail.conf)")

    def send(self, notification_id: str) -> str:
        """Send one notification. Returns "sent" or "already". TransientError propagates for a retry;
        PermanentError marks the notification failed (the caller parks it as a dead letter)."""
        work = self._store.claim_notification(notification_id)
        if work is None:
            return "already"
        record = self._store.get(work.message_id)
        try:
            address, name, zone = self._recipient(record)
            facts = NotificationFacts(
                notification_id=notification_id, recipient=address, recipient_name=name,
                mailbox=str(record.mailbox), caller=record.caller,
                received_at=dt.datetime.fromtimestamp(record.origtime, dt.UTC),
                duration_seconds=max(0, record.duration), urgent=record.urgent,
                player_url=f"{self._settings.web_base_url.rstrip('/')}/messages/{record.id}",
                owner_timezone=zone)
            email = compose(facts, self._mail)
            self._mailer.send(email)
            self._fail.hit("notify.after_send")
        except (PermanentError, InvalidInput) as exc:
            self._store.mark_notification_failed(notification_id, str(exc))
            raise PermanentError(str(exc)) from exc
        self._store.mark_notification_sent(notification_id, address)
        log.info("notification %s sent for message %s", notification_id, record.id)
        return "sent"
